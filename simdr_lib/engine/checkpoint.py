"""Checkpoints and weights: atomic writes, checked loads, one-line errors.

Files written by training under ``checkpoints/<run>/``:

- ``last.pdckpt``: everything needed to resume (model, optimizer, LR scheduler, AMP scaler,
  epoch, global step, best AP, config). Written at the end of every epoch.
- ``best.pdparams`` / ``model_final.pdparams``: model state dicts only (for eval/export/infer).

Every file is written to ``<name>.tmp`` first and renamed into place (``os.replace`` is atomic
on POSIX), so an interrupted run never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.errors import CheckpointError

CHECKPOINT_FORMAT = "simdr-checkpoint/1"


def atomic_paddle_save(obj: Any, path: str | Path) -> Path:
    """``paddle.save`` to ``path`` through a temporary file and an atomic rename."""
    import paddle

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    paddle.save(obj, str(tmp))
    with open(tmp, "rb") as fh:  # make sure the bytes are on disk before the rename
        os.fsync(fh.fileno())
    os.replace(tmp, p)
    return p


def read_paddle_file(path: str | Path) -> Any:
    """``paddle.load`` with a one-line :class:`CheckpointError` for missing/corrupt files."""
    import paddle

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: weights file not found")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: weights file is empty")
    try:
        return paddle.load(str(p))
    except Exception as exc:  # paddle raises many types for truncated pickles
        kind = type(exc).__name__
        raise CheckpointError(
            f"{p}: cannot read weights (truncated or not a Paddle file: {kind})"
        ) from None


def model_state_from(obj: Any, source: str | Path) -> dict[str, Any]:
    """The model state dict inside a checkpoint dict, or ``obj`` itself if it is one."""
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        return obj["model"]
    if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj):
        return obj
    raise CheckpointError(f"{source}: not a model state dict or simdr checkpoint")


def _shape(value: Any) -> tuple[int, ...]:
    """Shape of an ndarray or a paddle Tensor (``np.shape`` reads ``.shape`` when present)."""
    return tuple(int(s) for s in np.shape(value))


def compare_state(
    model_state: dict[str, Any], loaded: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, 'key: file [..] vs model [..]' shape mismatches)."""
    missing = sorted(k for k in model_state if k not in loaded)
    unexpected = sorted(k for k in loaded if k not in model_state)
    mismatched = [
        f"{k}: file {list(_shape(loaded[k]))} vs model {list(_shape(model_state[k]))}"
        for k in sorted(model_state)
        if k in loaded and _shape(loaded[k]) != _shape(model_state[k])
    ]
    return missing, unexpected, mismatched


def describe_mismatch(missing: list[str], unexpected: list[str], mismatched: list[str]) -> str:
    parts = []
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatches (first: {mismatched[0]})")
    if missing:
        parts.append(f"{len(missing)} missing (first: {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
    return "; ".join(parts)


def load_model_weights(model: Any, path: str | Path, arch_hint: str = "") -> None:
    """Load full-model weights (a ``.pdparams`` state dict or a checkpoint) strictly.

    Any missing, unexpected or wrongly shaped parameter raises one :class:`CheckpointError`
    that says how many and shows the first of each, instead of a silent partial load.
    """
    obj = read_paddle_file(path)
    state = model_state_from(obj, path)
    missing, unexpected, mismatched = compare_state(model.state_dict(), state)
    if missing or unexpected or mismatched:
        hint = f" (is it a {arch_hint} checkpoint?)" if arch_hint else ""
        raise CheckpointError(
            f"{path}: weights do not fit the model{hint}: "
            + describe_mismatch(missing, unexpected, mismatched)
        )
    model.set_state_dict(state)


def load_backbone_weights(
    backbone: Any, path: str | Path, name_map: dict[str, str] | None = None
) -> dict[str, int]:
    """Load ImageNet-pretrained backbone weights; returns counts of loaded/skipped tensors.

    ``name_map`` (file name, with or without ``backbone.`` → our name) is applied first; then
    :func:`simdr_lib.models.pretrained.detect_and_map` recognizes our names (optionally
    ``backbone.``-prefixed), official PyTorch HRNet names and PaddleClas ``HRNet_W*_C`` names.
    Classification-only tensors (the ImageNet head) are skipped; if fewer than half of the
    backbone's tensors match, or any matched name has the wrong shape, a
    :class:`CheckpointError` says what did not match.
    """
    from simdr_lib.models.pretrained import detect_and_map

    obj = read_paddle_file(path)
    state = model_state_from(obj, path)
    ours = backbone.state_dict()
    if name_map:
        state = {name_map.get(k.removeprefix("backbone."), k): v for k, v in state.items()}
    try:
        renamed: dict[str, Any] = detect_and_map(state, backbone)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    _, _, mismatched = compare_state({k: ours[k] for k in renamed}, renamed)
    if mismatched:
        raise CheckpointError(
            f"{path}: pretrained backbone has {len(mismatched)} shape "
            f"mismatches (first: {mismatched[0]})"
        )
    if len(renamed) < len(ours) / 2:
        missing = sorted(set(ours) - set(renamed))
        raise CheckpointError(
            f"{path}: only {len(renamed)}/{len(ours)} backbone tensors match by name "
            f"(first missing: {missing[0]}); is this a backbone of the configured type?"
        )
    backbone.set_state_dict(renamed)
    return {
        "loaded": len(renamed),
        "missing": len(ours) - len(renamed),
        "ignored": len(state) - len(renamed),
    }


def save_checkpoint(path: str | Path, **payload: Any) -> Path:
    """Write a resumable checkpoint atomically (``payload`` keys: model, optimizer, ...)."""
    return atomic_paddle_save({"format": CHECKPOINT_FORMAT, **payload}, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; one-line error otherwise."""
    obj = read_paddle_file(path)
    if not (isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path}: not a simdr training checkpoint (cannot resume from it)")
    return obj


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
