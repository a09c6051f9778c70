"""Parameters of the tiny pipeline runs the notebook and browser tests execute."""

from __future__ import annotations

from pathlib import Path


def tiny_parameters(data_root: Path, tmp: Path, run: str = "tiny", epochs: int = 2) -> dict:
    """A very small pipeline run (width-8 model, 48x64 input) under ``tmp``."""
    return {
        "data_root": str(data_root),
        "run_name": run,
        "epochs": epochs,
        "device": "cpu",
        "reports_dir": str(tmp / "reports"),
        "num_samples": 2,
        "worst_k": 3,
        "num_crops": 4,
        "overrides": {
            "data.num_workers": 0,
            "codec.input_size": [48, 64],
            "model.tiny_width": 8,
            "train.save_dir": str(tmp / "checkpoints"),
            "train.batch_size": 16,
            "train.warmup_steps": 2,
            "train.eval_every": 1,
            "eval.batch_size": 32,
        },
    }
