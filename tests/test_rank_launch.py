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


def _write_log(path, epochs: int, loss: float = 0.5) -> None:
    from simdr_lib.engine.train import write_log

    rows = [{"epoch": e, "step": 3 * e, "lr": 0.01, "loss": loss, "AP": float("nan"),
             "time_s": 1.0, "images_per_s": 10.0} for e in range(1, epochs + 1)]  # fmt: skip
    write_log(path, rows)


def test_log_follower_reports_each_new_epoch_once(tmp_path) -> None:
    from simdr_lib.engine.rank_launch import LogFollower

    log = tmp_path / "train_log.csv"
    follow = LogFollower(log, resume=False)
    assert follow.new_rows() == []  # nothing written yet
    _write_log(log, 1)
    assert [r["epoch"] for r in follow.new_rows()] == [1.0]
    assert follow.new_rows() == []
    _write_log(log, 3)
    assert [r["epoch"] for r in follow.new_rows()] == [2.0, 3.0]


def test_log_follower_skips_the_earlier_runs_rows(tmp_path) -> None:
    import os

    from simdr_lib.engine.rank_launch import LogFollower

    log = tmp_path / "train_log.csv"
    _write_log(log, 2)
    resumed = LogFollower(log, resume=True)  # epochs 1-2 were reported by the earlier run
    assert resumed.seen == 2 and resumed.new_rows() == []
    replaced = LogFollower(log, resume=False)  # --overwrite: the old log is not this run's
    assert replaced.seen == 0 and replaced.new_rows() == []
    _write_log(log, 1, loss=0.25)
    stat = log.stat()
    os.utime(log, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # rewritten in the same tick
    assert [(r["epoch"], r["loss"]) for r in replaced.new_rows()] == [(1.0, 0.25)]
