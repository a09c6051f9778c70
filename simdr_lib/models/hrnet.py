"""HRNet backbone (W32 / W48) for top-down pose estimation.

Architecture facts follow the HRNet paper (Sun et al., "Deep High-Resolution Representation
Learning for Human Pose Estimation", CVPR 2019) and the official pose configs
(``w32_256x192_adam_lr1e-3.yaml`` / ``w48_384x288_adam_lr1e-3.yaml``):

- stem: two 3x3 stride-2 convs, 64 channels, each followed by BN + ReLU (1/4 resolution);
- stage 1: 4 Bottleneck blocks (64 planes, expansion 4 -> 256 channels);
- stages 2 / 3 / 4: 1 / 4 / 3 modules with 2 / 3 / 4 branches of 4 BasicBlocks each,
  branch widths ``(w, 2w, 4w, 8w)``;
- multi-resolution fusion after every module: lower -> higher resolution by 1x1 conv + BN +
  nearest upsampling, higher -> lower by a chain of strided 3x3 convs (+ BN, ReLU between);
- the last module of stage 4 fuses into the highest-resolution branch only ("multi-scale
  output" off), so the backbone returns ``(N, w, H/4, W/4)``.

Input ``(N, 3, H, W)`` with ``H`` and ``W`` divisible by 32 (checked by the model builder).

Parameter names (stable; pretrained weights are mapped onto them)::

    stem.conv1.weight, stem.bn1.{weight,bias,_mean,_variance}, stem.conv2.weight, stem.bn2.*
    stage1.{0..3}.{conv1,bn1,conv2,bn2,conv3,bn3}.*     Bottlenecks; stage1.0.downsample.{0,1}.*
    transition1.{0,1}.*        transition1.0.{0,1}.* (conv, BN: 256 -> w),
                               transition1.1.0.{0,1}.* (stride-2 conv, BN: 256 -> 2w)
    transition2.2.0.{0,1}.*, transition3.3.0.{0,1}.*    new lower-resolution branches
    stage{2,3,4}.{m}.branches.{b}.{0..3}.{conv1,bn1,conv2,bn2}.*          BasicBlocks
    stage{2,3,4}.{m}.fuse_layers.{i}.{j}.{0,1}.*         j > i: 1x1 conv, BN (then upsample)
    stage{2,3,4}.{m}.fuse_layers.{i}.{j}.{s}.{0,1}.*     j < i: s-th strided 3x3 conv, BN

This is the layout of the official PyTorch pose HRNet with ``conv1/bn1/conv2/bn2`` moved under
``stem.`` and ``layer1`` renamed ``stage1``; :func:`map_official_key` performs the renaming
(plus PyTorch's BN buffer names ``running_mean/var`` -> Paddle's ``_mean/_variance``).
Identity placeholders (where the official code stores ``None``) hold no parameters.
"""

from __future__ import annotations

import paddle
from paddle import nn

from simdr_lib.errors import ConfigError

__all__ = ["HRNet", "map_official_key", "HRNET_WIDTHS"]

HRNET_WIDTHS = (32, 48)
_NUM_BLOCKS = 4
_STAGE_MODULES = {2: 1, 3: 4, 4: 3}
_INIT_STD = 0.001  # official init: conv weights N(0, 0.001), BN weight 1 / bias 0


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Conv2D:
    """Bias-free conv with the official HRNet init (normal, std 0.001)."""
    return nn.Conv2D(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        padding=kernel // 2,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.Normal(std=_INIT_STD)),
        bias_attr=False,
    )


def _bn(ch: int) -> nn.BatchNorm2D:
    """BatchNorm with weight 1, bias 0 (Paddle momentum 0.9 == PyTorch momentum 0.1)."""
    return nn.BatchNorm2D(ch)


class BasicBlock(nn.Layer):
    """Two 3x3 conv-BN with identity shortcut: (N, C, h, w) -> (N, C, h, w)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.bn1 = _bn(channels)
        self.conv2 = _conv(channels, channels, 3)
        self.bn2 = _bn(channels)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Bottleneck(nn.Layer):
    """1x1 -> 3x3 -> 1x1 (x4 expansion) residual block: (N, C_in, h, w) -> (N, 4*planes, h, w)."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = _conv(in_ch, planes, 1)
        self.bn1 = _bn(planes)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = _bn(planes)
        self.conv3 = _conv(planes, out_ch, 1)
        self.bn3 = _bn(out_ch)
        self.relu = nn.ReLU()
        self.downsample = (
            nn.Sequential(_conv(in_ch, out_ch, 1), _bn(out_ch)) if in_ch != out_ch else None
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Stem(nn.Layer):
    """Two stride-2 3x3 conv-BN-ReLU: (N, 3, H, W) -> (N, 64, H/4, W/4)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = _conv(3, channels, 3, stride=2)
        self.bn1 = _bn(channels)
        self.conv2 = _conv(channels, channels, 3, stride=2)
        self.bn2 = _bn(channels)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(x)))


def _fuse_layer(in_chs: list[int], i: int, j: int) -> nn.Layer:
    """Layer mapping branch j's features onto branch i's resolution and width."""
    if j == i:
        return nn.Identity()
    if j > i:  # lower -> higher resolution
        return nn.Sequential(
            _conv(in_chs[j], in_chs[i], 1),
            _bn(in_chs[i]),
            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
        )
    steps = []  # higher -> lower resolution: (i - j) strided 3x3 convs
    for s in range(i - j):
        last = s == i - j - 1
        out_ch = in_chs[i] if last else in_chs[j]
        layers = [_conv(in_chs[j], out_ch, 3, stride=2), _bn(out_ch)]
        if not last:
            layers.append(nn.ReLU())
        steps.append(nn.Sequential(*layers))
    return nn.Sequential(*steps)


class HRModule(nn.Layer):
    """One high-resolution module: parallel BasicBlock branches then multi-resolution fusion.

    Input: list of ``n`` tensors ``(N, c_b, H/4/2^b, W/4/2^b)``; output: the same list
    (``multi_scale_output=True``) or only the highest-resolution tensor in a 1-element list.
    """

    def __init__(self, channels: list[int], multi_scale_output: bool = True) -> None:
        super().__init__()
        n = len(channels)
        self.branches = nn.LayerList(
            [nn.Sequential(*[BasicBlock(c) for _ in range(_NUM_BLOCKS)]) for c in channels]
        )
        n_out = n if multi_scale_output else 1
        self.fuse_layers = nn.LayerList(
            [nn.LayerList([_fuse_layer(channels, i, j) for j in range(n)]) for i in range(n_out)]
        )
        self.relu = nn.ReLU()

    def forward(self, xs: list[paddle.Tensor]) -> list[paddle.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for fuse in self.fuse_layers:
            y = fuse[0](xs[0])
            for j in range(1, len(xs)):
                y = y + fuse[j](xs[j])
            out.append(self.relu(y))
        return out


def _transition(prev: list[int], cur: list[int]) -> nn.LayerList:
    """Adapt ``len(prev)`` branches to ``len(cur)``; a new branch comes from the lowest one."""
    layers = []
    for i, c in enumerate(cur):
        if i < len(prev):
            if prev[i] == c:
                layers.append(nn.Identity())
            else:
                layers.append(nn.Sequential(_conv(prev[i], c, 3), _bn(c), nn.ReLU()))
        else:
            layers.append(
                nn.Sequential(nn.Sequential(_conv(prev[-1], c, 3, stride=2), _bn(c), nn.ReLU()))
            )
    return nn.LayerList(layers)


class HRNet(nn.Layer):
    """HRNet-W{width} backbone: (N, 3, H, W) -> (N, width, H/4, W/4).

    Attributes ``out_channels`` (= width) and ``stride`` (= 4) describe the output.
    """

    stride = 4

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        if width <= 0:
            raise ConfigError(f"HRNet width must be positive, got {width}")
        self.width = width
        self.out_channels = width
        widths = [width * 2**b for b in range(4)]

        self.stem = Stem(64)
        self.stage1 = nn.Sequential(*[Bottleneck(64 if b == 0 else 256, 64) for b in range(4)])
        self.transition1 = _transition([256], widths[:2])
        self.stage2 = self._make_stage(widths[:2], _STAGE_MODULES[2], last_multi_scale=True)
        self.transition2 = _transition(widths[:2], widths[:3])
        self.stage3 = self._make_stage(widths[:3], _STAGE_MODULES[3], last_multi_scale=True)
        self.transition3 = _transition(widths[:3], widths[:4])
        self.stage4 = self._make_stage(widths, _STAGE_MODULES[4], last_multi_scale=False)

    @staticmethod
    def _make_stage(channels: list[int], modules: int, last_multi_scale: bool) -> nn.LayerList:
        return nn.LayerList(
            [
                HRModule(channels, multi_scale_output=last_multi_scale or m < modules - 1)
                for m in range(modules)
            ]
        )

    @staticmethod
    def _run_stage(stage: nn.LayerList, xs: list[paddle.Tensor]) -> list[paddle.Tensor]:
        for module in stage:
            xs = module(xs)
        return xs

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """images (N, 3, H, W) -> features (N, width, H/4, W/4)."""
        x = self.stage1(self.stem(x))
        xs = [t(x) for t in self.transition1]
        xs = self._run_stage(self.stage2, xs)
        xs = [t(xs[min(i, len(xs) - 1)]) for i, t in enumerate(self.transition2)]
        xs = self._run_stage(self.stage3, xs)
        xs = [t(xs[min(i, len(xs) - 1)]) for i, t in enumerate(self.transition3)]
        xs = self._run_stage(self.stage4, xs)
        return xs[0]


_OFFICIAL_PREFIXES = {
    "conv1.": "backbone.stem.conv1.",
    "bn1.": "backbone.stem.bn1.",
    "conv2.": "backbone.stem.conv2.",
    "bn2.": "backbone.stem.bn2.",
    "layer1.": "backbone.stage1.",
    "final_layer.": "head.final_layer.",
    "mlp_head_x.": "head.mlp_head_x.",
    "mlp_head_y.": "head.mlp_head_y.",
}
_BUFFER_SUFFIXES = {".running_mean": "._mean", ".running_var": "._variance"}


def map_official_key(key: str) -> str | None:
    """Map an official PyTorch pose-HRNet / SimDR state-dict key to our ``PoseModel`` key.

    Examples: ``conv1.weight`` -> ``backbone.stem.conv1.weight``;
    ``stage2.0.branches.1.0.bn1.running_var`` -> ``backbone.stage2.0.branches.1.0.bn1._variance``;
    ``mlp_head_x.weight`` -> ``head.mlp_head_x.weight`` (PyTorch Linear weights are
    ``(out, in)``, Paddle's ``(in, out)``: transpose them). ``num_batches_tracked`` and
    ImageNet-classifier keys (``incre_modules``, ``downsamp_modules``, ``final_layer.0...``,
    ``classifier``) return ``None``: skip them. The ImageNet net also keeps all four stage-4
    outputs, so a few of its ``stage4.2.fuse_layers`` keys map to names this model does not
    have; a loader should skip keys absent from the model and report how many it skipped.
    """
    key = key.removeprefix("module.")
    if key.endswith(".num_batches_tracked"):
        return None
    for old, new in _BUFFER_SUFFIXES.items():
        if key.endswith(old):
            key = key[: -len(old)] + new
    if key.startswith("final_layer.") and key.count(".") > 1:
        return None  # the ImageNet classifier's final_layer is a Sequential, not the pose head
    for old, new in _OFFICIAL_PREFIXES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    if key.startswith(("stage2.", "stage3.", "stage4.", "transition")):
        return "backbone." + key
    return None
