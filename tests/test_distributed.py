"""Data parallel through paddle.distributed.launch: 2 CPU ranks end with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

HERE = Path(__file__).resolve().parent


def test_two_cpu_ranks_identical_weights(small_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PADDLE_", "FLAGS_"))}
    cmd = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nproc_per_node",
        "2",
        "--log_dir",
        str(tmp_path / "log"),
        str(HERE / "helpers" / "dist_worker.py"),
        str(small_dataset),
        str(tmp_path / "ckpt"),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    logs = "\n".join(p.read_text() for p in sorted((tmp_path / "log").glob("*")) if p.is_file())
    if proc.returncode != 0:
        pytest.fail(f"launch failed ({proc.returncode}):\n{proc.stderr[-2000:]}\n{logs[-3000:]}")
    assert "rank 0 of 2 done" in logs and "rank 1 of 2 done" in logs
    w0 = paddle.load(str(out / "rank0.pdparams"))
    w1 = paddle.load(str(out / "rank1.pdparams"))
    assert w0.keys() == w1.keys()
    for key in w0:
        np.testing.assert_array_equal(np.asarray(w0[key]), np.asarray(w1[key]), err_msg=key)
    # only rank 0 writes checkpoints
    run = tmp_path / "ckpt" / "demo_tiny"
    assert (run / "last.pdckpt").is_file() and (run / "model_final.pdparams").is_file()
