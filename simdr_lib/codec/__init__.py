"""Codecs: keypoints <-> training targets and model outputs <-> keypoints (pure numpy).

Every codec has the interface of :class:`~simdr_lib.codec.base.Codec` (docs/CONTRACTS.md):
``input_size``, ``encode``, ``to_prob``, ``decode``, ``flip_back`` and ``merge_flip``. A flip
test is one line::

    prob = codec.merge_flip(p, codec.flip_back(p_flipped, flip_pairs))
"""

from __future__ import annotations

from collections.abc import Sequence

from simdr_lib.codec.base import Codec, Decoded, HeatmapTargets, Outputs, SimDRTargets, Targets
from simdr_lib.codec.heatmap import HeatmapCodec
from simdr_lib.codec.simdr import SimDRCodec
from simdr_lib.errors import ConfigError

CODEC_KINDS = ("simdr", "sa_simdr", "heatmap")
#: heatmap sigma (heatmap px) when none is given: the official HRNet COCO 256x192 value
DEFAULT_HEATMAP_SIGMA = 2.0

__all__ = [
    "CODEC_KINDS",
    "DEFAULT_HEATMAP_SIGMA",
    "Codec",
    "Decoded",
    "HeatmapCodec",
    "HeatmapTargets",
    "Outputs",
    "SimDRCodec",
    "SimDRTargets",
    "Targets",
    "build_codec",
]


def build_codec(
    kind: str,
    input_size: Sequence[int],
    split_ratio: float = 2.0,
    sigma: float | None = None,
    label_smoothing: float = 0.1,
    normalize: bool = True,
    confidence: str = "min",
    stride: int = 4,
    use_dark: bool = False,
    flip_shift: float | None = None,
) -> Codec:
    """Build a codec from plain config values.

    Args:
        kind: ``"simdr"`` (smoothed one-hot; ``sigma`` is ignored), ``"sa_simdr"`` (Gaussian
            labels; ``sigma`` in bins is required) or ``"heatmap"`` (``sigma`` in heatmap
            pixels, :data:`DEFAULT_HEATMAP_SIGMA` when None).
        input_size: ``(W, H)`` crop size in pixels.
        split_ratio, label_smoothing, normalize, confidence: SimDR / SA-SimDR options
            (see :class:`SimDRCodec`); ignored by the heatmap codec.
        stride, use_dark: heatmap options (see :class:`HeatmapCodec`); ignored otherwise.
        flip_shift: SimDR / SA-SimDR flip-test shift in bins (None: exact, ``k-1``).

    Raises:
        ConfigError: unknown ``kind``, missing SA-SimDR ``sigma`` or an invalid value.
    """
    if kind == "simdr":
        return SimDRCodec(
            input_size=input_size,
            split_ratio=split_ratio,
            sigma=None,
            label_smoothing=label_smoothing,
            confidence=confidence,
            flip_shift_bins=flip_shift,
        )
    if kind == "sa_simdr":
        if sigma is None:
            raise ConfigError("codec.sigma is required for kind 'sa_simdr' (Gaussian std in bins)")
        return SimDRCodec(
            input_size=input_size,
            split_ratio=split_ratio,
            sigma=sigma,
            label_smoothing=label_smoothing,
            normalize=normalize,
            confidence=confidence,
            flip_shift_bins=flip_shift,
        )
    if kind == "heatmap":
        return HeatmapCodec(
            input_size=input_size,
            stride=stride,
            sigma=DEFAULT_HEATMAP_SIGMA if sigma is None else sigma,
            use_dark=use_dark,
        )
    raise ConfigError(f"codec.kind must be one of {CODEC_KINDS}, got {kind!r}")
