"""Build codec, model and loss from a :class:`~simdr_lib.config.Config` (the one wiring point)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simdr_lib.config import CodecConfig, Config

if TYPE_CHECKING:  # paddle is imported where a model or loss is built, not at import time
    from paddle import nn

    from simdr_lib.codec.base import Codec
    from simdr_lib.models.builder import PoseModel


def codec_from_config(cfg: Config) -> Codec:
    """SimDR / SA-SimDR / heatmap codec with the config's input size, k and σ."""
    return codec_from_settings(cfg.codec)


def codec_from_settings(codec: CodecConfig) -> Codec:
    """The codec of a codec section: a training config's or an ``infer_cfg.yml``'s (the one
    place its settings become :func:`~simdr_lib.codec.build_codec` arguments)."""
    from simdr_lib.codec import build_codec

    return build_codec(
        codec.type,
        input_size=tuple(codec.input_size),
        split_ratio=codec.split_ratio,
        sigma=codec.sigma,
        label_smoothing=codec.label_smoothing,
        normalize=codec.normalize,
        confidence=codec.confidence,
        stride=codec.heatmap_stride,
        use_dark=codec.use_dark,
        flip_shift=codec.flip_shift,
    )


def model_from_config(cfg: Config) -> PoseModel:
    """The configured :class:`~simdr_lib.models.builder.PoseModel` (random init)."""
    from simdr_lib.models import build_model

    return build_model(
        cfg.model.backbone,
        cfg.model.head,
        num_joints=cfg.model.num_joints,
        input_size=tuple(cfg.codec.input_size),
        split_ratio=cfg.codec.split_ratio,
        tiny_width=cfg.model.tiny_width,
    )


def loss_from_config(cfg: Config) -> nn.Layer:
    """KL for SA-SimDR, label-smoothed criterion for SimDR, weighted MSE for heatmaps."""
    from simdr_lib.losses import build_loss

    kind = {"sa_simdr": "kl", "simdr": "nmt", "heatmap": "mse"}[cfg.codec.type]
    return build_loss(kind, label_smoothing=cfg.codec.label_smoothing)


def arch_signature(cfg: Config) -> dict[str, Any]:
    """What must agree between a checkpoint and a model for weights to fit."""
    return {
        "backbone": cfg.model.backbone,
        "head": cfg.model.head,
        "num_joints": cfg.model.num_joints,
        "input_size": list(cfg.codec.input_size),
        "split_ratio": cfg.codec.split_ratio,
        "codec": cfg.codec.type,
    }
