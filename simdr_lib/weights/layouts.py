"""Tensor-name layouts of the weights users bring, detected and renamed onto our model.

Every layout is a function from a file's tensor name to our ``PoseModel`` name
(``backbone.*`` / ``head.*``) or ``None``; :func:`map_state` tries them all and keeps the one
that names the most tensors of the model. Layouts:

``simdr``
    This project's names (``module.`` from a DataParallel wrapper is stripped).
``paddledetection``
    PaddleDetection's ``TopDownHRNet`` and the seed's ``TopDownHRNetSimDR``
    (ultranity/Paddle-SimDR): ``backbone.`` + PaddleDetection HRNet names with 1-based indices
    (``conv_layer1_1``, ``la1.block_layer2_{b}``, ``tr{t}.transition_tr{t}_layer_{b}``,
    ``st{s}.stage_st{s}_{m}.branches_func.bb_st{s}_{m}_branch_layer_{b}_{k}``,
    ``...fuse_func.residual_st{s}_{m}_layer_{i}_{j}[_{k}]``), every conv+BN a
    ``ConvNormLayer`` (``.conv.weight``, ``.norm.{weight,bias,_mean,_variance}``), heads
    ``final_conv`` and ``mlp_head_x`` / ``mlp_head_y`` (Paddle Linear, ``(in, out)``). The
    names were read from ``ppdet/modeling/backbones/hrnet.py`` and checked against files
    written by PaddleDetection 2.6 (``tests/fixtures/peer_weights``).
``official``
    leeyegy/SimDR and the official HRNet (PyTorch): :func:`~simdr_lib.models.map_official_key`
    names; PyTorch Linear weights are ``(out, in)`` and are transposed; the BN counters
    ``num_batches_tracked`` are dropped.
``paddleclas`` / ``paddleclas-legacy``
    PaddleClas ImageNet ``HRNet_W*_C`` (backbone only), see :mod:`simdr_lib.weights.paddleclas`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simdr_lib.errors import CheckpointError
from simdr_lib.models.hrnet import HRNet, map_official_key
from simdr_lib.weights.paddleclas import PADDLECLAS_LAYOUTS, SE_MARKERS, paddleclas_hrnet_name_map

__all__ = [
    "LAYOUT_TITLES",
    "MappedState",
    "infer_architecture",
    "map_state",
    "ppdet_backbone_name",
    "state_dict_of",
]

LAYOUT_TITLES = {
    "simdr": "simdr_lib",
    "paddledetection": "PaddleDetection / seed (Paddle-SimDR)",
    "official": "official PyTorch SimDR / HRNet",
    "paddleclas": "PaddleClas ImageNet HRNet",
    "paddleclas-legacy": "PaddleClas ImageNet HRNet (older release)",
    "none": "no known",
}
#: keys ``paddle.save`` adds next to the tensors of a state dict
_PADDLE_TABLES = ("StructuredToParameterName@@", "UnpackBigParamInfor@@")
#: our format for converted files (``simdr convert``): {"format", "model", "meta"}
CONVERTED_FORMAT = "simdr-weights/1"
CHECKPOINT_FORMAT = "simdr-checkpoint/1"


# ============================================================================ file contents
def _join_big_params(state: dict[str, Any]) -> dict[str, Any]:
    """Undo ``paddle.save``'s split of tensors over 2**30 bytes (``UnpackBigParamInfor@@``)."""
    info = state.get("UnpackBigParamInfor@@")
    if not isinstance(info, dict):
        return state
    out = dict(state)
    for key, part in info.items():
        try:
            pieces = [out.pop(name) for name in part["slices"]]
            out[key] = np.concatenate([np.ravel(p) for p in pieces]).reshape(part["OriginShape"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"split tensor {key!r} cannot be reassembled") from None
    return out


def state_dict_of(obj: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``({tensor name: array}, meta)`` from what :func:`~simdr_lib.weights.read_weights` read.

    Accepts a plain state dict (any layout), this project's training checkpoint
    (``model``), its converted files (``model`` + ``meta``) and training checkpoints of the
    official code (``state_dict``). Non-tensor entries of a state dict are dropped.

    Raises:
        CheckpointError: no tensor mapping found (the message says what the file holds).
    """
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and obj.get("format") in (CHECKPOINT_FORMAT, CONVERTED_FORMAT):
        meta = dict(obj.get("meta") or {})
        obj = obj.get("model")
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # official / mmpose-style training checkpoint
    if not isinstance(obj, dict):
        raise CheckpointError(f"holds a {type(obj).__name__}, not a state dict of tensors")
    obj = _join_big_params(obj)
    state = {
        k: v
        for k, v in obj.items()
        if isinstance(k, str) and isinstance(v, np.ndarray) and k not in _PADDLE_TABLES
    }
    if not state:
        keys = ", ".join(repr(k) for k in list(obj)[:4])
        raise CheckpointError(f"holds no tensors (keys: {keys or 'none'})")
    return state, meta


# ============================================================================ name maps
def _is_bn(unit: list[str]) -> bool:
    """Whether the conv/BN unit ``unit`` (our name without the tensor) is a BatchNorm."""
    last = unit[-1]
    return last.startswith("bn") if not last.isdigit() else last == "1"  # Sequential(conv, bn)


def ppdet_backbone_name(name: str) -> str | None:
    """PaddleDetection HRNet name (without ``backbone.``) of our backbone tensor ``name``.

    Example: ``stage3.1.fuse_layers.2.0.1.0.weight`` ->
    ``st3.stage_st3_2.fuse_func.residual_st3_2_layer_3_1_2.conv.weight``.
    """
    parts = name.split(".")
    tensor, unit = parts[-1], parts[:-1]
    if not unit:
        return None
    kind = "norm" if _is_bn(unit) else "conv"
    head = unit[0]
    n = [int(p) + 1 if p.isdigit() else p for p in unit[1:]]  # 1-based indices
    if head == "stem" and len(unit) == 2:
        out = f"conv_layer1_{unit[1][-1]}"
    elif head == "stage1" and len(unit) == 3 and unit[2].startswith(("conv", "bn")):
        out = f"la1.block_layer2_{n[0]}.conv{unit[2][-1]}"
    elif head == "stage1" and len(unit) == 4 and unit[2] == "downsample":
        out = f"la1.block_layer2_{n[0]}.conv_down"
    elif head == "transition1" and len(unit) == 3 and unit[1] == "0":
        out = "tr1.transition_tr1_layer_1"
    elif head.startswith("transition") and len(unit) == 4:
        t = head[len("transition") :]
        out = f"tr{t}.transition_tr{t}_layer_{n[0]}"
    elif head.startswith("stage") and len(unit) >= 6:
        s, m = head[len("stage") :], n[0]
        stage = f"st{s}.stage_st{s}_{m}"
        if unit[2] == "branches" and len(unit) == 6:
            out = f"{stage}.branches_func.bb_st{s}_{m}_branch_layer_{n[2]}_{n[3]}.conv{unit[5][-1]}"
        elif unit[2] == "fuse_layers" and len(unit) in (6, 7):
            ids = "_".join(str(i) for i in n[2:-1])
            out = f"{stage}.fuse_func.residual_st{s}_{m}_layer_{ids}"
        else:
            return None
    else:
        return None
    return f"{out}.{kind}.{tensor}"


_PPDET_HEADS = {
    "final_conv.": "head.final_layer.",
    "mlp_head_x.": "head.mlp_head_x.",
    "mlp_head_y.": "head.mlp_head_y.",
}


def _ppdet_table(model_names: Mapping[str, Any]) -> dict[str, str]:
    table: dict[str, str] = {}
    for ours in model_names:
        if ours.startswith("backbone."):
            theirs = ppdet_backbone_name(ours[len("backbone.") :])
            if theirs is not None:
                table["backbone." + theirs] = ours
    for theirs, ours in _PPDET_HEADS.items():
        for tensor in ("weight", "bias"):
            table[theirs + tensor] = ours + tensor
    return table


def _strip_module(key: str) -> str:
    return key.removeprefix("module.")


def _renamers(model_names: Mapping[str, Any], backbone: Any) -> list[tuple[str, Callable]]:
    """(layout, file name -> our name or None) for every layout that fits ``backbone``."""
    out: list[tuple[str, Callable[[str], str | None]]] = [("simdr", _strip_module)]
    if isinstance(backbone, HRNet):
        out.append(("paddledetection", _ppdet_table(model_names).get))
        out.append(("official", map_official_key))
        for layout in PADDLECLAS_LAYOUTS:
            table = {
                k: "backbone." + v
                for k, v in paddleclas_hrnet_name_map(backbone.width, layout).items()
            }
            out.append((layout, table.get))
    return out


#: tensors whose layout stores them transposed: PyTorch Linear weights are (out, in)
_TRANSPOSED = {"official": ("head.mlp_head_x.weight", "head.mlp_head_y.weight")}


@dataclass
class MappedState:
    """A file's tensors renamed onto a model.

    ``tensors``: our name -> array (transposes applied; float arrays of the right shape cast
    to the model's dtype); ``unexpected``: file names with no counterpart in the model;
    ``dropped``: tensors no model has (``num_batches_tracked``); ``missing``: model names the
    file does not provide; ``mismatched``: ``name: file [..] vs model [..]`` shape mismatches
    (those tensors stay in ``tensors``, see :attr:`fitting`).
    """

    layout: str
    tensors: dict[str, np.ndarray]
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    dropped: int = 0

    @property
    def title(self) -> str:
        return LAYOUT_TITLES.get(self.layout, self.layout)

    @property
    def fitting(self) -> dict[str, np.ndarray]:
        """``tensors`` without the shape mismatches."""
        bad = {m.split(":", 1)[0] for m in self.mismatched}
        return {k: v for k, v in self.tensors.items() if k not in bad}


def map_state(
    state: Mapping[str, np.ndarray], model_state: Mapping[str, Any], backbone: Any
) -> MappedState:
    """Rename ``state`` onto ``model_state``'s names with the layout that fits best.

    ``model_state`` maps our names to tensors (shapes and dtypes are read from them);
    ``backbone`` is the model's backbone (some layouts exist only for HRNet).

    Raises:
        CheckpointError: a PaddleClas SE-HRNet file (its convs need SE blocks we lack).
    """
    best: MappedState | None = None
    for layout, rename in _renamers(model_state, backbone):
        tensors: dict[str, np.ndarray] = {}
        unexpected: list[str] = []
        dropped = 0
        for key, value in state.items():
            if key.endswith("num_batches_tracked"):
                dropped += 1
                continue
            name = rename(key)
            if name is not None and name in model_state and name not in tensors:
                tensors[name] = value.T if name in _TRANSPOSED.get(layout, ()) else value
            else:
                unexpected.append(key)
        if best is None or len(tensors) > len(best.tensors):
            best = MappedState(layout, tensors, unexpected=unexpected, dropped=dropped)
    assert best is not None
    if not best.tensors:
        best.layout = "none"
    if best.layout.startswith("paddleclas"):
        se = next((k for k in state if any(m in k for m in SE_MARKERS)), None)
        if se is not None:
            raise CheckpointError(
                f"SE-HRNet weights (tensor {se!r}) do not fit a plain HRNet backbone; "
                "use HRNet_W*_C (not SE_HRNet_W*_C) weights"
            )
    best.missing = [k for k in model_state if k not in best.tensors]
    for name, value in list(best.tensors.items()):
        want = tuple(int(s) for s in model_state[name].shape)
        if tuple(value.shape) != want:
            best.mismatched.append(f"{name}: file {list(value.shape)} vs model {list(want)}")
            continue
        dtype = _dtype_of(model_state[name])
        if value.dtype != dtype and np.issubdtype(value.dtype, np.floating):
            best.tensors[name] = value.astype(dtype)
    return best


def _dtype_of(tensor: Any) -> np.dtype:
    dtype = getattr(tensor, "dtype", None)
    if isinstance(dtype, np.dtype):
        return dtype
    text = str(dtype).replace("paddle.", "")  # paddle.float32 -> float32
    try:
        return np.dtype(text)
    except TypeError:
        return np.dtype("float32")


# ============================================================================ architecture
def infer_architecture(tensors: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What a state dict in our names was built for, read from its shapes.

    Returns ``{"backbone", "head", "num_joints"}`` plus, for a SimDR head,
    ``"input_size" [W, H]`` and ``"split_ratio"``: the x head maps ``(H/4)(W/4)`` features to
    ``W*k`` bins and the y head to ``H*k``, so ``W*H = 16*in`` and ``W/H = out_x/out_y``.
    Keys are ``None`` where the shapes do not tell.
    """
    out: dict[str, Any] = {"backbone": None, "head": None, "num_joints": None}
    trans = tensors.get("backbone.transition1.0.0.weight")
    if trans is not None:
        out["backbone"] = f"hrnet_w{int(trans.shape[0])}"
    elif any(k.startswith("backbone.") for k in tensors):
        out["backbone"] = "tiny"
    final = tensors.get("head.final_layer.weight")
    if final is not None:
        out["num_joints"] = int(final.shape[0])
    wx, wy = tensors.get("head.mlp_head_x.weight"), tensors.get("head.mlp_head_y.weight")
    if wx is not None and wy is not None and wx.ndim == 2 and wy.ndim == 2:
        out["head"] = "simdr"
        features, bins_x, bins_y = int(wx.shape[0]), int(wx.shape[1]), int(wy.shape[1])
        width = math.sqrt(16.0 * features * bins_x / bins_y)
        if width > 0 and abs(width - round(width)) < 1e-6:
            width = int(round(width))
            height = 16 * features // width
            out["input_size"] = [width, height]
            out["split_ratio"] = bins_x / width
    elif final is not None:
        out["head"] = "heatmap"
    return out
