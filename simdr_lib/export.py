"""Export to a static model and run it: Paddle Inference / onnxruntime predictors.

``export_model(cfg, weights, output_dir)`` writes a self-contained deployment folder::

    output_dir/
      model.json | model.pdmodel   static graph (PaddlePaddle 3.x writes PIR json, 2.6 writes
                                   a ProgramDesc .pdmodel; ``program_format="pdmodel"`` makes 3.x
                                   write one too; the predictor detects which exists)
      model.pdiparams              weights
      model.onnx                   with onnx=True (paddle2onnx)
      infer_cfg.yml                everything deployment needs (no training config, no dataset)

The exported graph is :func:`~simdr_lib.engine.predict.probability_model` of the trained model,
so it outputs distributions (softmax over bins for SimDR / SA-SimDR, heatmaps for the heatmap
baseline) for a float32 batch ``image (N, 3, H, W)`` with a dynamic batch axis N.

``load_predictor(model_dir)`` validates the folder (missing files, a missing, malformed or
mismatched ``infer_cfg.yml``, a schema version this code does not read: one-line
:class:`ExportError` naming the file) and returns a :class:`Predictor` whose pre- and
post-processing is the evaluation's: the same affine crop and RGB normalization
(:mod:`simdr_lib.data.transforms`), the same flip test and decode
(:func:`~simdr_lib.engine.predict.predict_crops`) and the same inverse affine.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simdr_lib.config import (
    MAX_INPUT_SIDE,
    MAX_NUM_JOINTS,
    MAX_SIGMA,
    MAX_SIMDR_BINS,
    MIN_INPUT_SIDE,
    short_repr,
)
from simdr_lib.errors import ExportError

SCHEMA_VERSION = 1
INFER_CFG = "infer_cfg.yml"
MODEL_PREFIX = "model"
PIR_MODEL = "model.json"  # PaddlePaddle >= 3.0 (PIR)
LEGACY_MODEL = "model.pdmodel"  # PaddlePaddle 2.x (ProgramDesc)
PARAMS = "model.pdiparams"
ONNX_MODEL = "model.onnx"
INPUT_NAME = "image"
_EXPORT_FILES = (PIR_MODEL, LEGACY_MODEL, PARAMS, "model.pdiparams.info", ONNX_MODEL, INFER_CFG)
# Paddle Inference (PIR) passes removed when oneDNN fails on a model (see _PaddleRunner).
_ONEDNN_FALLBACK_DELETE = ("onednn_placement_pass",)


# ============================================================================ infer_cfg.yml
@dataclass(frozen=True)
class InferConfig:
    """The contents of ``infer_cfg.yml`` (validated).

    ``input_size`` is ``(W, H)``; ``mean`` / ``std`` are per channel on the 0-1 scale in
    ``channel_order`` (always ``RGB``); ``flip_pairs`` 0-based, ``skeleton`` 1-based (COCO).
    """

    input_size: tuple[int, int]
    codec: dict[str, Any]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    joint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    model_file: str
    params_file: str = PARAMS
    onnx_file: str = ""
    head: str = "simdr"
    backbone: str = ""
    channel_order: str = "RGB"
    padding: float = 1.25
    pixel_std: float = 200.0
    flip_test: bool = True
    in_vis_thresh: float = 0.01
    input_name: str = INPUT_NAME
    paddle_version: str = ""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def to_yaml_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "generator": "simdr_lib.export",
            "paddle_version": self.paddle_version,
            "model": {
                "model_file": self.model_file,
                "params_file": self.params_file,
                "onnx_file": self.onnx_file,
                "backbone": self.backbone,
                "head": self.head,
                "input_name": self.input_name,
                "input_shape": [-1, 3, self.input_size[1], self.input_size[0]],
            },
            "input_size": list(self.input_size),
            "codec": dict(self.codec),
            "preprocess": {
                "channel_order": self.channel_order,
                "scale": "1/255",
                "mean": list(self.mean),
                "std": list(self.std),
                "padding": self.padding,
                "pixel_std": self.pixel_std,
            },
            "postprocess": {"flip_test": self.flip_test, "in_vis_thresh": self.in_vis_thresh},
            "joint_names": list(self.joint_names),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "skeleton": [list(p) for p in self.skeleton],
            **({"source": self.extra} if self.extra else {}),
        }


def infer_config_from_cfg(cfg: Any, model_file: str, onnx_file: str = "") -> InferConfig:
    """The deployment description of a training :class:`~simdr_lib.config.Config`."""
    import paddle

    from simdr_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from simdr_lib.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SKELETON

    k = cfg.model.num_joints
    if k == len(COCO_KEYPOINT_NAMES):
        names, pairs, skeleton = COCO_KEYPOINT_NAMES, COCO_FLIP_PAIRS, COCO_SKELETON
    else:  # non-COCO joint sets: no names or pairs known (flip test then only mirrors)
        names, pairs, skeleton = tuple(f"joint_{i}" for i in range(k)), (), ()
    c = cfg.codec
    codec = {
        "type": c.type,
        "split_ratio": float(c.split_ratio),
        "sigma": float(c.sigma),
        "label_smoothing": float(c.label_smoothing),
        "normalize": bool(c.normalize),
        "confidence": c.confidence,
        "heatmap_stride": int(c.heatmap_stride),
        "use_dark": bool(c.use_dark),
        "flip_shift": None if c.flip_shift is None else float(c.flip_shift),
    }
    return InferConfig(
        input_size=(int(c.input_size[0]), int(c.input_size[1])),
        codec=codec,
        mean=tuple(float(v) for v in IMAGENET_MEAN),
        std=tuple(float(v) for v in IMAGENET_STD),
        joint_names=tuple(names),
        flip_pairs=tuple(tuple(p) for p in pairs),
        skeleton=tuple(tuple(p) for p in skeleton),
        model_file=model_file,
        onnx_file=onnx_file,
        head=cfg.model.head,
        backbone=cfg.model.backbone,
        padding=float(cfg.data.padding),
        pixel_std=float(cfg.data.pixel_std),
        flip_test=bool(cfg.eval.flip_test),
        in_vis_thresh=float(cfg.eval.in_vis_thresh),
        paddle_version=str(paddle.__version__),
        extra={"name": cfg.name, "config": str(cfg.source)},
    )


def _bad(path: Path, msg: str) -> ExportError:
    return ExportError(f"{path}: {msg}")


def _get(node: dict, key: str, path: Path, where: str = "") -> Any:
    if not isinstance(node, dict) or key not in node:
        raise _bad(path, f"missing key '{where}{key}' (re-export the model with simdr export)")
    return node[key]


def _section(raw: dict, key: str, path: Path, required: bool = True) -> dict:
    """The mapping ``raw[key]`` (``{}`` when absent and not ``required``)."""
    if not required and raw.get(key) is None:
        return {}
    node = _get(raw, key, path)
    if not isinstance(node, dict):
        raise _bad(path, f"'{key}' must be a mapping, got {type(node).__name__}")
    return node


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, a bool, NaN, +-inf, too large)."""
    if not _is_number(value):
        return None
    try:
        v = float(value)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def _number(
    value: Any, key: str, path: Path, low: float, high: float = math.inf, closed: str = "[]"
) -> float:
    """``value`` as a finite float in ``low..high``; ``closed`` "[]", "[)" or "(]" says which
    ends belong to the interval."""
    v = _finite(value)
    ok = v is not None and (v >= low if closed[0] == "[" else v > low)
    ok = ok and (v <= high if closed[1] == "]" else v < high)
    if not ok:
        top = "inf)" if math.isinf(high) else f"{high:g}{closed[1]}"
        interval = f"{closed[0]}{low:g}, {top}"
        raise _bad(path, f"'{key}' must be a finite number in {interval}, got {short_repr(value)}")
    return float(v)


def _flag(value: Any, key: str, path: Path) -> bool:
    if not isinstance(value, bool):
        raise _bad(path, f"'{key}' must be true or false, got {short_repr(value)}")
    return value


def _text(value: Any, key: str, path: Path) -> str:
    if not isinstance(value, str):
        raise _bad(path, f"'{key}' must be a string, got {short_repr(value)}")
    return value


def _file_name(value: Any, key: str, path: Path, empty: bool = False) -> str:
    """A file name inside the model folder (no directories: the folder is self-contained)."""
    name = _text(value, key, path)
    if empty and not name:
        return name
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise _bad(path, f"'{key}' must be a file name in the model folder, got {short_repr(name)}")
    return name


def _floats(value: Any, n: int, key: str, path: Path, positive: bool = False) -> tuple[float, ...]:
    ok = isinstance(value, list) and len(value) == n and all(_is_number(v) for v in value)
    if not ok:
        raise _bad(path, f"'{key}' must be a list of {n} numbers, got {short_repr(value)}")
    out = tuple(_finite(v) for v in value)
    for i, v in enumerate(out):
        if v is None or (positive and v <= 0):
            need = "finite numbers > 0" if positive else "finite numbers"
            raise _bad(path, f"'{key}' must be {need}, got {short_repr(value)} ('{key}[{i}]')")
    return tuple(float(v) for v in value)


def _pairs(
    value: Any, key: str, path: Path, low: int, high: int, swap: bool = False
) -> tuple[tuple[int, int], ...]:
    """Index pairs in ``[low, high]``; ``swap``: a permutation (no (i, i), no joint twice)."""
    ok = isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(_is_int(i) for i in p) for p in value
    )
    if not ok or any(not (low <= i <= high) for p in value for i in p):
        raise _bad(path, f"'{key}' must be a list of index pairs in [{low}, {high}]")
    if swap:
        seen: set[int] = set()
        for a, b in value:
            if a == b or a in seen or b in seen:
                raise _bad(
                    path,
                    f"'{key}' must swap distinct joints, each in at most one pair; "
                    f"[{a}, {b}] repeats joint {a if a == b or a in seen else b}",
                )
            seen.update((a, b))
    return tuple((int(a), int(b)) for a, b in value)


def _check_input_size(size: Any, path: Path) -> tuple[int, int]:
    ok = isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)
    if not ok or not all(MIN_INPUT_SIDE <= v <= MAX_INPUT_SIDE for v in size):
        raise _bad(
            path,
            f"'input_size' must be [W, H] (two integers in [{MIN_INPUT_SIDE}, "
            f"{MAX_INPUT_SIDE}] px), got {short_repr(size)}",
        )
    return int(size[0]), int(size[1])


def _check_codec(codec: dict, size: tuple[int, int], path: Path) -> dict[str, Any]:
    """The ``codec`` section with each present key checked (same limits as the config)."""
    kind = codec.get("type")
    if kind not in ("simdr", "sa_simdr", "heatmap"):
        raise _bad(path, f"'codec.type' must be simdr, sa_simdr or heatmap, got {short_repr(kind)}")
    # the config's rule (codec.base.check_split_ratio): k > 0 leaving >= 2 bins per axis
    k = _number(codec.get("split_ratio", 2.0), "codec.split_ratio", path, 0.0, closed="(]")
    if min(size) * k < 2:
        raise _bad(path, f"'codec.split_ratio' {k:g} leaves fewer than 2 bins for {list(size)}")
    bins = max(size) * k  # a float: int() of a huge product overflows
    if kind != "heatmap" and bins >= MAX_SIMDR_BINS + 1:
        raise _bad(
            path,
            f"'codec.split_ratio' {k:g} is too large: {bins:.0f} bins for input_size "
            f"{list(size)} (at most {MAX_SIMDR_BINS})",
        )
    sigma = codec.get("sigma")
    if sigma is not None or kind == "sa_simdr":
        _number(sigma, "codec.sigma", path, 0.0, MAX_SIGMA, "(]")
    _number(codec.get("label_smoothing", 0.1), "codec.label_smoothing", path, 0.0, 1.0, "[)")
    for name in ("normalize", "use_dark"):
        if name in codec:
            _flag(codec[name], f"codec.{name}", path)
    confidence = codec.get("confidence", "min")
    if confidence not in ("min", "max", "mean"):
        raise _bad(
            path, f"'codec.confidence' must be min, max or mean, got {short_repr(confidence)}"
        )
    stride = codec.get("heatmap_stride", 4)
    if not (_is_int(stride) and stride >= 1):
        raise _bad(
            path, f"'codec.heatmap_stride' must be an integer >= 1, got {short_repr(stride)}"
        )
    if kind == "heatmap" and (size[0] % stride or size[1] % stride or min(size) // stride < 2):
        raise _bad(
            path,
            f"'codec.heatmap_stride' {stride} must divide input_size {list(size)} and leave "
            "a heatmap of at least 2x2 px",
        )
    shift = codec.get("flip_shift")
    if shift is not None and kind != "heatmap":
        _number(shift, "codec.flip_shift", path, 0.0, int(size[0] * k), "[)")
    return dict(codec)


def _read_yaml(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(
            path, f"not UTF-8 text (byte at offset {exc.start}); re-export the model"
        ) from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise _bad(path, f"not valid YAML{at}") from None
    except Exception as exc:  # PyYAML's constructors: `2001-13-01`, `!!int x`, 5000 digits
        raise _bad(path, f"not valid YAML ({str(exc).splitlines()[0][:120]})") from None


def read_infer_config(model_dir: str | os.PathLike) -> InferConfig:
    """Read and validate ``model_dir/infer_cfg.yml``; one-line :class:`ExportError` otherwise.

    Only ``infer_cfg.yml`` is read (the model files are checked by :func:`load_predictor`).
    Numbers must be finite and within the training config's limits (:mod:`simdr_lib.config`).
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise ExportError(f"{root}: exported model directory not found (run simdr export)")
    path = root / INFER_CFG
    if not path.is_file():
        raise _bad(path, "missing; not an exported simdr model directory (run simdr export)")
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise _bad(path, "must be a YAML mapping")
    version = raw.get("schema_version")
    if not _is_int(version) or version != SCHEMA_VERSION:
        raise _bad(
            path,
            f"schema_version {short_repr(version)} is not supported (this simdr_lib reads "
            f"{SCHEMA_VERSION}); re-export the model with this version of simdr",
        )
    model = _section(raw, "model", path)
    size = _check_input_size(_get(raw, "input_size", path), path)
    codec = _check_codec(_section(raw, "codec", path), size, path)
    pre = _section(raw, "preprocess", path)
    order = _get(pre, "channel_order", path, "preprocess.")
    if order != "RGB":
        raise _bad(path, f"'preprocess.channel_order' must be RGB, got {short_repr(order)}")
    names = _get(raw, "joint_names", path)
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise _bad(path, "'joint_names' must be a non-empty list of names")
    k = len(names)
    if k > MAX_NUM_JOINTS:
        raise _bad(path, f"'joint_names' lists {k} joints (at most {MAX_NUM_JOINTS})")
    if len(set(names)) != k:
        twice = next(n for n in names if names.count(n) > 1)
        raise _bad(path, f"'joint_names' must be unique, {short_repr(twice)} appears twice")
    post = _section(raw, "postprocess", path, required=False)
    model_file = _get(model, "model_file", path, "model.")
    if model_file not in (PIR_MODEL, LEGACY_MODEL):
        raise _bad(path, f"'model.model_file' must be {PIR_MODEL} or {LEGACY_MODEL}")
    shape = model.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or shape[2:] != [size[1], size[0]]):
        raise _bad(
            path,
            f"input_size [W, H] = {list(size)} does not match model.input_shape "
            f"{short_repr(shape)} "
            "(N, C, H, W) of the exported model; re-export instead of editing",
        )
    head = model.get("head", "simdr")
    if head not in ("simdr", "heatmap"):
        raise _bad(path, f"'model.head' must be simdr or heatmap, got {short_repr(head)}")
    if (head == "heatmap") != (codec["type"] == "heatmap"):
        raise _bad(
            path, f"'model.head' {short_repr(head)} does not fit 'codec.type' {codec['type']!r}"
        )
    extra = raw.get("source") or {}
    if not isinstance(extra, dict):
        raise _bad(path, f"'source' must be a mapping, got {type(extra).__name__}")
    return InferConfig(
        input_size=size,
        codec=codec,
        mean=_floats(_get(pre, "mean", path, "preprocess."), 3, "preprocess.mean", path),
        std=_floats(_get(pre, "std", path, "preprocess."), 3, "preprocess.std", path, True),
        joint_names=tuple(names),
        flip_pairs=_pairs(raw.get("flip_pairs", []), "flip_pairs", path, 0, k - 1, swap=True),
        skeleton=_pairs(raw.get("skeleton", []), "skeleton", path, 1, k),
        model_file=model_file,
        params_file=_file_name(model.get("params_file") or PARAMS, "model.params_file", path),
        onnx_file=_file_name(model.get("onnx_file") or "", "model.onnx_file", path, empty=True),
        head=head,
        backbone=_text(model.get("backbone", ""), "model.backbone", path),
        channel_order=order,
        padding=_number(pre.get("padding", 1.25), "preprocess.padding", path, 0.0, closed="(]"),
        pixel_std=_number(
            pre.get("pixel_std", 200.0), "preprocess.pixel_std", path, 0.0, closed="(]"
        ),
        flip_test=_flag(post.get("flip_test", True), "postprocess.flip_test", path),
        in_vis_thresh=_number(
            post.get("in_vis_thresh", 0.01), "postprocess.in_vis_thresh", path, 0.0, 1.0, "[)"
        ),
        input_name=_text(model.get("input_name", INPUT_NAME), "model.input_name", path),
        paddle_version=str(raw.get("paddle_version", "")),
        schema_version=int(version),
        extra=dict(extra),
    )


def codec_from_infer_config(info: InferConfig, source: Path | str = "") -> Any:
    """The codec described by ``infer_cfg.yml`` (same builder as training)."""
    from simdr_lib.codec import build_codec
    from simdr_lib.errors import ConfigError

    c = info.codec
    try:
        return build_codec(
            c["type"],
            input_size=info.input_size,
            split_ratio=float(c.get("split_ratio", 2.0)),
            sigma=c.get("sigma"),
            label_smoothing=float(c.get("label_smoothing", 0.1)),
            normalize=bool(c.get("normalize", True)),
            confidence=str(c.get("confidence", "min")),
            stride=int(c.get("heatmap_stride", 4)),
            use_dark=bool(c.get("use_dark", False)),
            flip_shift=c.get("flip_shift"),
        )
    except (ConfigError, TypeError, ValueError) as exc:
        raise ExportError(f"{source or INFER_CFG}: bad codec section ({exc})") from None


def expected_output_shapes(info: InferConfig, source: Path | str = "") -> list[tuple[int, ...]]:
    """Per-sample output shapes the codec expects: ``[(K, Lx), (K, Ly)]`` or ``[(K, h, w)]``."""
    codec = codec_from_infer_config(info, source)
    k = info.num_joints
    if info.codec["type"] == "heatmap":
        s = int(info.codec.get("heatmap_stride", 4))
        return [(k, info.input_size[1] // s, info.input_size[0] // s)]
    return [(k, codec.num_x_bins), (k, codec.num_y_bins)]


# ============================================================================ export
def paddle_major() -> int:
    import paddle

    try:
        return int(str(paddle.__version__).split(".")[0])
    except ValueError:  # develop builds report "0.0.0"
        return 3


PROGRAM_FORMATS = ("auto", "json", "pdmodel")


def _jit_save(prob_model: Any, prefix: Path, spec: list, legacy: bool) -> None:
    """``paddle.jit.save``; ``legacy`` writes a ProgramDesc ``.pdmodel`` on PaddlePaddle 3.x."""
    import contextlib

    import paddle

    guard = paddle.pir_utils.OldIrGuard() if legacy else contextlib.nullcontext()
    with guard:
        paddle.jit.save(prob_model, str(prefix), input_spec=spec)


def export_model(
    cfg: Any,
    weights: str | os.PathLike | None = None,
    output_dir: str | os.PathLike = "output_inference",
    onnx: bool = False,
    opset_version: int = 11,
    program_format: str = "auto",
) -> Path:
    """Export ``cfg``'s model with ``weights`` to ``output_dir``; returns the folder.

    Needs only the config and the weights (never the dataset). The graph is the probability
    model (softmax included) with input ``image`` ``[None, 3, H, W]`` float32 (dynamic batch).
    Files of an earlier export in ``output_dir`` are replaced together (the new files are
    written to a temporary sibling first), so the folder never mixes two exports.

    Args:
        program_format: ``auto`` (what this Paddle writes: PIR ``model.json`` on 3.x,
            ``model.pdmodel`` on 2.x), ``json`` (PIR; PaddlePaddle 3.x only) or ``pdmodel``
            (ProgramDesc; on 3.x written under ``paddle.pir_utils.OldIrGuard``), the format
            a PaddlePaddle 2.6 Inference runtime (e.g. the 2.6 GPU wheel) can read.
        onnx: also write ``model.onnx`` with paddle2onnx, checked against the Paddle model.

    Raises:
        ExportError: no weights given, unknown / unsupported format, ONNX requested but
            unavailable or failing; CheckpointError for weights that do not fit the model.
    """
    import tempfile

    import paddle

    from simdr_lib.engine.predict import dynamic_prob_fn, probability_model
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    weights = str(weights or cfg.weights or "")
    if not weights:
        raise ExportError(f"{cfg.source}: no weights given; pass -o weights=PATH.pdparams")
    if program_format not in PROGRAM_FORMATS:
        raise ExportError(f"export format must be one of {'|'.join(PROGRAM_FORMATS)}")
    major = paddle_major()
    if program_format == "json" and major < 3:
        raise ExportError(
            f"PaddlePaddle {paddle.__version__} cannot write the PIR model.json "
            "(PaddlePaddle >= 3.0 does); use --format pdmodel"
        )
    legacy = program_format == "pdmodel" and major >= 3
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: output path exists and is not a directory")
    if onnx:
        _import_paddle2onnx()  # fail before the (slow) export when it cannot work

    previous = paddle.get_device()
    paddle.set_device("cpu")
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        model = model_from_config(cfg)
        loaded = load_model_weights(model, weights, cfg=cfg)
        prob_model = probability_model(model, cfg.model.head)
        prob_model.eval()
        w, h = (int(v) for v in cfg.codec.input_size)
        spec = [paddle.static.InputSpec([None, 3, h, w], "float32", INPUT_NAME)]
        tmp.mkdir(parents=True)
        _jit_save(prob_model, tmp / MODEL_PREFIX, spec, legacy)
        model_file = PIR_MODEL if (tmp / PIR_MODEL).is_file() else LEGACY_MODEL
        if not (tmp / model_file).is_file() or not (tmp / PARAMS).is_file():
            found = sorted(p.name for p in tmp.iterdir())
            raise ExportError(f"{out}: paddle.jit.save wrote no model file (found {found})")
        onnx_file, extra = "", {"weights": weights, "weights_layout": loaded.layout}
        if loaded.meta.get("source_file"):  # a `simdr convert` file: where it came from
            extra["converted_from"] = str(loaded.meta["source_file"])
        extra["weights_conventions"] = loaded.conventions
        if onnx:
            ref = dynamic_prob_fn(prob_model)
            with tempfile.TemporaryDirectory(prefix="simdr_pir_") as pir_dir:
                source = tmp / model_file
                if legacy:  # paddle2onnx 2.x converts from PIR: give it the PIR program
                    _jit_save(prob_model, Path(pir_dir) / MODEL_PREFIX, spec, False)
                    source = Path(pir_dir) / PIR_MODEL
                diff = _export_onnx(
                    source, source.with_name(PARAMS), tmp / ONNX_MODEL, opset_version, ref
                )
            onnx_file = ONNX_MODEL
            extra["onnx_max_abs_diff"] = None if diff is None else float(f"{diff:.3g}")
        info = infer_config_from_cfg(cfg, model_file, onnx_file)
        info = replace(info, extra={**info.extra, **extra})
        text = yaml.safe_dump(info.to_yaml_dict(), sort_keys=False, default_flow_style=None)
        (tmp / INFER_CFG).write_text(text, encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        for name in _EXPORT_FILES:  # drop the previous export's files, then move ours in
            if (out / name).exists():
                (out / name).unlink()
        for item in tmp.iterdir():
            os.replace(item, out / item.name)
    except ExportError as exc:  # name the user's folder, not the temporary one
        raise ExportError(str(exc).replace(str(tmp), str(out))) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        paddle.set_device(previous)
    return out


def _import_paddle2onnx() -> Any:
    """``paddle2onnx`` or a one-line ExportError saying what to install for this Paddle."""
    import paddle

    major = paddle_major()
    want = "paddle2onnx>=2" if major >= 3 else "'paddle2onnx<2' (1.x)"
    try:
        import paddle2onnx
    except ImportError:
        raise ExportError(
            f"ONNX export needs paddle2onnx: pip install {want} onnxruntime "
            f"(or pip install -e '.[onnx]'); PaddlePaddle {paddle.__version__} is installed"
        ) from None
    except Exception as exc:  # paddle2onnx 2.x raises ValueError on PaddlePaddle 2.x
        raise ExportError(
            f"paddle2onnx cannot run with PaddlePaddle {paddle.__version__} "
            f"({str(exc).split('. ')[0][:120]}); install {want}"
        ) from None
    return paddle2onnx


_P2O_SCRIPT = """
import sys
import paddle2onnx
model, params, save, opset = sys.argv[1:5]
paddle2onnx.export(model, params, save_file=save, opset_version=int(opset),
                   enable_onnx_checker=True)
"""


def _pir_for_paddle2onnx(model_json: Path, folder: Path) -> Path:
    """Copy of a PIR ``model.json`` whose interpolate ``scale`` arrays hold float32 values.

    PaddlePaddle 3.x serializes the ``scale`` of ``nearest_interp`` / ``bilinear_interp`` (HRNet's
    ``Upsample(scale_factor=2)``) as float64 attributes, which its own op verifier requires,
    while paddle2onnx 2.1's PIR parser accepts only float32 there ("the 0th elementwise MUST
    be ir::FloatAttribute") and then terminates the process. The values (powers of two) are
    exact in both; only the copy given to paddle2onnx is changed.
    """
    import json

    program = json.loads(model_json.read_text(encoding="utf-8"))
    changed = 0

    def walk(node: Any) -> None:
        nonlocal changed
        if isinstance(node, dict):
            if str(node.get("#", "")).endswith("_interp") and isinstance(node.get("A"), list):
                for attr in node["A"]:
                    at = attr.get("AT") if isinstance(attr, dict) else None
                    if attr.get("N") == "scale" and isinstance(at, dict):
                        for item in at.get("D") or []:
                            if isinstance(item, dict) and item.get("#") == "0.a_f64":
                                item["#"] = "0.a_f32"
                                changed += 1
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(program)
    if not changed:
        return model_json
    patched = folder / model_json.name
    patched.write_text(json.dumps(program, separators=(",", ":")), encoding="utf-8")
    return patched


def _p2o_reason(text: str) -> str:
    """The error line of paddle2onnx's output (ANSI colours and whitespace removed)."""
    import re

    clean = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [ln.strip() for ln in clean.splitlines() if ln.strip()]
    picked = next((ln.split("[ERROR]", 1)[1] for ln in lines if "[ERROR]" in ln), "")
    if not picked:
        picked = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
    return " ".join(picked.split())[:220]


def _export_onnx(
    model_path: Path, params_path: Path, target: Path, opset_version: int, reference: Any = None
) -> float | None:
    """paddle2onnx ``model_path`` -> ``target``; returns the max abs difference checked.

    paddle2onnx runs in a child process: on unsupported graphs it terminates its process
    instead of raising, which becomes a one-line ExportError here. With ``reference``
    (``x -> tuple of arrays``, the dygraph probability model) and onnxruntime installed, the
    ONNX outputs are compared on a random batch and an ONNX file that differs by more than
    1e-4 is rejected (None is returned when onnxruntime is missing).
    """
    import subprocess
    import sys
    import tempfile

    p2o = _import_paddle2onnx()
    version = getattr(p2o, "__version__", "?")
    with tempfile.TemporaryDirectory(prefix="simdr_p2o_") as work:
        source = model_path
        if model_path.suffix == ".json":
            source = _pir_for_paddle2onnx(model_path, Path(work))
        cmd = [sys.executable, "-c", _P2O_SCRIPT, str(source), str(params_path)]
        cmd += [str(target), str(opset_version)]
        env = {**os.environ, "GLOG_minloglevel": "2"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not target.is_file():
        target.unlink(missing_ok=True)
        reason = _p2o_reason(proc.stdout + "\n" + proc.stderr)
        raise ExportError(
            f"{target}: paddle2onnx {version} cannot convert this model "
            f"(exit {proc.returncode}: {reason})"
        )
    if reference is None:
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    h, w = (int(v) for v in inp.shape[2:])
    x = np.random.default_rng(0).standard_normal((2, 3, h, w)).astype(np.float32)
    got = session.run(None, {inp.name: x})
    want = reference(x)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want))
    if len(got) != len(want) or not diff <= 1e-4:
        target.unlink(missing_ok=True)
        raise ExportError(
            f"{target}: paddle2onnx {version} produced an ONNX model whose outputs differ "
            f"from the Paddle model by {diff:.3g} (> 1e-4); not written"
        )
    return diff


# ============================================================================ predictors
def _check_model_files(root: Path, info: InferConfig, backend: str) -> tuple[Path, Path]:
    """Paths of the model + params (paddle) or the .onnx file (onnx); ExportError if missing."""
    if backend == "onnx":
        onnx_path = root / (info.onnx_file or ONNX_MODEL)
        if not onnx_path.is_file():
            raise _bad(
                onnx_path,
                "ONNX model file missing (export with simdr export --onnx, or use "
                "--backend paddle)",
            )
        return onnx_path, onnx_path
    model_path = root / info.model_file
    if not model_path.is_file():
        other = LEGACY_MODEL if info.model_file == PIR_MODEL else PIR_MODEL
        hint = ""
        if (root / other).exists():
            hint = f" ({other} is there: infer_cfg.yml does not match the folder)"
        raise _bad(model_path, f"model file missing{hint}; re-export the model")
    params_path = root / info.params_file
    if not params_path.is_file():
        raise _bad(params_path, "weights file missing; re-export the model")
    if info.model_file == PIR_MODEL and paddle_major() < 3:
        import paddle

        raise _bad(
            model_path,
            f"is a PaddlePaddle 3 (PIR) export that PaddlePaddle {paddle.__version__} cannot "
            f"read; re-export with this Paddle (it writes {LEGACY_MODEL}) or upgrade Paddle",
        )
    return model_path, params_path


class _PaddleRunner:
    """Paddle Inference predictor: ``run(x (N,3,H,W) f32) -> tuple of float32 arrays``."""

    def __init__(
        self,
        model_path: Path,
        params_path: Path,
        device: str,
        cpu_threads: int,
        use_mkldnn: bool,
        sample: np.ndarray,
    ) -> None:
        self.model_path = model_path
        self.params_path = params_path
        self.device = device
        self.cpu_threads = cpu_threads
        errors: list[str] = []
        variants = ["onednn", "onednn-fallback", "plain"] if use_mkldnn else ["plain"]
        if device != "cpu":
            variants = ["gpu"]
        for variant in variants:
            try:
                self._build(variant)
            except Exception as exc:
                errors.append(f"{variant}: {type(exc).__name__}: {_first_line(exc)}")
                continue
            shape = self.input_shape()  # [0] in Paddle 3 before the first reshape
            if len(shape) == 4 and shape[2] > 0 and shape[2:] != list(sample.shape[2:]):
                raise _InputMismatch(shape)
            try:
                self.run(sample)  # oneDNN problems show at the first run, not at creation
                self.variant = variant
                return
            except Exception as exc:  # Paddle raises many types (NotImplementedError, ...)
                errors.append(f"{variant}: {type(exc).__name__}: {_first_line(exc)}")
        h, w = sample.shape[2:]
        raise ExportError(
            f"{model_path}: Paddle Inference cannot run this model on input [N, 3, {h}, {w}] "
            f"(input_size of {INFER_CFG}) ({'; '.join(errors)})"
        )

    def _build(self, variant: str) -> None:
        from paddle import inference as pi

        config = pi.Config(str(self.model_path), str(self.params_path))
        pir = self.model_path.suffix == ".json"
        if variant == "gpu":
            dev_id = int(self.device.split(":")[1]) if ":" in self.device else 0
            config.enable_use_gpu(256, dev_id)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(int(self.cpu_threads))
            if variant.startswith("onednn"):
                config.enable_mkldnn()
                config.set_mkldnn_cache_capacity(16)  # bounded cache over input shapes
                if variant == "onednn-fallback":
                    # PaddlePaddle 3.3 (PIR) oneDNN kernels reject the nearest-interpolate
                    # attribute of our backbones (ConvertPirAttribute2RuntimeAttribute,
                    # ArrayAttribute<DoubleAttribute>); without the placement pass the
                    # oneDNN fusions still run and the interpolate stays a plain CPU op.
                    for name in _ONEDNN_FALLBACK_DELETE:
                        config.delete_pass(name)
            else:
                config.disable_mkldnn()
        config.switch_ir_optim(True)
        if not pir:  # memory_optimize_pass is not registered for PIR programs in 3.x
            config.enable_memory_optim()
        config.disable_glog_info()
        self.predictor = pi.create_predictor(config)
        self.input_name = self.predictor.get_input_names()[0]
        self.output_names = list(self.predictor.get_output_names())
        self.input_handle = self.predictor.get_input_handle(self.input_name)
        self.output_handles = [self.predictor.get_output_handle(n) for n in self.output_names]

    def input_shape(self) -> list[int]:
        return [int(v) for v in self.input_handle.shape()]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.input_handle.reshape(list(x.shape))
        self.input_handle.copy_from_cpu(x)
        self.predictor.run()
        return tuple(h.copy_to_cpu() for h in self.output_handles)

    def describe(self) -> str:
        import paddle

        where = self.device if self.variant == "gpu" else f"cpu threads={self.cpu_threads}"
        return f"paddle-inference {paddle.__version__} {where} {self.variant}"


class _OnnxRunner:
    """onnxruntime session with the same ``run`` interface."""

    def __init__(self, onnx_path: Path, device: str, cpu_threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError(
                "onnxruntime is not installed: pip install onnxruntime (or pip install -e "
                "'.[onnx]'), or use --backend paddle"
            ) from None
        self.ort = ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(cpu_threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device != "cpu":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ExportError(
                    f"device={device}: this onnxruntime has no CUDA provider "
                    "(install onnxruntime-gpu) or use device=cpu"
                )
            dev_id = int(device.split(":")[1]) if ":" in device else 0
            providers = [("CUDAExecutionProvider", {"device_id": dev_id}), "CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(onnx_path), opts, providers=providers)
        except Exception as exc:
            raise _bad(onnx_path, f"onnxruntime cannot load it ({_first_line(exc)})") from None
        self.device = device
        self.cpu_threads = cpu_threads
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def input_shape(self) -> list[int]:
        return [v if isinstance(v, int) else -1 for v in self.session.get_inputs()[0].shape]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return tuple(self.session.run(self.output_names, {self.input_name: x}))

    def describe(self) -> str:
        where = self.device if self.device != "cpu" else f"cpu threads={self.cpu_threads}"
        return f"onnxruntime {self.ort.__version__} {where}"


class _InputMismatch(Exception):
    """The static model's input (N, C, H, W) differs from infer_cfg.yml's input_size."""

    def __init__(self, shape: list[int]) -> None:
        super().__init__(str(shape))
        self.shape = shape


def _first_line(exc: BaseException) -> str:
    """The most telling line of an exception message, whitespace-collapsed (one line)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = next((ln for ln in lines if "Error" in ln or "error" in ln), lines[0] if lines else "")
    return " ".join(text.split())[:200]


class Predictor:
    """An exported model ready to run (Paddle Inference or onnxruntime).

    Attributes:
        info: the validated :class:`InferConfig`. codec: its codec.
        batch_size: most crops per backend run; larger inputs are split.
        runs: number of backend runs so far (each is one batch).
    """

    def __init__(self, model_dir: Path, info: InferConfig, runner: Any, batch_size: int) -> None:
        self.model_dir = model_dir
        self.info = info
        self.codec = codec_from_infer_config(info, model_dir / INFER_CFG)
        self.runner = runner
        self.batch_size = max(1, int(batch_size))
        self.runs = 0

    @property
    def input_size(self) -> tuple[int, int]:
        return self.info.input_size

    @property
    def backend(self) -> str:
        return self.runner.describe()

    def predict_crops(self, images: np.ndarray) -> tuple[np.ndarray, ...]:
        """Distributions for crops ``(N, 3, H, W)`` float32 (normalized): the prob tuple.

        SimDR: ``(x (N, K, W*k), y (N, K, H*k))`` softmax outputs; heatmap: ``(hm,)``.
        Usable directly as the ``prob_fn`` of :func:`simdr_lib.engine.predict.predict_crops`.
        """
        x = np.asarray(images, dtype=np.float32)
        w, h = self.input_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, h, w):
            raise ValueError(f"crops must be (N, 3, {h}, {w}) float32, got {x.shape}")
        if x.shape[0] == 0:
            shapes = expected_output_shapes(self.info)
            return tuple(np.zeros((0, *s), dtype=np.float32) for s in shapes)
        parts = []
        for start in range(0, x.shape[0], self.batch_size):
            self.runs += 1
            parts.append(self.runner.run(x[start : start + self.batch_size]))
        if len(parts) == 1:
            return tuple(np.asarray(p, dtype=np.float32) for p in parts[0])
        return tuple(np.concatenate(ps).astype(np.float32, copy=False) for ps in zip(*parts))

    __call__ = predict_crops

    def decode_crops(
        self, images: np.ndarray, flip_test: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """Keypoints ``(N, K, 2)`` crop px, scores ``(N, K)`` and probs (evaluation's path)."""
        from simdr_lib.engine.predict import predict_crops

        flip = self.info.flip_test if flip_test is None else flip_test
        return predict_crops(self.predict_crops, images, self.codec, flip, self.info.flip_pairs)

    def prepare_crops(
        self, image_rgb: np.ndarray, boxes_xywh: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Affine crops of the people of one image.

        Returns ``(crops (N, 3, H, W) float32 normalized, centers (N, 2), scales (N, 2))``.
        ``boxes_xywh`` None or empty means one box over the whole image.
        """
        return crop_people(
            image_rgb,
            boxes_xywh,
            self.input_size,
            self.info.mean,
            self.info.std,
            self.info.padding,
            self.info.pixel_std,
        )

    def predict_image(
        self,
        image_rgb: np.ndarray,
        boxes_xywh: np.ndarray | Sequence[Sequence[float]] | None = None,
        flip_test: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-down keypoints of all people of one image, in one batch.

        Args:
            image_rgb: (H, W, 3) uint8 RGB (grayscale (H, W) and RGBA are accepted).
            boxes_xywh: (N, 4) person boxes ``[x, y, w, h]`` px; None / empty = whole image.
            flip_test: None uses ``infer_cfg.yml``'s ``postprocess.flip_test``.

        Returns:
            ``(keypoints_img (N, K, 2) float64 image px, scores (N, K) float32 in [0, 1])``.
        """
        from simdr_lib.data.transforms import crop_to_image

        crops, centers, scales = self.prepare_crops(image_rgb, boxes_xywh)
        kps, scores, _ = self.decode_crops(crops, flip_test)
        kps_img = crop_to_image(
            kps, centers, scales, self.input_size, pixel_std=self.info.pixel_std
        )
        return kps_img, scores


def crop_people(
    image_rgb: np.ndarray,
    boxes_xywh: np.ndarray | Sequence[Sequence[float]] | None,
    input_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    padding: float = 1.25,
    pixel_std: float = 200.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation's crop for every box of one image (no rotation, box padded to the aspect).

    Returns ``(crops (N, 3, H, W) float32, centers (N, 2), scales (N, 2))``.
    """
    from simdr_lib.data import transforms as T
    from simdr_lib.data.images import to_rgb_uint8

    image = to_rgb_uint8(np.asarray(image_rgb), "image array", channel_order="RGB")
    h_img, w_img = image.shape[:2]
    boxes = np.zeros((0, 4)) if boxes_xywh is None else np.asarray(boxes_xywh, np.float64)
    boxes = boxes.reshape(-1, 4)
    if boxes.shape[0] == 0:
        boxes = np.array([[0.0, 0.0, float(w_img), float(h_img)]])
    size = (int(input_size[0]), int(input_size[1]))
    centers, scales = T.box_to_center_scale(boxes, size[0] / size[1], padding, pixel_std)
    mats = T.affine_matrices(centers, scales, 0.0, size, pixel_std)
    crops = np.stack(
        [T.normalize_image(T.warp_image(image, m, size), mean, std) for m in mats]
    ).astype(np.float32, copy=False)
    return crops, centers, scales


def load_predictor(
    model_dir: str | os.PathLike,
    device: str = "cpu",
    batch_size: int = 32,
    cpu_threads: int | None = None,
    use_mkldnn: bool = True,
    backend: str = "paddle",
) -> Predictor:
    """Validate an exported folder and create its predictor.

    Args:
        model_dir: folder written by :func:`export_model`.
        device: ``cpu``, ``gpu`` or ``gpu:N``.
        batch_size: most crops per run (a whole image's people are one run up to this).
        cpu_threads: CPU threads. Default: 1 for Paddle Inference (PaddleDetection's deploy
            default; with oneDNN it was as fast or faster than 2 threads for demo_tiny and
            HRNet-W32 on the 2-core test machine, see benchmarks/deploy_speed.py), all cores
            for onnxruntime.
        use_mkldnn: oneDNN on CPU (Paddle backend); when the model's first run fails with it,
            a reduced oneDNN pipeline and then plain CPU kernels are tried.
        backend: ``paddle`` (Paddle Inference) or ``onnx`` (onnxruntime).

    Raises:
        ExportError: missing folder / model / params / onnx file, missing or malformed
            ``infer_cfg.yml``, unsupported schema version, or an ``infer_cfg.yml`` that does
            not match the model (input shape or output sizes); one line naming the file.
    """
    from simdr_lib.errors import ConfigError

    if backend not in ("paddle", "onnx"):
        raise ExportError(f"backend must be paddle or onnx, got {backend!r}")
    root = Path(model_dir)
    info = read_infer_config(root)
    cfg_path = root / INFER_CFG
    model_path, params_path = _check_model_files(root, info, backend)
    if device == "auto":
        device = "cpu"
    if device != "cpu" and backend == "paddle":
        from simdr_lib.device import resolve_device

        try:
            device = resolve_device(device)
        except ConfigError as exc:
            raise ExportError(str(exc)) from None
    if cpu_threads:
        threads = int(cpu_threads)
    else:  # see the docstring: 1 for Paddle Inference, all cores for onnxruntime
        threads = 1 if backend == "paddle" else int(os.cpu_count() or 1)
    w, h = info.input_size
    sample = np.zeros((1, 3, h, w), dtype=np.float32)
    try:
        if backend == "onnx":
            runner: Any = _OnnxRunner(model_path, device, threads)
            shape = runner.input_shape()
        else:
            runner = _paddle_runner(model_path, params_path, device, threads, use_mkldnn, sample)
            shape = runner.input_shape()
        known = len(shape) == 4 and shape[2] > 0
        if known and ([shape[2], shape[3]] != [h, w] or shape[1] not in (3, -1)):
            raise _InputMismatch(shape)
    except _InputMismatch as exc:
        raise _bad(
            cfg_path,
            f"input_size [W, H] = [{w}, {h}] does not match the model's input "
            f"{exc.shape} (N, C, H, W) in {model_path.name}; re-export the model",
        ) from None
    try:
        outs = runner.run(sample)
    except Exception as exc:
        raise ExportError(f"{model_path}: cannot run the model ({_first_line(exc)})") from None
    got = [tuple(o.shape[1:]) for o in outs]
    want = expected_output_shapes(info, cfg_path)
    if got != want:
        raise _bad(
            cfg_path,
            f"does not match the model: outputs per image {got}, infer_cfg.yml "
            f"(joints {info.num_joints}, codec {info.codec['type']}, input_size "
            f"{list(info.input_size)}, split_ratio {info.codec.get('split_ratio')}) "
            f"implies {want}",
        )
    return Predictor(root, info, runner, batch_size)


class _DynamicRunner:
    """The dygraph probability model behind the same ``run`` interface (no export needed)."""

    def __init__(self, prob_model: Any, input_size: tuple[int, int], device: str) -> None:
        from simdr_lib.engine.predict import dynamic_prob_fn

        self.fn = dynamic_prob_fn(prob_model)
        self.input_size = input_size
        self.device = device

    def input_shape(self) -> list[int]:
        return [-1, 3, self.input_size[1], self.input_size[0]]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.fn(np.ascontiguousarray(x, dtype=np.float32)))

    def describe(self) -> str:
        import paddle

        return f"paddle {paddle.__version__} dygraph {self.device}"


def predictor_from_config(
    cfg: Any, weights: str | os.PathLike | None = None, batch_size: int | None = None
) -> Predictor:
    """A :class:`Predictor` over the dynamic model of ``cfg`` + ``weights`` (no export).

    Same crop / flip test / decode as the exported predictor; the model runs in dygraph on
    ``cfg.device``.
    """
    from simdr_lib.device import set_device
    from simdr_lib.engine.predict import probability_model
    from simdr_lib.errors import ConfigError
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    weights = str(weights or cfg.weights or "")
    if not weights:
        raise ConfigError(f"{cfg.source}: no weights given; pass -o weights=PATH.pdparams")
    device = set_device(cfg.device)
    model = model_from_config(cfg)
    load_model_weights(model, weights, cfg=cfg)
    prob_model = probability_model(model, cfg.model.head)
    prob_model.eval()
    info = infer_config_from_cfg(cfg, model_file="")
    runner = _DynamicRunner(prob_model, info.input_size, device)
    return Predictor(Path(weights).parent, info, runner, batch_size or cfg.eval.batch_size)


def evaluate_exported(
    cfg: Any,
    predictor: Predictor,
    use_gt_bbox: bool | None = None,
    flip_test: bool | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """COCO keypoint AP of an exported model on ``cfg``'s val split (evaluation's pipeline).

    The crops, flip test, decode, rescoring, OKS-NMS and COCOeval are the ones of
    :func:`simdr_lib.engine.model_eval.evaluate_model`; only the network is the predictor's.
    """
    from simdr_lib.data.loaders import eval_records, load_split
    from simdr_lib.engine.model_eval import evaluate_predictions, predict_records

    data = load_split(cfg, "val")
    records = eval_records(cfg, data, use_gt_bbox)
    flip = cfg.eval.flip_test if flip_test is None else flip_test
    preds = predict_records(cfg, predictor.predict_crops, records, predictor.codec, flip, progress)
    return evaluate_predictions(cfg, data, preds)


def _paddle_runner(
    model_path: Path,
    params_path: Path,
    device: str,
    threads: int,
    use_mkldnn: bool,
    sample: np.ndarray,
) -> _PaddleRunner:
    try:
        import paddle.inference  # noqa: F401
    except ImportError:
        raise ExportError("PaddlePaddle is not installed (pip install -e '.[cpu]')") from None
    return _PaddleRunner(model_path, params_path, device, threads, use_mkldnn, sample)
