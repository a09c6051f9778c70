"""``infer_cfg.yml``: what deployment needs to know about an exported model, validated.

:func:`infer_config_from_cfg` describes a training config, :func:`infer_config_yaml` writes it
and :func:`read_infer_config` reads it back (a missing, malformed or mismatched file, or a
schema version this code does not read: one-line :class:`ExportError` naming the file). The
codec section is the training config's :class:`~simdr_lib.config.CodecConfig`
(:mod:`simdr_lib.deploy.codec_section`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from simdr_lib.config import MAX_NUM_JOINTS, CodecConfig, short_repr
from simdr_lib.deploy import checks
from simdr_lib.deploy.codec_section import codec_from_section, codec_section
from simdr_lib.deploy.layout import (
    INFER_CFG,
    INPUT_NAME,
    LEGACY_MODEL,
    PARAMS,
    PIR_MODEL,
    file_error,
)
from simdr_lib.errors import ExportError

if TYPE_CHECKING:
    from simdr_lib.codec.base import Codec

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class InferConfig:
    """The contents of ``infer_cfg.yml`` (validated).

    ``codec_settings`` holds the codec and the input size ``(W, H)``; ``mean`` / ``std`` are
    per channel on the 0-1 scale in ``channel_order`` (always ``RGB``); ``flip_pairs``
    0-based, ``skeleton`` 1-based (COCO).
    """

    codec_settings: CodecConfig
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

    @property
    def input_size(self) -> tuple[int, int]:
        """``(W, H)`` of the network input in px."""
        w, h = self.codec_settings.input_size
        return int(w), int(h)

    @property
    def codec(self) -> dict[str, Any]:
        """The ``codec`` section as written to ``infer_cfg.yml`` (``type``, ``split_ratio`` ...)."""
        return codec_section(self.codec_settings)

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
            "codec": self.codec,
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


def infer_config_yaml(info: InferConfig) -> str:
    """The text of ``infer_cfg.yml`` for ``info`` (block style, flow-style lists)."""
    return yaml.safe_dump(info.to_yaml_dict(), sort_keys=False, default_flow_style=None)


def infer_config_from_cfg(cfg: Any, model_file: str, onnx_file: str = "") -> InferConfig:
    """The deployment description of a training :class:`~simdr_lib.config.Config`."""
    import paddle

    from simdr_lib.data import dataset_kinds as kinds
    from simdr_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    k, dataset = cfg.model.num_joints, cfg.data.dataset
    if k == len(kinds.joint_names_for(dataset)):  # COCO 17 or MPII 16 joints
        names = kinds.joint_names_for(dataset)
        pairs, skeleton = kinds.flip_pairs_for(dataset), kinds.skeleton_for(dataset)
    else:  # other joint sets: no names or pairs known (flip test then only mirrors)
        names, pairs, skeleton = tuple(f"joint_{i}" for i in range(k)), (), ()
    return InferConfig(
        codec_settings=cfg.codec,
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


def read_infer_config(model_dir: str | os.PathLike) -> InferConfig:
    """Read and validate ``model_dir/infer_cfg.yml``; one-line :class:`ExportError` otherwise.

    Only ``infer_cfg.yml`` is read (the model files are checked by
    :func:`~simdr_lib.deploy.predictor.load_predictor`). Numbers must be finite and within the
    training config's limits (:mod:`simdr_lib.config`).
    """
    path, raw = _open_infer_config(Path(model_dir))
    model = checks.section(raw, "model", path)
    size = checks.input_size(checks.get(raw, "input_size", path), path)
    codec = codec_from_section(checks.section(raw, "codec", path), size, path)
    pre = checks.section(raw, "preprocess", path)
    order = checks.get(pre, "channel_order", path, "preprocess.")
    if order != "RGB":
        raise file_error(path, f"'preprocess.channel_order' must be RGB, got {short_repr(order)}")
    names = _joint_names(checks.get(raw, "joint_names", path), path)
    post = checks.section(raw, "postprocess", path, required=False)
    files = _model_section(model, codec, path)
    extra = raw.get("source") or {}
    if not isinstance(extra, dict):
        raise file_error(path, f"'source' must be a mapping, got {type(extra).__name__}")
    k = len(names)
    return InferConfig(
        codec_settings=codec,
        joint_names=names,
        flip_pairs=checks.pairs(raw.get("flip_pairs", []), "flip_pairs", path, 0, k - 1, True),
        skeleton=checks.pairs(raw.get("skeleton", []), "skeleton", path, 1, k),
        **files,
        **_preprocess(pre, path),
        **_postprocess(post, path),
        paddle_version=str(raw.get("paddle_version", "")),
        schema_version=SCHEMA_VERSION,
        extra=dict(extra),
    )


def _open_infer_config(root: Path) -> tuple[Path, dict]:
    """``(path, mapping)`` of ``root/infer_cfg.yml`` with a schema version this code reads."""
    if not root.is_dir():
        raise ExportError(f"{root}: exported model directory not found (run simdr export)")
    path = root / INFER_CFG
    if not path.is_file():
        raise file_error(path, "missing; not an exported simdr model directory (run simdr export)")
    raw = checks.read_yaml(path)
    if not isinstance(raw, dict):
        raise file_error(path, "must be a YAML mapping")
    version = raw.get("schema_version")
    if not checks.is_int(version) or version != SCHEMA_VERSION:
        raise file_error(
            path,
            f"schema_version {short_repr(version)} is not supported (this simdr_lib reads "
            f"{SCHEMA_VERSION}); re-export the model with this version of simdr",
        )
    return path, raw


def _joint_names(names: Any, path: Path) -> tuple[str, ...]:
    """A non-empty list of distinct joint names, at most the config's joint limit."""
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise file_error(path, "'joint_names' must be a non-empty list of names")
    k = len(names)
    if k > MAX_NUM_JOINTS:
        raise file_error(path, f"'joint_names' lists {k} joints (at most {MAX_NUM_JOINTS})")
    if len(set(names)) != k:
        twice = next(n for n in names if names.count(n) > 1)
        raise file_error(path, f"'joint_names' must be unique, {short_repr(twice)} appears twice")
    return tuple(names)


def _model_section(model: dict, codec: CodecConfig, path: Path) -> dict[str, Any]:
    """The ``model`` section's fields of :class:`InferConfig`, checked against the codec."""
    model_file = checks.get(model, "model_file", path, "model.")
    if model_file not in (PIR_MODEL, LEGACY_MODEL):
        raise file_error(path, f"'model.model_file' must be {PIR_MODEL} or {LEGACY_MODEL}")
    w, h = codec.input_size
    shape = model.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or shape[2:] != [h, w]):
        raise file_error(
            path,
            f"input_size [W, H] = {[w, h]} does not match model.input_shape "
            f"{short_repr(shape)} "
            "(N, C, H, W) of the exported model; re-export instead of editing",
        )
    head = model.get("head", "simdr")
    if head not in ("simdr", "heatmap"):
        raise file_error(path, f"'model.head' must be simdr or heatmap, got {short_repr(head)}")
    if (head == "heatmap") != (codec.type == "heatmap"):
        raise file_error(
            path, f"'model.head' {short_repr(head)} does not fit 'codec.type' {codec.type!r}"
        )
    return {
        "model_file": model_file,
        "params_file": checks.file_name(
            model.get("params_file") or PARAMS, "model.params_file", path
        ),
        "onnx_file": checks.file_name(
            model.get("onnx_file") or "", "model.onnx_file", path, empty=True
        ),
        "head": head,
        "backbone": checks.text(model.get("backbone", ""), "model.backbone", path),
        "input_name": checks.text(model.get("input_name", INPUT_NAME), "model.input_name", path),
    }


def _preprocess(pre: dict, path: Path) -> dict[str, Any]:
    """The ``preprocess`` section's fields of :class:`InferConfig` (channel order checked)."""
    get = checks.get
    return {
        "channel_order": pre["channel_order"],
        "mean": checks.floats(get(pre, "mean", path, "preprocess."), 3, "preprocess.mean", path),
        "std": checks.floats(
            get(pre, "std", path, "preprocess."), 3, "preprocess.std", path, positive=True
        ),
        "padding": checks.number(
            pre.get("padding", 1.25), "preprocess.padding", path, 0.0, closed="(]"
        ),
        "pixel_std": checks.number(
            pre.get("pixel_std", 200.0), "preprocess.pixel_std", path, 0.0, closed="(]"
        ),
    }


def _postprocess(post: dict, path: Path) -> dict[str, Any]:
    """The ``postprocess`` section's fields of :class:`InferConfig` (all optional)."""
    return {
        "flip_test": checks.flag(post.get("flip_test", True), "postprocess.flip_test", path),
        "in_vis_thresh": checks.number(
            post.get("in_vis_thresh", 0.01), "postprocess.in_vis_thresh", path, 0.0, 1.0, "[)"
        ),
    }


def codec_from_infer_config(info: InferConfig, source: Path | str = "") -> Codec:
    """The codec described by ``infer_cfg.yml`` (same builder as training)."""
    from simdr_lib.errors import ConfigError
    from simdr_lib.factory import codec_from_settings

    try:
        return codec_from_settings(info.codec_settings)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ExportError(f"{source or INFER_CFG}: bad codec section ({exc})") from None


def expected_output_shapes(info: InferConfig, source: Path | str = "") -> list[tuple[int, ...]]:
    """Per-sample output shapes the codec expects: ``[(K, Lx), (K, Ly)]`` or ``[(K, h, w)]``."""
    codec = codec_from_infer_config(info, source)
    k = info.num_joints
    settings = info.codec_settings
    if settings.type == "heatmap":
        s = int(settings.heatmap_stride)
        return [(k, info.input_size[1] // s, info.input_size[0] // s)]
    return [(k, codec.num_x_bins), (k, codec.num_y_bins)]
