"""Training engine: learns, resumes exactly after SIGKILL, stops on NaN, checks weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, tiny_overrides

from simdr_lib.config import load_config
from simdr_lib.errors import CheckpointError, TrainingError

DEMO = ROOT / "configs" / "demo_tiny.yml"


def _state(path: Path) -> dict[str, np.ndarray]:
    import paddle

    return {k: np.asarray(v) for k, v in paddle.load(str(path)).items()}


def test_lr_schedule_warmup_and_steps() -> None:
    from simdr_lib.engine.train import lr_factor

    f = [lr_factor(s, 10, (3, 5), 0.1, 4, 0.001) for s in (0, 2, 4, 29, 30, 49, 50)]
    assert f[0] == pytest.approx(0.001) and 0.001 < f[1] < 1
    assert f[2] == f[3] == 1.0
    assert f[4] == f[5] == pytest.approx(0.1)
    assert f[6] == pytest.approx(0.01)


def test_smoke_training_learns(small_dataset: Path, tmp_path: Path) -> None:
    """Loss falls and the keypoints move clearly towards the ground truth.

    The criterion is the mean pixel error, not AP: with COCO's mask areas (the generated
    people's OKS scale) 120 steps of the tiny model leave AP at 0.0 (measured: error 98 px
    untrained, 29 px trained, loss x0.80).
    """
    from simdr_lib.engine.model_eval import evaluate_model, mean_pixel_error
    from simdr_lib.engine.train import train
    from simdr_lib.factory import model_from_config

    extra = {"train.epochs": 20, "train.batch_size": 8, "train.lr": 0.003, "train.lr_steps": [18]}
    cfg = load_config(DEMO, tiny_overrides(small_dataset, tmp_path, **extra))
    import paddle

    paddle.seed(0)
    untrained = evaluate_model(cfg, model_from_config(cfg), progress=False)
    result = train(cfg, do_eval=False, progress=False)
    losses = [row["loss"] for row in result.history]
    assert len(losses) == 20 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:2]), losses
    trained = evaluate_model(cfg, result.model, progress=False)
    before, after = mean_pixel_error(untrained.predictions), mean_pixel_error(trained.predictions)
    assert after < 0.5 * before, (before, after)
    assert trained.stats["AP"] >= untrained.stats["AP"]
    run = tmp_path / cfg.name
    for name in ("last.pdckpt", "model_final.pdparams", "train_log.csv", "config.yml"):
        assert (run / name).is_file(), name
    assert not list(run.glob("*.tmp"))
    log = (run / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,step,lr,loss") and len(log) == 21


def test_resume_after_sigkill_matches_uninterrupted(small_dataset: Path, tmp_path: Path) -> None:
    from simdr_lib.engine.train import train

    over = tiny_overrides(small_dataset, tmp_path / "a", **{"train.epochs": 3})
    ref = train(load_config(DEMO, over), progress=False)
    ref_state = _state(ref.final_weights)

    over_b = {**over, "train.save_dir": str(tmp_path / "b")}
    args = [sys.executable, "-m", "simdr_lib", "train", "-c", str(DEMO)]
    for key, value in over_b.items():
        value = str(value).lower() if isinstance(value, bool) else value
        args += ["-o", f"{key}={value}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args + ["--quiet"], stdout=subprocess.PIPE, text=True, env=env)
    ckpt = tmp_path / "b" / "demo_tiny" / "last.pdckpt"
    deadline = time.time() + 240
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), "first epoch never finished"
    time.sleep(0.3)  # well inside epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b" / "demo_tiny" / "model_final.pdparams").exists()

    done = subprocess.run(args + ["--resume", "--quiet"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "resumed from" in done.stdout
    got = _state(tmp_path / "b" / "demo_tiny" / "model_final.pdparams")
    assert got.keys() == ref_state.keys()
    for key in ref_state:
        np.testing.assert_allclose(got[key], ref_state[key], rtol=0, atol=1e-6, err_msg=key)


def test_nan_loss_stops_and_keeps_last_checkpoint(
    tiny_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simdr_lib import factory
    from simdr_lib.engine.train import train

    train(tiny_cfg.with_overrides({"train.epochs": 1}), progress=False)
    ckpt = Path(tiny_cfg.train.save_dir) / tiny_cfg.name / "last.pdckpt"
    before = ckpt.read_bytes()
    real = factory.loss_from_config

    def poisoned(cfg):  # the real loss, then NaN from the 2nd call on
        loss = real(cfg)
        calls = {"n": 0}

        def fn(outputs, targets):
            calls["n"] += 1
            value = loss(outputs, targets)
            return value * float("nan") if calls["n"] >= 2 else value

        return fn

    monkeypatch.setattr(factory, "loss_from_config", poisoned)
    with pytest.raises(TrainingError, match="loss is nan at epoch 2 step"):
        train(tiny_cfg.with_overrides({"train.epochs": 2}), resume=True, progress=False)
    assert ckpt.read_bytes() == before


def test_checkpoint_errors_are_one_line(tiny_cfg, tmp_path: Path) -> None:
    from simdr_lib.engine.train import train
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    result = train(tiny_cfg.with_overrides({"train.epochs": 1}), progress=False)
    weights = result.final_weights
    # another architecture (heatmap head)
    other = tiny_cfg.with_overrides({"model.head": "heatmap", "codec.type": "heatmap"})
    with pytest.raises(CheckpointError) as err:
        load_model_weights(model_from_config(other), weights)
    assert "do not fit" in str(err.value) and "\n" not in str(err.value)
    # config/weights mismatch (input size changes the SimDR Linear layers)
    wider = tiny_cfg.with_overrides({"codec.input_size": [64, 64]})
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_model_weights(model_from_config(wider), weights)
    # truncated file
    cut = tmp_path / "cut.pdparams"
    cut.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model_weights(model_from_config(tiny_cfg), cut)
    # resume from a checkpoint of another architecture
    with pytest.raises(CheckpointError, match="trained with"):
        train(wider.with_overrides({"name": tiny_cfg.name}), resume=True, progress=False)


def test_cli_eval_errors_print_one_line(tiny_cfg, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdparams"
    bad.write_bytes(b"not a checkpoint")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "simdr_lib",
            "eval",
            "-c",
            str(DEMO),
            "-o",
            f"weights={bad}",
            "-o",
            "device=cpu",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
