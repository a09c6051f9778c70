"""Prediction heads: SimDR (1D x / y classification) and the heatmap baseline.

Initialization (documented choice):

- ``final_layer`` 1x1 conv: weight N(0, 0.001), bias 0 -- the official HRNet / SimDR init.
- SimDR ``mlp_head_x`` / ``mlp_head_y`` Linear layers: the official code never initializes them,
  so they keep PyTorch's ``nn.Linear`` default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight
  and bias. We set exactly that distribution explicitly (Paddle's own default would be
  Xavier-uniform weight and zero bias), so training starts from the same distribution the
  published results were obtained with, whichever framework default applies.

Parameter names: ``final_layer.{weight,bias}``, ``mlp_head_x.{weight,bias}``,
``mlp_head_y.{weight,bias}`` (as in the official code; Paddle Linear weights are ``(in, out)``).
"""

from __future__ import annotations

import math

import paddle
from paddle import nn

from simdr_lib.errors import ConfigError

__all__ = ["SimDRHead", "HeatmapHead", "simdr_bins"]

_CONV_INIT_STD = 0.001


def simdr_bins(length: int, split_ratio: float) -> int:
    """Number of SimDR bins along an axis of ``length`` pixels: ``int(length * k)`` (official)."""
    return int(length * split_ratio)


def _final_conv(in_channels: int, num_joints: int) -> nn.Conv2D:
    return nn.Conv2D(
        in_channels,
        num_joints,
        1,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.Normal(std=_CONV_INIT_STD)),
        bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
    )


def _linear(in_features: int, out_features: int) -> nn.Linear:
    """Linear layer with PyTorch's default init, U(+-1/sqrt(fan_in)) for weight and bias."""
    bound = 1.0 / math.sqrt(in_features)
    init = nn.initializer.Uniform(low=-bound, high=bound)
    return nn.Linear(
        in_features,
        out_features,
        weight_attr=paddle.ParamAttr(initializer=init),
        bias_attr=paddle.ParamAttr(initializer=nn.initializer.Uniform(low=-bound, high=bound)),
    )


def _check_positive(name: str, value: int) -> None:
    if int(value) != value or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class SimDRHead(nn.Layer):
    """SimDR head: features (N, C, H/s, W/s) -> (x_logits (N, K, W*k), y_logits (N, K, H*k)).

    A 1x1 conv maps the features to one map per joint, each map is flattened to ``h*w``
    values and two Linear layers turn it into ``int(W*k)`` x-bins and ``int(H*k)`` y-bins
    (``k`` = ``split_ratio``, ``s`` = ``feature_stride``).
    """

    def __init__(
        self,
        in_channels: int,
        num_joints: int,
        input_size: tuple[int, int],
        split_ratio: float,
        feature_stride: int = 4,
    ) -> None:
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("num_joints", num_joints)
        _check_positive("feature_stride", feature_stride)
        width, height = (int(v) for v in input_size)
        if width % feature_stride or height % feature_stride or width <= 0 or height <= 0:
            raise ConfigError(
                f"input_size [W, H] = [{width}, {height}] must be positive and divisible by the "
                f"feature stride {feature_stride}"
            )
        if not split_ratio > 0:
            raise ConfigError(f"split_ratio must be > 0, got {split_ratio!r}")
        self.num_joints = int(num_joints)
        self.input_size = (width, height)
        self.split_ratio = float(split_ratio)
        self.feature_size = (width // feature_stride, height // feature_stride)  # (w, h)
        self.bins = (simdr_bins(width, split_ratio), simdr_bins(height, split_ratio))
        num_pixels = self.feature_size[0] * self.feature_size[1]
        self.final_layer = _final_conv(in_channels, num_joints)
        self.mlp_head_x = _linear(num_pixels, self.bins[0])
        self.mlp_head_y = _linear(num_pixels, self.bins[1])

    def output_shapes(self, input_size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
        """Per-sample output shapes (no batch dim): ``{"x_logits": (K, Wk), "y_logits": ...}``.

        ``input_size`` must be the ``(W, H)`` the head was built for (its Linear layers fix it).
        """
        if tuple(int(v) for v in input_size) != self.input_size:
            raise ConfigError(
                f"input_size {list(input_size)} differs from the SimDR head's "
                f"{list(self.input_size)}: the head's Linear layers are built for one input size"
            )
        return {
            "x_logits": (self.num_joints, self.bins[0]),
            "y_logits": (self.num_joints, self.bins[1]),
        }

    def forward(self, features: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        """features (N, C, h, w) -> (x_logits (N, K, W*k), y_logits (N, K, H*k))."""
        maps = self.final_layer(features)  # (N, K, h, w)
        flat = paddle.flatten(maps, start_axis=2)  # (N, K, h*w)
        return self.mlp_head_x(flat), self.mlp_head_y(flat)


class HeatmapHead(nn.Layer):
    """Heatmap head: features (N, C, h, w) -> (heatmaps (N, K, h, w),) via a 1x1 conv."""

    def __init__(self, in_channels: int, num_joints: int, feature_stride: int = 4) -> None:
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("num_joints", num_joints)
        self.num_joints = int(num_joints)
        self.feature_stride = int(feature_stride)
        self.final_layer = _final_conv(in_channels, num_joints)

    def output_shapes(self, input_size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
        """Per-sample output shape for an input ``(W, H)``: ``{"heatmaps": (K, H/s, W/s)}``."""
        width, height = (int(v) for v in input_size)
        s = self.feature_stride
        return {"heatmaps": (self.num_joints, height // s, width // s)}

    def forward(self, features: paddle.Tensor) -> tuple[paddle.Tensor]:
        """features (N, C, h, w) -> (heatmaps (N, K, h, w),)."""
        return (self.final_layer(features),)
