"""The NaN guard of data-parallel runs: the flag that travels in the gradient all-reduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from simdr_lib.engine.finite_flag import FlaggedModel

pytestmark = pytest.mark.compat
HERE = Path(__file__).resolve().parent


def _step(finite: bool) -> tuple[FlaggedModel, paddle.Tensor, paddle.Tensor, list[float]]:
    paddle.seed(3)
    flagged = FlaggedModel(paddle.nn.Linear(3, 2))
    out, flag = flagged(paddle.to_tensor(np.arange(6, dtype="float32").reshape(2, 3)))
    loss = (out**2).mean()
    total = FlaggedModel.flagged(loss, flag, finite)
    total.backward()
    return flagged, loss, total, flagged.model.weight.grad.numpy().ravel().tolist()


def test_the_flag_changes_neither_the_loss_nor_the_model_gradients() -> None:
    """With a finite loss the flagged loss has the same bits and the model the same
    gradients as plain ``loss.backward()``; the flag's gradient is 0."""
    flagged, loss, total, grads = _step(finite=True)
    assert np.asarray(total.numpy()).tobytes() == np.asarray(loss.numpy()).tobytes()
    paddle.seed(3)
    plain = paddle.nn.Linear(3, 2)
    ((plain(paddle.to_tensor(np.arange(6, dtype="float32").reshape(2, 3))) ** 2).mean()).backward()
    assert grads == plain.weight.grad.numpy().ravel().tolist()
    assert flagged.any_not_finite() is False


def test_a_non_finite_loss_sets_the_flag_and_reading_it_clears_it() -> None:
    flagged, _, _, _ = _step(finite=False)
    assert flagged.any_not_finite() is True
    assert flagged.flag.grad is None or float(flagged.flag.grad.numpy().sum()) == 0.0
    assert flagged.any_not_finite() is False  # read once per step
    assert "flag" not in flagged.model.state_dict()  # checkpoints hold only the model


def test_two_ranks_both_see_one_ranks_nan_and_reduce_the_true_gradient(tmp_path: Path) -> None:
    """2 CPU ranks (gloo): rank 1's loss is NaN at step 1 only; both ranks' guards say so at
    step 1 and only there, and the step-0 gradient is the mean over both ranks' samples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PADDLE_", "FLAGS_"))}
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2"]
    cmd += ["--log_dir", str(tmp_path / "log"), str(HERE / "helpers" / "finite_flag_worker.py")]
    proc = subprocess.run(
        [*cmd, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    logs = "\n".join(p.read_text() for p in sorted((tmp_path / "log").glob("*")) if p.is_file())
    if proc.returncode != 0:
        pytest.fail(f"launch failed ({proc.returncode}):\n{proc.stderr[-2000:]}\n{logs[-3000:]}")
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["said"] == [False, True, False], rank
        np.testing.assert_allclose(got["grad0"], got["expected0"], rtol=1e-5, atol=1e-7)
