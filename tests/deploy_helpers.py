"""Shared set-up of the deployment tests: a briefly trained tiny model and its export."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from conftest import ROOT, tiny_overrides

DEMO = ROOT / "configs" / "demo_tiny.yml"


def train_tiny(data_root: Path, save_dir: Path, **extra: Any) -> tuple[Any, Path]:
    """demo_tiny at 48x64 trained 8 epochs x 3 steps: distributions are already peaked."""
    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.engine.train import train

    over = {
        "train.epochs": 8,
        "train.max_steps_per_epoch": 3,
        "train.lr": 0.003,
        "train.lr_steps": [7],
        "eval.batch_size": 16,
        **extra,
    }
    cfg = load_config(DEMO, tiny_overrides(data_root, save_dir, **over))
    paddle.seed(0)
    result = train(cfg, progress=False)
    return cfg, Path(result.final_weights)


def make_bad_folder(folder: Path, data_root: Path) -> dict[str, Path]:
    """A folder with good, grayscale, RGBA, corrupt (truncated) JPEG and non-image files."""
    folder.mkdir(parents=True, exist_ok=True)
    src = sorted((data_root / "images" / "val").glob("*.jpg"))
    files = {
        "good": folder / "a_good.jpg",
        "gray": folder / "b_gray.png",
        "corrupt": folder / "c_corrupt.jpg",
        "rgba": folder / "d_rgba.png",
        "text": folder / "notes.txt",
    }
    shutil.copy(src[0], files["good"])
    bgr = cv2.imread(str(src[1]))
    cv2.imwrite(str(files["gray"]), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(files["rgba"]), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    data = src[2].read_bytes()
    files["corrupt"].write_bytes(data[: len(data) // 2])
    files["text"].write_text("not an image\n")
    return files


def max_abs(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
