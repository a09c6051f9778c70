"""YAML configs mapped onto frozen dataclasses: the sections, their defaults and value checks.

A config file has the sections ``model``, ``codec``, ``data``, ``train`` and ``eval`` plus a few
top-level keys (``name``, ``weights``, ``device``). Every key is optional and falls back to the
dataclass default; an unknown key or a value of the wrong type raises :class:`ConfigError`
naming the file and the full key path (``codec.split_ratio``).

Overrides use the PaddleDetection habit ``-o key.sub=value`` (values parsed as YAML scalars),
and notebooks pass a ``dict`` of the same dotted keys. Reading files and overrides and
checking value types is :mod:`simdr_lib.config_parsing`; ``short_repr``, ``parse_overrides``,
``MAX_INT`` and ``MAX_CONFIG_BYTES`` are re-exported here for their callers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import yaml

from simdr_lib.codec.base import check_split_ratio
from simdr_lib.config_parsing import (
    MAX_CONFIG_BYTES,
    MAX_INT,
    build_dataclass,
    parse_overrides,
    read_config_yaml,
    set_dotted,
    short_repr,
    tuples_to_lists,
)
from simdr_lib.errors import ConfigError

__all__ = [
    "BACKBONE_STRIDE",
    "DATASETS",
    "DATASET_JOINTS",
    "DEFAULT_SIGMA",
    "MAX_CONFIG_BYTES",
    "MAX_INPUT_SIDE",
    "MAX_INT",
    "MAX_NUM_JOINTS",
    "MAX_SIGMA",
    "MAX_SIMDR_BINS",
    "MIN_INPUT_SIDE",
    "NAMED_BACKBONES",
    "CodecConfig",
    "Config",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "TrainConfig",
    "backbone_divisor",
    "config_from_dict",
    "load_config",
    "parse_overrides",
    "save_config",
    "short_repr",
]

# ----------------------------------------------------------------------------- limits
# Ranges a config value must lie in. They are far beyond any real setting and exist so that a
# typo (an extra zero, a missing decimal point) is refused when the config loads instead of
# exhausting memory or failing deep inside training. Every float key must also be finite.

#: network input sides W and H in px (the SimDR papers use 192..384)
MIN_INPUT_SIDE, MAX_INPUT_SIDE = 8, 4096
#: SimDR bins per axis, ``int(W * split_ratio)`` and ``int(H * split_ratio)``
MAX_SIMDR_BINS = 32768
#: Gaussian std of the SA-SimDR labels (bins) or of the heatmaps (heatmap px)
MAX_SIGMA = 1000.0
#: ``codec.sigma`` when the config does not set it, per ``codec.type`` (bins / heatmap px)
DEFAULT_SIGMA = {"simdr": 4.0, "sa_simdr": 4.0, "heatmap": 2.0}
#: joints per person (COCO 17, whole-body 133)
MAX_NUM_JOINTS = 1000
#: channel width of the tiny backbone and the N of ``hrnet_w<N>`` (published: 18, 32, 48)
MAX_TINY_WIDTH = 4096
MAX_HRNET_WIDTH = 256
#: people per training / evaluation batch
MAX_BATCH_SIZE = 65536
#: training epochs
MAX_EPOCHS = 100_000
#: CPU intra-op threads per training rank (``train.cpu_threads``; 0 = auto)
MAX_CPU_THREADS = 1024
MAX_RANKS = 64
#: data loader worker processes
MAX_NUM_WORKERS = 64
#: random seed (numpy and paddle take 32-bit unsigned seeds)
MAX_SEED = 2**32 - 1
#: ``data.dataset`` values -> joints per person they need
DATASETS = ("coco", "mpii")
DATASET_JOINTS = {"coco": 17, "mpii": 16}
#: output stride of every backbone (the heatmap head's resolution is input / 4)
BACKBONE_STRIDE = 4

#: named backbones -> required divisor of the input W and H; any ``hrnet_w<N>`` also builds
#: (W18 / W32 / W48 are the published widths; W4 is the width of the peer-weights test files)
NAMED_BACKBONES = {"tiny": 4, "hrnet_w32": 32, "hrnet_w48": 32}


def backbone_divisor(name: str) -> int | None:
    """Required divisor of the input W and H for backbone ``name``; ``None`` if unknown."""
    if name in NAMED_BACKBONES:
        return NAMED_BACKBONES[name]
    digits = name[len("hrnet_w") :] if name.startswith("hrnet_w") else ""
    ok = digits.isascii() and digits.isdigit() and digits[0] != "0"
    return 32 if ok else None


@dataclass(frozen=True)
class ModelConfig:
    """Network: backbone + head. ``pretrained`` is a backbone state dict path (never a URL)."""

    backbone: str = "tiny"  # tiny | hrnet_w32 | hrnet_w48 (any hrnet_w<N>)
    head: str = "simdr"  # simdr | heatmap
    num_joints: int = 17
    tiny_width: int = 32
    pretrained: str = ""

    def validate(self, where: str) -> None:
        if backbone_divisor(self.backbone) is None:
            raise ConfigError(
                f"{where}: model.backbone must be tiny|hrnet_w32|hrnet_w48 (or hrnet_w<N>), "
                f"got {self.backbone!r}"
            )
        if self.backbone.startswith("hrnet_w") and int(self.backbone[7:]) > MAX_HRNET_WIDTH:
            raise ConfigError(
                f"{where}: model.backbone {self.backbone!r}: the HRNet width must be at most "
                f"{MAX_HRNET_WIDTH} (published: 18, 32, 48)"
            )
        _choice(where, "model.head", self.head, ("simdr", "heatmap"))
        _in_range(where, "model.num_joints", self.num_joints, 1, MAX_NUM_JOINTS)
        _in_range(where, "model.tiny_width", self.tiny_width, 1, MAX_TINY_WIDTH)


@dataclass(frozen=True)
class CodecConfig:
    """Target representation. ``input_size`` is ``[W, H]`` of the network input in pixels.

    ``type``: ``simdr`` (one-hot at ``round(x*k)`` + label smoothing), ``sa_simdr`` (Gaussian
    labels, ``sigma`` in bins) or ``heatmap`` (Gaussian heatmaps, ``sigma`` in heatmap pixels).
    ``split_ratio`` ``k``: bins per pixel, any number > 0 that leaves 2 bins per axis (official
    configs: 1, 1.5, 2, 3; see :func:`simdr_lib.codec.base.check_split_ratio`).
    ``sigma`` left unset (or ``null``) takes the type's default, :data:`DEFAULT_SIGMA`: 4 bins
    for SimDR / SA-SimDR, 2 heatmap px for heatmaps (the official HRNet COCO value at
    256x192; the official 384x288 config uses 3). The default follows ``type`` also when an
    override changes the type; a sigma set in the file or an override is kept as given.
    ``confidence``: how the x and y softmax maxima combine into a joint score (min|max|mean).
    ``flip_shift``: SimDR flip-test shift in bins; ``null`` = exact (``k-1``), ``1`` = the
    official code's for any ``k``, ``0`` = the seed's (see :mod:`simdr_lib.weights.conventions`).
    """

    type: str = "sa_simdr"
    input_size: tuple[int, int] = (96, 128)
    split_ratio: float = 2.0
    sigma: Optional[float] = None  # noqa: UP045 (None: DEFAULT_SIGMA[type], see above)
    label_smoothing: float = 0.1
    normalize: bool = True
    confidence: str = "min"
    heatmap_stride: int = 4
    use_dark: bool = False
    flip_shift: Optional[float] = None  # noqa: UP045 (get_type_hints must work on py3.9)

    def __post_init__(self) -> None:
        # Resolve an unset sigma now, so every reader sees a number; remember that it was a
        # default (not a dataclass field: equality and to_dict() ignore it) so that an
        # override of `type` picks the new type's default (see Config.with_overrides).
        if self.sigma is None:
            object.__setattr__(self, "sigma", DEFAULT_SIGMA.get(self.type, DEFAULT_SIGMA["simdr"]))
            object.__setattr__(self, "_sigma_is_default", True)

    @property
    def sigma_is_default(self) -> bool:
        """True when ``sigma`` was not given and holds the type's default."""
        return bool(getattr(self, "_sigma_is_default", False))

    def validate(self, where: str) -> None:
        _choice(where, "codec.type", self.type, ("simdr", "sa_simdr", "heatmap"))
        _choice(where, "codec.confidence", self.confidence, ("min", "max", "mean"))
        size = tuple(self.input_size)
        if len(size) != 2 or not all(MIN_INPUT_SIDE <= v <= MAX_INPUT_SIDE for v in size):
            raise ConfigError(
                f"{where}: codec.input_size must be [W, H] with sides in "
                f"[{MIN_INPUT_SIDE}, {MAX_INPUT_SIDE}] px, got {list(size)}"
            )
        try:
            check_split_ratio(self.split_ratio, (int(size[0]), int(size[1])))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        bins = max(size) * self.split_ratio  # a float: int() of a huge product overflows
        if bins >= MAX_SIMDR_BINS + 1:
            raise ConfigError(
                f"{where}: codec.split_ratio {self.split_ratio} is too large: "
                f"{bins:.0f} bins for input_size {list(size)} (at most {MAX_SIMDR_BINS})"
            )
        if not 0.0 < self.sigma <= MAX_SIGMA:
            raise ConfigError(
                f"{where}: codec.sigma must be in (0, {MAX_SIGMA:g}], got {self.sigma}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                f"{where}: codec.label_smoothing must be in [0, 1), got {self.label_smoothing}"
            )
        _in_range(where, "codec.heatmap_stride", self.heatmap_stride, 1, MAX_INPUT_SIDE)
        s = self.heatmap_stride
        if self.type == "heatmap" and (size[0] % s or size[1] % s or min(size) // s < 2):
            raise ConfigError(
                f"{where}: codec.heatmap_stride {s} must divide codec.input_size {list(size)} "
                "and leave a heatmap of at least 2x2 px"
            )
        x_bins = int(size[0] * self.split_ratio)
        shift = self.flip_shift
        if self.type != "heatmap" and shift is not None and not 0.0 <= shift < x_bins:
            raise ConfigError(
                f"{where}: codec.flip_shift must be null or in [0, {x_bins}) (below the x bins), "
                f"got {shift}"
            )

    @property
    def width(self) -> int:
        return int(self.input_size[0])

    @property
    def height(self) -> int:
        return int(self.input_size[1])


@dataclass(frozen=True)
class DataConfig:
    """Dataset paths (relative to ``root``) and train-time augmentation.

    ``dataset``: ``coco`` (COCO keypoints json, AP) or ``mpii`` (the HRNet MPII json, PCKh;
    :mod:`simdr_lib.data.mpii`). ``pckh_gt``: the MPII PCKh ground truth (``gt_valid.mat`` or a
    json with head boxes; empty = the ``val_ann`` json's own ``head_box`` entries).
    """

    dataset: str = "coco"  # coco | mpii
    root: str = "data/synthetic"
    train_ann: str = "annotations/person_keypoints_train.json"
    train_images: str = "images/train"
    val_ann: str = "annotations/person_keypoints_val.json"
    val_images: str = "images/val"
    det_file: str = "annotations/detections_val.json"
    det_score_thresh: float = 0.0
    synthetic: bool = True  # generate the default dataset at ``root`` if it is missing
    synthetic_train: int = 800
    synthetic_val: int = 100
    flip: bool = True
    rot_factor: float = 40.0
    scale_factor: float = 0.35
    half_body_prob: float = 0.3
    num_joints_half_body: int = 8
    padding: float = 1.25
    pixel_std: float = 200.0
    num_workers: int = 2
    max_image_pixels: int = 100_000_000  # decoded images above this are refused (headers)
    pckh_gt: str = ""  # mpii: gt_valid.mat or a json with head boxes ("" = val_ann's)

    def validate(self, where: str) -> None:
        _choice(where, "data.dataset", self.dataset, DATASETS)
        for name in ("rot_factor", "det_score_thresh"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{where}: data.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.scale_factor < 1.0:
            raise ConfigError(
                f"{where}: data.scale_factor must be in [0, 1), got {self.scale_factor}"
            )
        if not 0.0 <= self.half_body_prob <= 1.0:
            raise ConfigError(
                f"{where}: data.half_body_prob must be in [0, 1], got {self.half_body_prob}"
            )
        _positive(where, "data.padding", self.padding)
        _positive(where, "data.pixel_std", self.pixel_std)
        _in_range(where, "data.num_workers", self.num_workers, 0, MAX_NUM_WORKERS)
        for name in ("synthetic_train", "synthetic_val", "num_joints_half_body"):
            _in_range(where, f"data.{name}", getattr(self, name), 0, MAX_INT)
        _positive(where, "data.max_image_pixels", self.max_image_pixels)

    def path(self, key: str) -> Path:
        """Absolute-or-relative path of ``key`` (e.g. ``train_ann``) under ``root``."""
        value = getattr(self, key)
        return Path(value) if Path(value).is_absolute() else Path(self.root) / value


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule (epochs), checkpointing. Official: Adam 1e-3, x0.1 at 170/200 of 210."""

    epochs: int = 210
    batch_size: int = 32
    lr: float = 1e-3
    lr_steps: tuple[int, ...] = (170, 200)
    lr_gamma: float = 0.1
    warmup_steps: int = 1000
    warmup_start_factor: float = 0.001
    weight_decay: float = 0.0
    clip_grad_norm: float = 0.0  # 0 = off
    amp: bool = True  # used only on GPU
    seed: int = 0
    save_dir: str = "checkpoints"
    eval_every: int = 1  # epochs between evaluations with --eval
    max_steps_per_epoch: int = 0  # 0 = full epoch (small values for smoke tests)
    # CPU intra-op threads per rank; 0 = auto (simdr_lib.device.training_cpu_threads)
    cpu_threads: int = 0
    # data-parallel CPU ranks simdr starts (paddle.distributed.launch), batch_size split
    # across them; 0 = auto: one per core (simdr_lib.device.training_ranks), 1 = in-process
    ranks: int = 0

    def validate(self, where: str) -> None:
        _in_range(where, "train.epochs", self.epochs, 1, MAX_EPOCHS)
        _in_range(where, "train.cpu_threads", self.cpu_threads, 0, MAX_CPU_THREADS)
        _in_range(where, "train.ranks", self.ranks, 0, MAX_RANKS)
        if self.ranks > 1 and self.batch_size % self.ranks:
            raise ConfigError(
                f"{where}: train.batch_size {self.batch_size} must split evenly across "
                f"train.ranks {self.ranks}"
            )
        _in_range(where, "train.batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _positive(where, "train.lr", self.lr)
        _positive(where, "train.lr_gamma", self.lr_gamma)
        _in_range(where, "train.warmup_steps", self.warmup_steps, 0, MAX_INT)
        _in_range(where, "train.max_steps_per_epoch", self.max_steps_per_epoch, 0, MAX_INT)
        _in_range(where, "train.eval_every", self.eval_every, 1, MAX_EPOCHS)
        _in_range(where, "train.seed", self.seed, 0, MAX_SEED)
        if not 0.0 <= self.warmup_start_factor <= 1.0:
            raise ConfigError(
                f"{where}: train.warmup_start_factor must be in [0, 1], "
                f"got {self.warmup_start_factor}"
            )
        for name in ("weight_decay", "clip_grad_norm"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{where}: train.{name} must be >= 0, got {getattr(self, name)}")
        if list(self.lr_steps) != sorted(self.lr_steps) or any(m < 0 for m in self.lr_steps):
            raise ConfigError(
                f"{where}: train.lr_steps must be increasing epochs >= 0, got {list(self.lr_steps)}"
            )


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation protocol. ``use_gt_bbox: false`` switches to the detections json."""

    use_gt_bbox: bool = True
    flip_test: bool = True
    oks_thresh: float = 0.9
    in_vis_thresh: float = 0.01
    batch_size: int = 64
    max_images: int = 0  # 0 = all (small values for smoke tests)

    def validate(self, where: str) -> None:
        if not 0 < self.oks_thresh <= 1:
            raise ConfigError(f"{where}: eval.oks_thresh must be in (0, 1], got {self.oks_thresh}")
        if not 0 <= self.in_vis_thresh < 1:
            raise ConfigError(
                f"{where}: eval.in_vis_thresh must be in [0, 1), got {self.in_vis_thresh}"
            )
        _in_range(where, "eval.batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _in_range(where, "eval.max_images", self.max_images, 0, MAX_INT)


@dataclass(frozen=True)
class Config:
    """The one config object that flows through the code."""

    name: str = "run"
    weights: str = ""  # full model weights for eval/export/infer (seed: -o weights=...)
    device: str = "auto"  # auto | cpu | gpu | gpu:N
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    source: str = field(default="<defaults>", compare=False)

    def validate(self) -> Config:
        where = self.source
        if self.name in ("", ".", "..") or any(c in self.name for c in "/\\"):
            raise ConfigError(f"{where}: name must be a plain run name, got {self.name!r}")
        dev = self.device
        index = dev[4:] if dev.startswith("gpu:") else ""
        if not (dev in ("auto", "cpu", "gpu") or (index.isascii() and index.isdigit())):
            raise ConfigError(f"{where}: device must be auto|cpu|gpu|gpu:N, got {dev!r}")
        for section in (self.model, self.codec, self.data, self.train, self.eval):
            section.validate(where)
        if self.model.head == "heatmap" and self.codec.type != "heatmap":
            raise ConfigError(f"{where}: model.head heatmap needs codec.type heatmap")
        if self.model.head == "simdr" and self.codec.type == "heatmap":
            raise ConfigError(f"{where}: codec.type heatmap needs model.head heatmap")
        _check_dataset(self)
        if self.codec.type == "heatmap" and self.codec.heatmap_stride != BACKBONE_STRIDE:
            raise ConfigError(
                f"{where}: codec.heatmap_stride must be {BACKBONE_STRIDE} (the backbones' output "
                f"stride) for model.head heatmap, got {self.codec.heatmap_stride}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for tuples) that round-trips through :func:`config_from_dict`."""
        out = dataclasses.asdict(self)
        out.pop("source")
        return tuples_to_lists(out)

    def with_overrides(self, overrides: dict[str, Any] | list[str] | str | None) -> Config:
        """New config with dotted-key overrides applied and validated."""
        if not overrides:
            return self
        data = self.to_dict()
        if self.codec.sigma_is_default:
            data["codec"]["sigma"] = None  # still "the type's default" after the overrides
        for key, value in parse_overrides(overrides).items():
            set_dotted(data, key, value, self.source)
        return config_from_dict(data, source=f"{self.source} (with overrides)")


def load_config(
    path: str | Path | None, overrides: dict[str, Any] | list[str] | None = None
) -> Config:
    """Read a YAML config (None = defaults) and apply ``overrides``; raises ConfigError."""
    if path is None or str(path) == "":
        cfg = Config().validate()
        return cfg.with_overrides(overrides)
    p = Path(path)
    raw = read_config_yaml(p)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections")
    cfg = config_from_dict(raw, source=str(p))
    return cfg.with_overrides(overrides)


def config_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Config:
    """Map a nested dict onto :class:`Config`, rejecting unknown keys and wrong types."""
    cfg = build_dataclass(Config, dict(raw), prefix="", source=source)
    return replace(cfg, source=source).validate()


def save_config(cfg: Config, path: str | Path) -> None:
    """Write ``cfg`` as YAML (atomically) so a run can be reproduced from its folder."""
    from simdr_lib.atomic_io import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


# --------------------------------------------------------------------------- internals


def _check_dataset(cfg: Config) -> None:
    """MPII needs 16 joints and ground-truth boxes (it has no detections protocol)."""
    if cfg.data.dataset != "mpii":
        return
    if cfg.model.num_joints != DATASET_JOINTS["mpii"]:
        raise ConfigError(
            f"{cfg.source}: data.dataset mpii needs model.num_joints 16, got {cfg.model.num_joints}"
        )
    if not cfg.eval.use_gt_bbox:
        raise ConfigError(
            f"{cfg.source}: data.dataset mpii is evaluated on its own boxes only: "
            "set eval.use_gt_bbox true"
        )


def _choice(where: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{where}: {key} must be one of {'|'.join(allowed)}, got {short_repr(value)}"
        )


def _positive(where: str, key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{where}: {key} must be > 0, got {value}")


def _in_range(where: str, key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{where}: {key} must be in [{low}, {high}], got {value}")
