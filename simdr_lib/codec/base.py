"""What every codec is (the :class:`Codec` protocol), its value types and shared validators.

A codec turns keypoints into training targets and model outputs back into keypoints. It is
pure numpy, vectorized over the batch, and independent of Paddle. Units and shapes:

- ``keypoints`` ``(N, K, 2)`` float pixels ``(x, y)`` in the input crop (pixel centres at
  integer coordinates; a horizontal flip maps ``x -> W-1-x``); ``visible`` ``(N, K)`` COCO
  visibility (0 unlabeled, 1 occluded, 2 visible) or bools.
- model outputs are tuples of arrays: SimDR / SA-SimDR ``(x (N, K, L_x), y (N, K, L_y))``
  with ``L_x = int(W*k)``, ``L_y = int(H*k)``; heatmap ``(heatmap (N, K, H/s, W/s),)``.

The validators raise :class:`~simdr_lib.errors.ConfigError` naming the offending option, so a
codec built without a config (notebooks, tests, deployment) refuses bad values as the config
does; :mod:`simdr_lib.config` calls the same :func:`check_split_ratio`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, TypedDict, Union, runtime_checkable

import numpy as np

from simdr_lib.errors import ConfigError

#: model outputs or probabilities: a tuple of ``(N, K, ...)`` arrays in the codec's layout
Outputs = tuple[np.ndarray, ...]


class SimDRTargets(TypedDict):
    """:meth:`SimDRCodec.encode <simdr_lib.codec.simdr.SimDRCodec.encode>` output (float32)."""

    x_target: np.ndarray  # (N, K, L_x)
    y_target: np.ndarray  # (N, K, L_y)
    target_weight: np.ndarray  # (N, K), 0 or 1


class HeatmapTargets(TypedDict):
    """:meth:`HeatmapCodec.encode <simdr_lib.codec.heatmap.HeatmapCodec.encode>` output."""

    heatmap: np.ndarray  # (N, K, h, w) float32
    target_weight: np.ndarray  # (N, K) float32, 0 or 1


Targets = Union[SimDRTargets, HeatmapTargets]


class Decoded(NamedTuple):
    """Keypoints and scores decoded from one batch; unpacks as ``keypoints, scores``."""

    keypoints: np.ndarray  # (N, K, 2) float64 px in the input crop
    scores: np.ndarray  # (N, K) float32 (SimDR: probabilities in [0, 1])


@runtime_checkable
class Codec(Protocol):
    """The interface shared by :class:`~simdr_lib.codec.simdr.SimDRCodec` and
    :class:`~simdr_lib.codec.heatmap.HeatmapCodec` (docs/CONTRACTS.md).

    A flip test is ``codec.merge_flip(p, codec.flip_back(p_mirrored, flip_pairs))``.
    """

    #: ``(W, H)`` of the input crop in pixels
    input_size: tuple[int, int]

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> Targets:
        """``keypoints (N, K, 2)`` crop px, ``visible (N, K)`` -> targets + ``target_weight``."""
        ...

    def to_prob(self, outputs: Outputs) -> Outputs:
        """Raw model outputs -> the distributions :meth:`decode` reads (same shapes)."""
        ...

    def decode(self, prob_outputs: Outputs) -> Decoded:
        """Distributions -> ``keypoints (N, K, 2)`` crop px and ``scores (N, K)``."""
        ...

    def flip_back(self, prob_outputs: Outputs, flip_pairs: Sequence[tuple[int, int]]) -> Outputs:
        """Outputs of the mirrored crop mapped back onto the original crop (same shapes)."""
        ...

    def merge_flip(self, prob_a: Outputs, prob_b: Outputs) -> Outputs:
        """Two outputs of the same crop merged into one (flip test)."""
        ...


# ----------------------------------------------------------------------------- validators
def check_input_size(input_size: Any, owner: str = "codec") -> tuple[int, int]:
    """``input_size`` as a ``(W, H)`` tuple of ints >= 2, or :class:`ConfigError`."""
    try:
        values = tuple(input_size)
    except TypeError:
        values = ()
    ok = len(values) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 2 for v in values
    )
    if not ok:
        raise ConfigError(
            f"{owner}.input_size must be [W, H] with two integers >= 2, got {input_size!r}"
        )
    return int(values[0]), int(values[1])


def check_number(value: Any, name: str, minimum: float = 0.0, strict: bool = True) -> float:
    """``value`` as a finite float ``> minimum`` (``>=`` if not ``strict``), or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v) or (v <= minimum if strict else v < minimum)
    if bad:
        op = ">" if strict else ">="
        raise ConfigError(f"{name} must be a finite number {op} {minimum:g}, got {value!r}")
    return v


def check_split_ratio(
    split_ratio: Any, input_size: tuple[int, int], name: str = "codec.split_ratio"
) -> float:
    """The one rule for SimDR's ``k`` (bins per pixel): a finite number > 0 that leaves at
    least 2 bins on each axis (``int(W*k) >= 2`` and ``int(H*k) >= 2``).

    ``k`` need not be >= 1 or an integer: the official configs use 1, 1.5, 2 and 3, and
    ``k < 1`` (bins coarser than pixels) encodes, decodes and flips by the same formulas
    (the exact flip shift ``k-1`` is then negative). Two bins is what the label-smoothed
    one-hot needs (``eps / (L-1)``). The upper bound (memory) is the config's job.
    """
    k = check_number(split_ratio, name)
    bins = min(input_size) * k  # a float: int() of a huge product overflows
    if bins < 2:
        raise ConfigError(
            f"{name} {k:g} leaves fewer than 2 bins for input_size {list(input_size)} "
            "(int(W*k) and int(H*k) must be >= 2)"
        )
    return k


def prepare_keypoints(keypoints: Any, visible: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and return ``(kp float64 (N, K, 2), valid bool (N, K))``.

    A joint is valid when ``visible > 0`` and both coordinates are finite; non-finite
    coordinates are replaced by 0 so that no NaN reaches the targets.

    Raises:
        ValueError: ``keypoints`` is not ``(N, K, 2)`` or ``visible`` not ``(N, K)``.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = np.asarray(visible)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must have shape (N, K, 2), got {kp.shape}")
    if vis.shape != kp.shape[:2]:
        raise ValueError(f"visible must have shape {kp.shape[:2]} (N, K), got {vis.shape}")
    finite = np.isfinite(kp).all(axis=-1)
    valid = (vis > 0) & finite
    return np.where(finite[..., None], kp, 0.0), valid
