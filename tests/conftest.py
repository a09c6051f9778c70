"""Shared fixtures: one small generated dataset per test session and a tiny config on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated COCO-format dataset (48 train / 12 val images), made once per session."""
    from simdr_lib.data.synthetic import generate_synthetic_coco

    root = tmp_path_factory.mktemp("data") / "synthetic"
    generate_synthetic_coco(root, num_train=48, num_val=12, seed=0, progress=False)
    return root


def tiny_overrides(data_root: Path, save_dir: Path, **extra: object) -> dict[str, object]:
    """Overrides that make demo_tiny fast enough for a unit test on 2 cores."""
    out: dict[str, object] = {
        "data.root": str(data_root),
        "data.synthetic": False,
        "data.num_workers": 0,
        "codec.input_size": [48, 64],
        "model.tiny_width": 16,
        "train.save_dir": str(save_dir),
        "train.batch_size": 16,
        "train.warmup_steps": 5,
        "train.epochs": 2,
        "train.ranks": 1,  # in this process; the multi-rank default: test_train_speed_defaults
        "device": "cpu",
    }
    out.update(extra)
    return out


def cli_overrides(values: dict[str, object]) -> list[str]:
    """``["-o", "key=value", ...]`` for a dict of overrides (bools spelled as YAML)."""
    out: list[str] = []
    for key, value in values.items():
        out += ["-o", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
    return out


@pytest.fixture()
def tiny_cfg(small_dataset: Path, tmp_path: Path):
    from simdr_lib.config import load_config

    return load_config(ROOT / "configs" / "demo_tiny.yml", tiny_overrides(small_dataset, tmp_path))
