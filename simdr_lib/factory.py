"""Build codec, model and loss from a :class:`~simdr_lib.config.Config` (the one wiring point)."""

from __future__ import annotations

from typing import Any

from simdr_lib.config import Config


def codec_from_config(cfg: Config) -> Any:
    """SimDR / SA-SimDR / heatmap codec with the config's input size, k and σ."""
    from simdr_lib.codec import build_codec

    c = cfg.codec
    return build_codec(
        c.type,
        input_size=tuple(c.input_size),
        split_ratio=c.split_ratio,
        sigma=c.sigma,
        label_smoothing=c.label_smoothing,
        normalize=c.normalize,
        confidence=c.confidence,
        stride=c.heatmap_stride,
        use_dark=c.use_dark,
        flip_shift=c.flip_shift,
    )


def model_from_config(cfg: Config) -> Any:
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


def loss_from_config(cfg: Config) -> Any:
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
