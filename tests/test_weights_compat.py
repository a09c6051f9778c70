"""Checkpoints written before the safe reader existed (simdr_lib ``dd58960``, ``paddle.save``
on Paddle 3.3 / numpy 2 and Paddle 2.6 / numpy 1) still load and resume, on both Paddle lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, tiny_overrides

from simdr_lib.config import load_config
from simdr_lib.factory import model_from_config
from simdr_lib.weights import load_model_weights, read_checkpoint, read_weights

OLD = Path(__file__).parent / "fixtures" / "old_checkpoints"
WRITERS = ["paddle33", "paddle26"]


def _cfg(small_dataset: Path, save_dir: Path, **extra):
    values = tiny_overrides(small_dataset, save_dir, **{"model.tiny_width": 8, "name": "old_tiny"})
    values.update(extra)
    return load_config(ROOT / "configs" / "demo_tiny.yml", values)


@pytest.mark.compat
@pytest.mark.parametrize("writer", WRITERS)
def test_old_weights_and_checkpoints_load(writer: str, small_dataset: Path, tmp_path: Path) -> None:
    cfg = _cfg(small_dataset, tmp_path)
    final, last = model_from_config(cfg), model_from_config(cfg)
    assert (
        load_model_weights(final, OLD / writer / "model_final.pdparams", log=None).layout == "simdr"
    )
    load_model_weights(last, OLD / writer / "last.pdckpt", log=None)
    ckpt = read_checkpoint(OLD / writer / "last.pdckpt")
    assert ckpt["epoch"] == 1 and ckpt["arch"]["input_size"] == [48, 64]
    for key, value in final.state_dict().items():  # the final weights are the epoch-1 weights
        np.testing.assert_array_equal(value.numpy(), last.state_dict()[key].numpy(), err_msg=key)
        np.testing.assert_array_equal(value.numpy(), ckpt["model"][key], err_msg=key)
    moments = [k for k in ckpt["optimizer"] if "moment1" in k]
    assert moments and all(k.startswith("@") for k in moments)  # structured parameter names


@pytest.mark.compat
@pytest.mark.parametrize("writer", WRITERS)
def test_training_resumes_from_an_old_checkpoint(writer, small_dataset, tmp_path, capsys) -> None:
    from simdr_lib.engine.train import train

    cfg = _cfg(small_dataset, tmp_path, **{"train.epochs": 2})
    run_dir = tmp_path / "old_tiny"
    run_dir.mkdir()
    shutil.copy(OLD / writer / "last.pdckpt", run_dir / "last.pdckpt")
    result = train(cfg, resume=True, progress=False)
    assert f"resumed from {run_dir / 'last.pdckpt'} at epoch 1" in capsys.readouterr().out
    assert result.epochs_done == 2 and result.history[0]["epoch"] == 1
    assert read_checkpoint(run_dir / "last.pdckpt")["epoch"] == 2
    assert read_weights(run_dir / "model_final.pdparams").container == "paddle"
