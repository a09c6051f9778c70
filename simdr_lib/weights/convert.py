"""``simdr convert IN OUT``: a downloaded weights file in our layout, once, with what it is.

The architecture is read from the file's shapes (HRNet width from the first transition,
joints from the final conv, the SimDR head's input size and ``k`` from its Linear layers), a
model of that shape is built, and the file must map onto it completely (through the same
:func:`~simdr_lib.weights.layouts.map_state` as every other load). The output is a Paddle
pickle ``{"format": "simdr-weights/1", "model": {our name: array}, "meta": {...}}``; ``meta``
records the source file, its layout, the architecture and the preprocessing conventions the
weights were trained with (:mod:`simdr_lib.weights.conventions`). Backbone-only files
(ImageNet HRNet) convert to a backbone file for ``--pretrained``.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.errors import CheckpointError
from simdr_lib.weights.conventions import conventions_for
from simdr_lib.weights.layouts import (
    CONVERTED_FORMAT,
    LAYOUT_TITLES,
    infer_architecture,
    map_state,
    state_dict_of,
)
from simdr_lib.weights.load import describe_mismatch
from simdr_lib.weights.reader import read_weights

__all__ = ["ConvertResult", "config_hint", "convert_weights", "model_for_state"]

#: where each layout keeps the first transition conv (256 -> width channels, 3x3)
_TRANSITION_KEYS = (
    "backbone.transition1.0.0.weight",  # ours
    "backbone.tr1.transition_tr1_layer_1.conv.weight",  # PaddleDetection / seed
    "transition1.0.0.weight",  # official
    "module.transition1.0.0.weight",
    "conv_tr1_1.conv.weight",  # PaddleClas
    "tr1_1._conv.weight",  # PaddleClas (older)
)
_FINAL_CONV_KEYS = (
    "head.final_layer.weight",
    "final_conv.weight",
    "final_layer.weight",
    "module.final_layer.weight",
)


@dataclass(frozen=True)
class ConvertResult:
    """``output`` written from ``source``: its layout, tensors and recorded metadata."""

    source: Path
    output: Path
    layout: str
    tensors: int
    meta: dict[str, Any]


def _first(state: dict[str, np.ndarray], keys: tuple[str, ...]) -> np.ndarray | None:
    return next((state[k] for k in keys if k in state), None)


def _simdr_head_size(state: dict[str, np.ndarray]) -> tuple[int, int, float] | None:
    """(W, H, k) from the two SimDR Linear weights, whichever way round they are stored."""
    for prefix in ("head.", "", "module."):
        wx, wy = state.get(f"{prefix}mlp_head_x.weight"), state.get(f"{prefix}mlp_head_y.weight")
        if wx is not None and wy is not None:
            break
    else:
        return None
    if wx.ndim != 2 or wy.ndim != 2:
        return None
    # Paddle Linear (in, out) shares axis 0 between x and y; PyTorch (out, in) shares axis 1.
    # When both hold (square heads) bins_x == bins_y == features and the size is the same.
    if wx.shape[0] == wy.shape[0]:
        features, bins_x, bins_y = wx.shape[0], wx.shape[1], wy.shape[1]
    elif wx.shape[1] == wy.shape[1]:
        features, bins_x, bins_y = wx.shape[1], wx.shape[0], wy.shape[0]
    else:
        return None
    width = math.sqrt(16.0 * features * bins_x / bins_y)
    if width <= 0 or abs(width - round(width)) > 1e-6:
        return None
    w = int(round(width))
    return w, 16 * int(features) // w, bins_x / w


def model_for_state(state: dict[str, np.ndarray]) -> tuple[Any, str]:
    """A randomly initialized ``PoseModel`` shaped like ``state`` (any layout), and its head.

    Head ``"simdr"``, ``"heatmap"`` or ``"none"`` (backbone-only file; the model then gets a
    17-joint heatmap head that is not part of the conversion).

    Raises:
        CheckpointError: not an HRNet file (no first-transition tensor), or a SimDR head
            whose shapes give no input size.
    """
    from simdr_lib.models import HeatmapHead, HRNet, PoseModel, SimDRHead

    trans = _first(state, _TRANSITION_KEYS)
    if trans is None or trans.ndim != 4:
        raise CheckpointError(
            "not an HRNet file of a known layout (no first-transition tensor such as "
            f"{_TRANSITION_KEYS[1]!r} or {_TRANSITION_KEYS[2]!r})"
        )
    width = int(trans.shape[0])
    final = _first(state, _FINAL_CONV_KEYS)
    joints = int(final.shape[0]) if final is not None and final.ndim == 4 else 17
    size = _simdr_head_size(state)
    backbone = HRNet(width)
    if size is not None:
        w, h, k = size
        return PoseModel(backbone, SimDRHead(width, joints, (w, h), k)), "simdr"
    if any(k.endswith("mlp_head_x.weight") for k in state):
        raise CheckpointError("SimDR head shapes give no input size (mlp_head_x / mlp_head_y)")
    return PoseModel(
        backbone, HeatmapHead(width, joints)
    ), "heatmap" if final is not None else "none"


def config_hint(arch: dict[str, Any]) -> str:
    """The config values a model needs to use these weights (``model.backbone=...``)."""
    parts = [f"model.backbone={arch['backbone']}"]
    if arch.get("head"):
        parts.append(f"model.head={arch['head']}")
    if arch.get("num_joints"):
        parts.append(f"model.num_joints={arch['num_joints']}")
    if arch.get("input_size"):
        w, h = arch["input_size"]
        parts.append(f"codec.input_size=[{w},{h}]")
        parts.append(f"codec.split_ratio={arch['split_ratio']:g}")
    return " ".join(f"-o {p}" for p in parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_weights(
    source: str | os.PathLike, output: str | os.PathLike, *, overwrite: bool = False, log=print
) -> ConvertResult:
    """Convert ``source`` (any known layout) to our layout at ``output``; see the module doc.

    Raises:
        CheckpointError: unreadable / refused / unknown file, tensors that do not map
            completely, ``output`` equal to ``source`` or existing without ``overwrite``.
    """
    from simdr_lib.engine.checkpoint import atomic_paddle_save

    src, out = Path(source), Path(output)
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise CheckpointError(f"{out}: output is the input file; choose another name")
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out}: exists; pass --overwrite to replace it")
    if out.exists() and not out.is_file():
        raise CheckpointError(f"{out}: exists and is not a file")
    wf = read_weights(src, "weights file")
    try:
        state, old_meta = state_dict_of(wf.obj)
        if all(k.startswith(("backbone.", "head.")) for k in state):  # already ours (any net)
            layout, tensors, skipped = "simdr", dict(state), 0
            arch = infer_architecture(tensors)
            head = arch["head"] or "none"
        else:
            layout, tensors, skipped, head = _map_foreign(state)
            arch = infer_architecture(tensors)
            arch["head"] = None if head == "none" else head
    except CheckpointError as exc:
        raise CheckpointError(f"{src}: {exc}") from None
    meta = {
        "source_file": str(src),
        "source_sha256": _sha256(src),
        "source_container": wf.container,
        "source_layout": layout,
        "architecture": arch,
        "conventions": old_meta.get("conventions") or conventions_for(layout),
        "skipped_tensors": skipped,
        **({"previous": old_meta} if old_meta else {}),
    }
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    atomic_paddle_save({"format": CONVERTED_FORMAT, "model": tensors, "meta": meta}, out)
    if log is not None:
        what = (
            f"{arch['backbone']} backbone" if head == "none" else f"{arch['backbone']} {head} model"
        )
        use = (
            f"--pretrained {out} with -o model.backbone={arch['backbone']}"
            if head == "none"
            else f"-o weights={out} {config_hint(arch)}"
        )
        log(
            f"converted {src} ({LAYOUT_TITLES[layout]} layout, {what}, "
            f"{len(tensors)} tensors) -> {out}; use it with {use}"
        )
    return ConvertResult(src, out, layout, len(tensors), meta)


def _map_foreign(state: dict[str, np.ndarray]) -> tuple[str, dict, int, str]:
    """(layout, our tensors, skipped count, head) of a file in another project's layout."""
    model, head = model_for_state(state)
    model_state = model.state_dict()
    if head == "none":  # backbone file: the pose head is not part of it
        model_state = {k: v for k, v in model_state.items() if k.startswith("backbone.")}
    mapped = map_state(state, model_state, model.backbone)
    unexpected = [] if head == "none" else mapped.unexpected  # ImageNet files: classifier
    if mapped.missing or mapped.mismatched or unexpected:
        raise CheckpointError(
            f"does not convert cleanly ({mapped.title} layout): "
            + describe_mismatch(mapped.missing, unexpected, mapped.mismatched)
        )
    return mapped.layout, mapped.tensors, len(mapped.unexpected) + mapped.dropped, head
