"""What a multi-rank training shows: rank 0's text as it comes, without the launcher's chatter."""

from __future__ import annotations

import io

from simdr_lib.engine.rank_launch import LaunchOutput


def _feed(*chunks: str) -> tuple[str, LaunchOutput]:
    buf = io.StringIO()
    out = LaunchOutput(buf)
    for chunk in chunks:
        out.feed(chunk)
    out.close()
    return buf.getvalue(), out


def test_launcher_lines_and_flags_banner_are_left_out() -> None:
    shown, out = _feed(
        "LAUNCH INFO 2026-12-04 18:00:48,569 nproc_per_node: 2\n",
        "======================= Modified FLAGS detected =======================\n",
        "FLAGS(name='FLAGS_enable_pir_in_executor', current_value=True)\n",
        "=======================================================================\n",
        "training on cpu: 2 core(s), 2 rank(s) x 1 intra-op thread(s)\n",
        "LAUNCH INFO 2026-12-04 18:00:49,000 Watching Pod: x, replicas 2, status running\n",
    )
    assert shown == "training on cpu: 2 core(s), 2 rank(s) x 1 intra-op thread(s)\n"
    assert out.error == ""


def test_a_line_split_across_chunks_is_filtered_whole() -> None:
    shown, _ = _feed("LAUNCH IN", "FO start\nepoch 1/2  loss 0.0", "3  (1.0s)\n")
    assert shown == "epoch 1/2  loss 0.03  (1.0s)\n"


def test_progress_bar_redraws_pass_as_they_come() -> None:
    buf = io.StringIO()
    out = LaunchOutput(buf)
    out.feed("\repoch 1/2:  10%|#   | 1/10")
    out.feed("\repoch 1/2:  20%|##  | 2/10")
    assert buf.getvalue() == "\repoch 1/2:  10%|#   | 1/10"  # the newest is held one chunk
    out.feed("\repoch 1/2: 100%|####| 10/10\n")
    out.close()
    assert buf.getvalue().endswith("\repoch 1/2: 100%|####| 10/10\n")
    assert "20%" in buf.getvalue()


def test_the_rank_error_is_kept_back_and_the_log_dump_dropped() -> None:
    shown, out = _feed(
        "resumed from run/last.pdckpt at epoch 1\n",
        "error: loss is nan at epoch 2 step 6; stopped\n",
        "LAUNCH ERROR 2026-12-04 18:20:00,000 Pod failed\n",
        "------------------------- ERROR LOG DETAIL -------------------------\n",
        "Traceback (most recent call last):\n",
        '  File "x.py", line 1\n',
        "done: 2 epochs in 3s; weights run/model_final.pdparams\n",
    )
    assert shown == "resumed from run/last.pdckpt at epoch 1\n"
    assert out.error == "loss is nan at epoch 2 step 6; stopped"
