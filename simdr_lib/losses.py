"""Losses (Paddle) with one call convention: ``loss(outputs, targets) -> scalar Tensor``.

``outputs`` is the model's tuple of raw outputs, ``targets`` the codec's dict (numpy arrays
are accepted and converted). Keys:

- SimDR / SA-SimDR: ``x_target (N, K, W*k)``, ``y_target (N, K, H*k)``, ``target_weight (N, K)``
  (``(N, K, 1)`` is accepted too).
- heatmap: ``heatmap (N, K, h, w)``, ``target_weight (N, K)``.

Losses reproduce the official reductions:

- :class:`KLDiscretLoss` (SA-SimDR "KLDiscretLoss"): per joint and axis the KL divergence
  ``t * (log t - log_softmax(logits))`` averaged over bins, times the joint weight, averaged
  over the batch; summed over x and y and over joints, divided by ``K``.
- :class:`NMTCriterion` (SimDR's ``NMTCritierion``, spelled so in the official code, the
  loss its configs train with): KL against the label-smoothed one-hot, summed over bins,
  times the joint weight, summed over joints and batch, divided by ``N``. (The official code
  also defines an ``NMTNORMCritierion``, which averages over bins and batch and divides by
  ``K``; the official configs do not select it and it is not implemented here. This class
  was once named ``NMTNormCriterion`` by mistake; that name remains an alias of it, and the
  loss kind stays ``"nmt"``, so code and configs written against the old name still work.)
- :class:`JointsMSELoss`: ``0.5 * mean((w * (pred - gt))^2)`` over batch, joints and pixels.

Both KL losses use ``t * log t = 0`` where ``t = 0`` (no ``log 0``) and log-softmax (finite
for logits of any magnitude), so they stay finite for extreme logits and zero weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from simdr_lib.errors import ConfigError

__all__ = [
    "KLDiscretLoss",
    "NMTCriterion",
    "NMTNormCriterion",
    "JointsMSELoss",
    "build_loss",
    "LOSSES",
]

LOSSES = ("kl", "nmt", "mse")


def _tensor(value: Any, name: str, dtype: str = "float32") -> paddle.Tensor:
    if isinstance(value, paddle.Tensor):
        return value if value.dtype == getattr(paddle, dtype) else value.astype(dtype)
    try:
        return paddle.to_tensor(np.asarray(value), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"loss target {name!r} is not array-like: {exc}") from None


def _get(targets: dict[str, Any], key: str, loss: str) -> Any:
    if key not in targets:
        raise ConfigError(
            f"loss {loss!r} needs target key {key!r}; got keys {sorted(targets)} "
            "(does the codec match the loss?)"
        )
    return targets[key]


def _check_shape(name: str, got: list[int], want: list[int], loss: str) -> None:
    if list(got) != list(want):
        raise ConfigError(
            f"loss {loss!r}: {name} has shape {list(got)} but the model output has {list(want)} "
            "(codec and model disagree on num_joints / input_size / split_ratio?)"
        )


def _weights(targets: dict[str, Any], shape: list[int], loss: str) -> paddle.Tensor:
    """target_weight (N, K) or (N, K, 1) -> float32 (N, K)."""
    weight = _tensor(_get(targets, "target_weight", loss), "target_weight")
    if int(np.prod(weight.shape)) != shape[0] * shape[1]:
        _check_shape("target_weight", weight.shape, shape[:2], loss)
    return weight.reshape(shape[:2])


def _kl_per_bin(logits: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
    """Elementwise KL ``t * (log t - log_softmax(logits))`` with 0 * log 0 = 0; (N, K, L)."""
    log_p = F.log_softmax(logits, axis=-1)
    positive = target > 0
    safe_log_t = paddle.log(paddle.where(positive, target, paddle.ones_like(target)))
    return target * (safe_log_t - log_p)


def _pair_outputs(outputs: Any, loss: str) -> tuple[paddle.Tensor, paddle.Tensor]:
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        raise ConfigError(f"loss {loss!r} expects outputs (x_logits, y_logits)")
    return outputs[0], outputs[1]


class KLDiscretLoss(nn.Layer):
    """SA-SimDR loss: KL(target || softmax(logits)), mean over bins, weighted, / K.

    outputs ``(x_logits (N, K, Wk), y_logits (N, K, Hk))``; targets ``x_target``, ``y_target``
    (probability vectors of the same shapes, e.g. normalized Gaussians) and ``target_weight``.
    Returns ``sum_k mean_n w[n,k] * (mean_i KLx[n,k,i] + mean_j KLy[n,k,j]) / K``.
    """

    name = "kl"

    def forward(self, outputs: tuple[paddle.Tensor, ...], targets: dict[str, Any]) -> paddle.Tensor:
        x_logits, y_logits = _pair_outputs(outputs, self.name)
        x_t = _tensor(_get(targets, "x_target", self.name), "x_target")
        y_t = _tensor(_get(targets, "y_target", self.name), "y_target")
        _check_shape("x_target", x_t.shape, x_logits.shape, self.name)
        _check_shape("y_target", y_t.shape, y_logits.shape, self.name)
        weight = _weights(targets, x_logits.shape, self.name)
        kl = _kl_per_bin(x_logits, x_t).mean(axis=-1) + _kl_per_bin(y_logits, y_t).mean(axis=-1)
        return (kl * weight).mean()  # mean over N and K == (sum over K of batch means) / K


class NMTCriterion(nn.Layer):
    """SimDR loss (official ``NMTCritierion``): label-smoothed KL, summed over bins and joints, / N.

    Targets: ``x_target`` / ``y_target`` are either the codec's smoothed target vectors
    ``(N, K, L)`` (used as given; the codec already applied the smoothing) or integer bin
    indices ``(N, K)``, which are smoothed here to ``(1 - eps)`` on the bin and
    ``eps / (L - 1)`` elsewhere (the official smoothing; ``eps = label_smoothing``, indices clipped
    to the valid range -- such joints carry weight 0 anyway).
    Returns ``sum_{n,k} w[n,k] * (KLx[n,k] + KLy[n,k]) / N`` with KL summed over bins.
    With ``eps = 0`` this is the NLL of the target bin.
    """

    name = "nmt"

    def __init__(self, label_smoothing: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def _target(self, value: Any, name: str, logits: paddle.Tensor) -> paddle.Tensor:
        """Smoothed target distribution (N, K, L) from vectors or from bin indices (N, K)."""
        ndim = value.ndim if hasattr(value, "ndim") else np.asarray(value).ndim
        if ndim == 3:
            target = _tensor(value, name)
            _check_shape(name, target.shape, logits.shape, self.name)
            return target
        index = _tensor(value, name, dtype="int64")
        _check_shape(name, index.shape, logits.shape[:2], self.name)
        num_bins = logits.shape[-1]
        one_hot = F.one_hot(index.clip(0, num_bins - 1), num_bins).astype("float32")
        eps = self.label_smoothing
        off = eps / (num_bins - 1) if num_bins > 1 else 0.0
        return one_hot * (1.0 - eps - off) + off

    def forward(self, outputs: tuple[paddle.Tensor, ...], targets: dict[str, Any]) -> paddle.Tensor:
        x_logits, y_logits = _pair_outputs(outputs, self.name)
        x_t = self._target(_get(targets, "x_target", self.name), "x_target", x_logits)
        y_t = self._target(_get(targets, "y_target", self.name), "y_target", y_logits)
        weight = _weights(targets, x_logits.shape, self.name)
        kl = _kl_per_bin(x_logits, x_t).sum(axis=-1) + _kl_per_bin(y_logits, y_t).sum(axis=-1)
        return (kl * weight).sum() / x_logits.shape[0]


#: the old, wrong name of :class:`NMTCriterion` (it never computed the official NMTNORM loss);
#: an alias with the same behaviour so code written against it keeps working
NMTNormCriterion = NMTCriterion


class JointsMSELoss(nn.Layer):
    """Heatmap loss: ``0.5 * mean over (N, K, h, w) of (w[n,k] * (pred - heatmap))^2``.

    outputs ``(heatmaps (N, K, h, w),)``; targets ``heatmap`` (same shape), ``target_weight``.
    """

    name = "mse"

    def forward(self, outputs: tuple[paddle.Tensor, ...], targets: dict[str, Any]) -> paddle.Tensor:
        if not isinstance(outputs, (tuple, list)) or len(outputs) != 1:
            raise ConfigError("loss 'mse' expects outputs (heatmaps,)")
        pred = outputs[0]
        gt = _tensor(_get(targets, "heatmap", self.name), "heatmap")
        _check_shape("heatmap", gt.shape, pred.shape, self.name)
        weight = _weights(targets, pred.shape, self.name).unsqueeze([2, 3])
        return 0.5 * ((pred - gt) * weight).square().mean()


def build_loss(kind: str, label_smoothing: float = 0.1) -> nn.Layer:
    """``"kl"`` -> :class:`KLDiscretLoss`, ``"nmt"`` -> :class:`NMTCriterion`
    (``label_smoothing`` applies to index targets only), ``"mse"`` -> :class:`JointsMSELoss`."""
    if kind == "kl":
        return KLDiscretLoss()
    if kind == "nmt":
        return NMTCriterion(label_smoothing)
    if kind == "mse":
        return JointsMSELoss()
    raise ConfigError(f"unknown loss {kind!r}; choose one of {list(LOSSES)}")
