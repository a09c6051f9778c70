"""benchmarks/train_speed.py: its settings, the start barrier of independent processes, rows."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest
from conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "train_speed", ROOT / "benchmarks" / "train_speed.py"
)
assert _spec is not None and _spec.loader is not None
train_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_speed)


def test_settings_parse_to_threads_ranks_and_independent_processes() -> None:
    assert train_speed.parse_setting("t2") == (2, 1, 1)
    assert train_speed.parse_setting("r2") == (1, 2, 1)
    assert train_speed.parse_setting("i2") == (1, 1, 2)
    for bad in ("x2", "r0", "i", "t-1", "2"):
        with pytest.raises(ValueError, match="tN, rN or iN"):
            train_speed.parse_setting(bad)


def test_independent_processes_start_timing_together(tmp_path: Path) -> None:
    """No process passes the barrier before the last one has reached it."""
    passed: list[int] = []
    first = threading.Thread(
        target=lambda: (train_speed._barrier(tmp_path, 0, 2), passed.append(0))
    )
    first.start()
    first.join(timeout=0.3)
    assert first.is_alive() and passed == []  # still waiting for process 1
    train_speed._barrier(tmp_path, 1, 2)
    first.join(timeout=5)
    assert passed == [0]
    with pytest.raises(RuntimeError, match="only 1 of 3 processes started"):
        train_speed._barrier(tmp_path / "alone", 0, 3, timeout=0.05)


def test_a_row_is_the_median_of_its_runs_and_the_table_shows_the_range() -> None:
    runs = [
        {"images_per_s": v, "cpu_per_wall": c, "ranks": 1, "threads": 1, "batch_per_rank": 16}
        for v, c in ((100.0, 1.0), (300.0, 0.9), (200.0, 0.8))
    ]
    row = train_speed.summarize_setting(runs, flops_per_image=1e9)
    assert row["images_per_s"] == 200.0 and row["images_per_s_runs"] == [100.0, 300.0, 200.0]
    assert row["cpu_per_wall"] == 0.9 and row["gflops"] == pytest.approx(600.0)
    row.update(model="demo_tiny", setting="i2", vs_t1=1.5, processes=2)
    text = train_speed.table([row], limit=1200.0)
    assert (
        "| demo_tiny | i2 (2 independent x 1 thr) | 16 | 200.00 | 100.00-300.00 | 1.50x |" in text
    )
    assert "| 50% |" in text


def test_every_run_of_independent_processes_gets_a_new_barrier(tmp_path: Path) -> None:
    """A later round must wait again, not pass on the files the first round left."""

    def barrier_of(commands: list) -> set[str]:
        return {cmd[cmd.index("--worker_barrier") + 1] for cmd, _ in commands}

    first = train_speed.worker_commands("tiny", 1, 1, 5, tmp_path, split=2)
    second = train_speed.worker_commands("tiny", 1, 1, 5, tmp_path, split=2)
    assert len(first) == 2 and len(barrier_of(first)) == 1  # both processes, one barrier
    assert barrier_of(first) != barrier_of(second)
    for folder in barrier_of(first) | barrier_of(second):
        assert Path(folder).is_dir() and not any(Path(folder).iterdir())
    assert [out.name for _, out in first] == ["tiny_t1_r1_i2_0.json", "tiny_t1_r1_i2_1.json"]
