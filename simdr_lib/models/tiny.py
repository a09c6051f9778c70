"""A small CPU-friendly backbone for demos and tests: (N, 3, H, W) -> (N, C, H/4, W/4).

Layout (``C`` = ``width``; about 0.28M parameters for ``C`` = 32):

- ``stem``: 3x3 stride-2 conv-BN-ReLU (3 -> 16), 3x3 stride-2 conv-BN-ReLU (16 -> C);  1/4
- ``local``: residual block (two 3x3 conv-BN) at 1/4 resolution;
- ``down``: 3x3 stride-2 conv-BN-ReLU (C -> 2C);                                        1/8
- ``context``: three residual blocks at 1/8 with dilations 1, 2, 4 (receptive field about
  270 px, so every output cell sees a whole 128x96 crop: left/right needs the whole figure);
- ``up``: 1x1 conv-BN (2C -> C), nearest resize to the 1/4 map, added to ``local``, ReLU;
- ``refine``: residual block at 1/4.

Convs use Kaiming-normal init (fan-in, ReLU gain), BN weight 1 / bias 0.
``H`` and ``W`` must be divisible by 4 (checked by the model builder).
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from simdr_lib.errors import ConfigError

__all__ = ["TinyBackbone"]


def _conv_bn(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, dilation: int = 1):
    """Bias-free conv + BN (no activation); 'same' padding for odd kernels."""
    return nn.Sequential(
        nn.Conv2D(
            in_ch,
            out_ch,
            kernel,
            stride=stride,
            padding=dilation * (kernel // 2),
            dilation=dilation,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()),
            bias_attr=False,
        ),
        nn.BatchNorm2D(out_ch),
    )


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(*_conv_bn(in_ch, out_ch, 3, stride=stride), nn.ReLU())


class ResBlock(nn.Layer):
    """Two 3x3 (dilated) conv-BN with identity shortcut: (N, C, h, w) -> (N, C, h, w)."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv_bn(channels, channels, 3, dilation=dilation)
        self.conv2 = _conv_bn(channels, channels, 3, dilation=dilation)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.relu(x + self.conv2(self.relu(self.conv1(x))))


class TinyBackbone(nn.Layer):
    """Small two-resolution conv net: images (N, 3, H, W) -> features (N, width, H/4, W/4).

    Attributes ``out_channels`` (= width) and ``stride`` (= 4) describe the output.
    """

    stride = 4

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        if width <= 0:
            raise ConfigError(f"TinyBackbone width must be positive, got {width}")
        self.out_channels = width
        self.stem = nn.Sequential(_conv_bn_relu(3, 16, stride=2), _conv_bn_relu(16, width, 2))
        self.local = ResBlock(width)
        self.down = _conv_bn_relu(width, 2 * width, stride=2)
        self.context = nn.Sequential(*[ResBlock(2 * width, d) for d in (1, 2, 4)])
        self.up = _conv_bn(2 * width, width, kernel=1)
        self.refine = ResBlock(width)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """images (N, 3, H, W) -> features (N, width, H/4, W/4)."""
        local = self.local(self.stem(x))  # (N, C, H/4, W/4)
        context = self.up(self.context(self.down(local)))  # (N, C, ~H/8, ~W/8)
        context = F.interpolate(context, size=local.shape[2:], mode="nearest")
        return self.refine(self.relu(local + context))
