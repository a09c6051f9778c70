"""Writing checkpoints and weights atomically (reading them is :mod:`simdr_lib.weights`).

Files written by training under ``checkpoints/<run>/``:

- ``last.pdckpt``: everything needed to resume (model, optimizer, LR scheduler, AMP scaler,
  epoch, global step, best AP, config). Written at the end of every epoch.
- ``best.pdparams`` / ``model_final.pdparams``: model state dicts only (for eval/export/infer).

Every file is written to a unique temporary file first and renamed into place
(:func:`simdr_lib.atomic_io.write_file_atomic`), so an interrupted or failing save never
leaves a half-written checkpoint behind and never touches the previous one. The files are
``paddle.save`` pickles (``paddle.load`` reads them too); this project reads them back only
through the restricted reader of :mod:`simdr_lib.weights`, like any file from elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simdr_lib.atomic_io import write_file_atomic
from simdr_lib.weights.layouts import CHECKPOINT_FORMAT

__all__ = [
    "CHECKPOINT_FILES",
    "CHECKPOINT_FORMAT",
    "RUN_ENTRIES",
    "RUN_OUTPUTS",
    "atomic_paddle_save",
    "foreign_entries",
    "portable_optimizer_state",
    "restore_optimizer_state",
    "save_checkpoint",
]


#: the weights files of a run folder
CHECKPOINT_FILES = ("last.pdckpt", "best.pdparams", "model_final.pdparams")
#: files training writes into the run folder (``--overwrite`` removes them)
RUN_OUTPUTS = (*CHECKPOINT_FILES, "train_log.csv", "train_summary.json")
#: everything this project puts in ``<save_dir>/<run>/`` (besides ``*.tmp`` files): the
#: training outputs, its config, the results ``simdr eval`` writes next to the weights, the
#: VisualDL log and export folders; ``--force`` deletes only such folders
#: the exported model's folder inside a run's checkpoint folder (`simdr export`, notebook 05)
EXPORT_DIR = "export"
RUN_ENTRIES = (
    *RUN_OUTPUTS,
    "config.yml",
    "keypoints_val_results.json",
    "vdl",
    EXPORT_DIR,
    "inference_model",  # notebook 05's export folder before it was EXPORT_DIR
    "study",  # the low-resolution study's cell runs (notebook 08)
)


def foreign_entries(folder: str | Path) -> list[str]:
    """Names in ``folder`` this project does not write there (see :data:`RUN_ENTRIES`)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.name not in RUN_ENTRIES and not p.name.endswith(".tmp")
    )


def atomic_paddle_save(obj: Any, path: str | Path) -> Path:
    """``paddle.save`` to ``path`` through a unique temporary file and an atomic rename.

    Raises:
        OutputError: the file cannot be written (disk full, ...); the previous file stays.
    """
    import paddle

    return write_file_atomic(path, lambda tmp: paddle.save(obj, tmp))


def save_checkpoint(path: str | Path, **payload: Any) -> Path:
    """Write a resumable checkpoint atomically (``payload`` keys: model, optimizer, ...)."""
    return atomic_paddle_save({"format": CHECKPOINT_FORMAT, **payload}, path)


def _rename_param_keys(state: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Rename keys that start with a parameter name (``<param>_moment1_0`` etc.)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, dict):
            value = _rename_param_keys(value, names)
        new_key = names.get(key, key)
        if key not in names:
            cut = key.rfind("_")
            while cut > 0:  # longest prefix that is a parameter name
                if key[:cut] in names:
                    new_key = names[key[:cut]] + key[cut:]
                    break
                cut = key.rfind("_", 0, cut)
        out[new_key] = value
    return out


def portable_optimizer_state(state: dict[str, Any], model: Any) -> dict[str, Any]:
    """Optimizer state keyed by structured parameter names (``head.x_fc.weight_moment1_0``).

    Paddle keys optimizer accumulators by the parameter's process-wide unique name
    (``conv2d_15.w_0``), which changes when a model is built again in the same process;
    structured names make a checkpoint resumable anywhere.
    """
    return _rename_param_keys(state, {p.name: "@" + n for n, p in model.named_parameters()})


def restore_optimizer_state(state: dict[str, Any], model: Any) -> dict[str, Any]:
    """Inverse of :func:`portable_optimizer_state` for the model built in this process."""
    return _rename_param_keys(state, {"@" + n: p.name for n, p in model.named_parameters()})
