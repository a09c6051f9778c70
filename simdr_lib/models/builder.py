"""Model assembly: backbone + head -> :class:`PoseModel`, with input-size validation.

``build_model("hrnet_w32", "simdr", 17, (192, 256))`` is the SimDR HRNet-W32 256x192 model.
Parameter names are ``backbone.<backbone name>`` and ``head.<head name>``
(see :mod:`simdr_lib.models.hrnet` and :mod:`simdr_lib.models.heads`).
"""

from __future__ import annotations

from typing import Any

import paddle
from paddle import nn

from simdr_lib.config import NAMED_BACKBONES, backbone_divisor
from simdr_lib.errors import ConfigError
from simdr_lib.models.heads import HeatmapHead, SimDRHead
from simdr_lib.models.hrnet import HRNet
from simdr_lib.models.tiny import TinyBackbone

__all__ = [
    "BACKBONES",
    "HEADS",
    "backbone_divisor",
    "PoseModel",
    "build_model",
    "count_parameters",
    "model_summary",
]

BACKBONES = NAMED_BACKBONES
HEADS = ("simdr", "heatmap")


class PoseModel(nn.Layer):
    """Top-down pose model: images (N, 3, H, W) float32 -> tuple of raw outputs.

    SimDR head: ``(x_logits (N, K, W*k), y_logits (N, K, H*k))``;
    heatmap head: ``(heatmaps (N, K, H/4, W/4),)``. Outputs are logits / raw heatmaps in the
    codec's tuple layout (``codec.to_prob`` turns them into probabilities).
    """

    def __init__(self, backbone: nn.Layer, head: nn.Layer) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: paddle.Tensor) -> tuple[paddle.Tensor, ...]:
        """images (N, 3, H, W) -> raw outputs (see class docstring)."""
        return tuple(self.head(self.backbone(images)))


def _parse_input_size(input_size: Any) -> tuple[int, int]:
    try:
        width, height = input_size
        if int(width) != width or int(height) != height:
            raise ValueError
        width, height = int(width), int(height)
    except (TypeError, ValueError):
        raise ConfigError(f"input_size must be [W, H] (two integers), got {input_size!r}") from None
    if width <= 0 or height <= 0:
        raise ConfigError(f"input_size [W, H] = [{width}, {height}] must be positive")
    return width, height


def build_model(
    backbone: str,
    head: str,
    num_joints: int,
    input_size: tuple[int, int],
    split_ratio: float = 2.0,
    tiny_width: int = 32,
) -> PoseModel:
    """Build a pose model.

    Args:
        backbone: ``"tiny"``, ``"hrnet_w32"``, ``"hrnet_w48"`` (any ``"hrnet_w<N>"``).
        head: ``"simdr"`` (SimDR and SA-SimDR share it) or ``"heatmap"``.
        num_joints: ``K`` (17 for COCO).
        input_size: ``(W, H)``; divisible by 32 for HRNet, by 4 for tiny.
        split_ratio: SimDR ``k`` (bins per pixel); ignored by the heatmap head.
        tiny_width: channel width of the tiny backbone.

    Raises:
        ConfigError: unknown backbone / head name, bad size, joints or split ratio.
    """
    divisor = backbone_divisor(backbone)
    if divisor is None:
        raise ConfigError(
            f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)} (or hrnet_w<N>)"
        )
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}; choose one of {list(HEADS)}")
    if isinstance(num_joints, bool) or int(num_joints) != num_joints or num_joints <= 0:
        raise ConfigError(f"num_joints must be a positive integer, got {num_joints!r}")
    width, height = _parse_input_size(input_size)
    if width % divisor or height % divisor:
        raise ConfigError(
            f"input_size [W, H] = [{width}, {height}] must be divisible by {divisor} "
            f"for backbone {backbone!r}"
        )
    if head == "simdr" and not (isinstance(split_ratio, (int, float)) and split_ratio > 0):
        raise ConfigError(f"split_ratio must be a number > 0, got {split_ratio!r}")

    if backbone == "tiny":
        if isinstance(tiny_width, bool) or int(tiny_width) != tiny_width or tiny_width <= 0:
            raise ConfigError(f"tiny_width must be a positive integer, got {tiny_width!r}")
        net: nn.Layer = TinyBackbone(int(tiny_width))
    else:
        net = HRNet(int(backbone.rsplit("_w", 1)[1]))

    if head == "simdr":
        head_layer: nn.Layer = SimDRHead(
            net.out_channels, int(num_joints), (width, height), split_ratio, net.stride
        )
    else:
        head_layer = HeatmapHead(net.out_channels, int(num_joints), net.stride)
    return PoseModel(net, head_layer)


def count_parameters(model: nn.Layer, trainable_only: bool = False) -> int:
    """Number of learnable parameter values (BatchNorm running mean / variance excluded).

    Paddle stores BN running statistics as non-trainable parameters named ``_mean`` /
    ``_variance``; they are not counted, so numbers match the published (PyTorch) counts.
    ``trainable_only`` additionally skips parameters with ``stop_gradient`` set (frozen).
    """
    total = 0
    for name, param in model.named_parameters():
        if name.endswith(("._mean", "._variance")) or name in ("_mean", "_variance"):
            continue
        if trainable_only and param.stop_gradient:
            continue
        total += int(param.size)
    return total


def model_summary(model: PoseModel, input_size: tuple[int, int]) -> dict[str, Any]:
    """Parameter counts and output shapes of ``model`` for an input ``(W, H)``, no forward pass.

    Returns ``{"params_total", "params_backbone", "params_head", "input_shape" (3, H, W),
    "feature_shape" (C, H/4, W/4), "output_shapes" {name: shape}}``; shapes omit the batch
    dimension.
    """
    width, height = _parse_input_size(input_size)
    stride = model.backbone.stride
    return {
        "params_total": count_parameters(model),
        "params_backbone": count_parameters(model.backbone),
        "params_head": count_parameters(model.head),
        "input_shape": (3, height, width),
        "feature_shape": (model.backbone.out_channels, height // stride, width // stride),
        "output_shapes": model.head.output_shapes((width, height)),
    }
