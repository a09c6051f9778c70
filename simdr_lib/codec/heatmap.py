"""2D heatmap codec (the HRNet / SimpleBaseline baseline), same interface as the SimDR codec.

Conventions:

- Heatmap pixel ``j`` sits at crop pixel ``j * stride`` (the HRNet convention, whose integer
  centre is ``int(x/stride + 0.5)``). The Gaussian is centred at the *sub-pixel* position
  ``x / stride`` (the "unbiased encoding" of DARK, Zhang et al. 2020), so its continuous peak is 1
  and the samples peak slightly below 1 off the grid. The full grid is filled (no 3 sigma patch).
- Classic decode: argmax, then a quarter heatmap pixel towards the higher neighbour on each
  axis whose neighbours both exist, times ``stride``.
- DARK decode: blur the heatmap with the training sigma (zero padding, as DARK's reference
  code), take the log, and at the argmax apply ``offset = -H^-1 grad`` from central
  differences (exact for a Gaussian since its log is a quadratic). Near the border, where
  the padding would bias the blur, the unblurred log-heatmap is used (see
  :func:`dark_offset`).
- Flip: mirror the width axis and move the content one heatmap pixel towards *higher*
  indices (the official HRNet ``SHIFT_HEATMAP``; the vacated column gets the map's minimum,
  not a copy of the edge column). With ``x' = W-1-x`` and ``W`` a multiple of
  the stride the exact shift is ``(stride-1)/stride`` pixel, so the flipped heatmap is
  biased by ``1/stride`` heatmap pixel (1 crop pixel) to the right, as in the official code.

Facts from HRNet (github.com/leoxiaobin/deep-high-resolution-net.pytorch) and DARK
(github.com/ilovepose/DarkPose); re-implemented from the formulas, not copied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from simdr_lib.codec.base import (
    Decoded,
    HeatmapTargets,
    check_input_size,
    check_number,
    prepare_keypoints,
)
from simdr_lib.errors import ConfigError
from simdr_lib.keypoints import flip_permutation

#: ``(heatmap (N, K, h, w),)``; a bare array or a one-element list is accepted too
HeatmapOutputs = Union[tuple[np.ndarray, ...], list[np.ndarray], np.ndarray]

_DARK_LOG_FLOOR = 1e-10
_DARK_MAX_OFFSET = 1.0  # heatmap pixels; a safeguard against ill-conditioned Hessians


# ----------------------------------------------------------------------------- pure helpers
def gaussian_heatmaps(
    centers: np.ndarray, size: tuple[int, int], sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Separable Gaussians ``exp(-((u-cx)^2 + (v-cy)^2) / (2 sigma^2))`` on a ``(w, h)`` grid.

    Args:
        centers: ``(N, K, 2)`` sub-pixel centres in heatmap pixels.
        size: ``(w, h)`` heatmap size.
        sigma: std in heatmap pixels.

    Returns:
        ``(heatmaps (N, K, h, w) float32, in_range (N, K) bool)``; ``in_range`` is False when the
        ``+-3 sigma`` window of either axis lies wholly outside the grid.
    """
    w, h = size
    gx = np.exp(-((np.arange(w) - centers[..., 0, None]) ** 2) / (2.0 * sigma * sigma))
    gy = np.exp(-((np.arange(h) - centers[..., 1, None]) ** 2) / (2.0 * sigma * sigma))
    heatmaps = (gy[..., :, None] * gx[..., None, :]).astype(np.float32)
    reach = 3.0 * sigma
    limit = np.array([w - 1, h - 1], dtype=np.float64)
    in_range = ((centers + reach >= 0) & (centers - reach <= limit)).all(axis=-1)
    return heatmaps, in_range


def blur_matrix(n: int, sigma: float) -> np.ndarray:
    """``(n, n)`` matrix ``B`` with ``B @ v`` = Gaussian blur of ``v`` with zero padding.

    The kernel has radius ``ceil(3 sigma)`` and sums to 1; outside the grid the signal is 0,
    as in DARK's reference code (which zero-pads the heatmap before ``cv2.GaussianBlur``).
    """
    radius = max(1, math.ceil(3.0 * sigma))
    dist = np.arange(n)[:, None] - np.arange(n)[None, :]
    weights = np.exp(-(dist**2) / (2.0 * sigma * sigma)) * (np.abs(dist) <= radius)
    total = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2.0 * sigma * sigma)).sum()
    return weights / total


def _gather(flat: np.ndarray, width: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Values of ``flat (N, K, h*w)`` at integer ``(ys, xs)`` (N, K) (clipped to the grid)."""
    height = flat.shape[-1] // width
    idx = np.clip(ys, 0, height - 1) * width + np.clip(xs, 0, width - 1)
    return np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]


def argmax_2d(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-map argmax of ``(N, K, h, w)``: ``(xs (N,K) int, ys (N,K) int, maxvals (N,K))``."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = np.argmax(flat, axis=-1)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    return idx % w, idx // w, maxvals


def quarter_offset(heatmaps: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Classic refinement: ``+-0.25`` heatmap px towards the higher neighbour, per axis.

    Returns ``(N, K, 2)`` offsets; an axis gets 0 at the border (a neighbour missing) or when
    both neighbours are equal.
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    dx = _gather(flat, w, ys, xs + 1) - _gather(flat, w, ys, xs - 1)
    dy = _gather(flat, w, ys + 1, xs) - _gather(flat, w, ys - 1, xs)
    off = 0.25 * np.sign(np.stack([dx, dy], axis=-1).astype(np.float64))
    inside = np.stack([(xs > 0) & (xs < w - 1), (ys > 0) & (ys < h - 1)], axis=-1)
    return np.where(inside, off, 0.0)


def dark_offset(heatmaps: np.ndarray, xs: np.ndarray, ys: np.ndarray, sigma: float) -> np.ndarray:
    """DARK sub-pixel offset ``-H^-1 grad`` of the log-heatmap at ``(xs, ys)``.

    The heatmap is blurred with the training sigma first (DARK's modulation), but only where
    the blur window of the 3x3 stencil lies inside the grid: zero padding (DARK's reference
    code) pulls joints near the border inwards by up to ~3 crop px, and edge replication
    pushes them outwards, so within ``ceil(3 sigma) + 1`` px of the border the unblurred
    log-heatmap is used (exact for a Gaussian, whose log is a quadratic). The stencil uses
    the +-1 neighbours, so refinement needs 1 px to the border (the reference code's +-2
    second differences need 2).

    Args:
        heatmaps: ``(N, K, h, w)``; xs, ys: ``(N, K)`` integer argmax.
        sigma: blur std in heatmap pixels (the training sigma).

    Returns:
        ``(N, K, 2)`` offsets in heatmap pixels, clipped to ``+-1``; 0 at the border or where
        the Hessian is not negative definite.
    """
    n, k, h, w = heatmaps.shape
    hm = heatmaps.astype(np.float64)
    blurred = blur_matrix(h, sigma) @ hm @ blur_matrix(w, sigma).T
    reach = max(1, math.ceil(3.0 * sigma)) + 1  # blur radius + the stencil's neighbour
    inner = (xs >= reach) & (xs <= w - 1 - reach) & (ys >= reach) & (ys <= h - 1 - reach)
    source = np.where(inner[..., None, None], blurred, hm)
    logs = np.log(np.maximum(source, _DARK_LOG_FLOOR)).reshape(n, k, h * w)

    def at(dx: int, dy: int) -> np.ndarray:
        return _gather(logs, w, ys + dy, xs + dx)

    center = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    hxx = at(1, 0) - 2.0 * center + at(-1, 0)
    hyy = at(0, 1) - 2.0 * center + at(0, -1)
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy * hxy
    ok = (xs > 0) & (xs < w - 1) & (ys > 0) & (ys < h - 1) & (hxx < 0) & (det > 1e-12)
    safe_det = np.where(ok, det, 1.0)
    off_x = -(hyy * gx - hxy * gy) / safe_det
    off_y = -(hxx * gy - hxy * gx) / safe_det
    off = np.stack([off_x, off_y], axis=-1)
    return np.where(ok[..., None], np.clip(off, -_DARK_MAX_OFFSET, _DARK_MAX_OFFSET), 0.0)


def _unpack(outputs: HeatmapOutputs, name: str) -> np.ndarray:
    """``(heatmap,)`` (or a bare array) to a ``(N, K, h, w)`` numpy array."""
    if isinstance(outputs, (tuple, list)):
        if len(outputs) != 1:
            raise ValueError(f"{name} expects a tuple (heatmap,), got {len(outputs)} arrays")
        outputs = outputs[0]
    hm = np.asarray(outputs)
    if hm.ndim != 4:
        raise ValueError(f"{name}: heatmap must have shape (N, K, h, w), got {hm.shape}")
    return hm


# ----------------------------------------------------------------------------- codec
@dataclass(frozen=True)
class HeatmapCodec:
    """2D Gaussian heatmap codec (baseline).

    Fields:
        input_size: ``(W, H)`` crop size in pixels; ``heatmap_size = (W//stride, H//stride)``.
        stride: input pixels per heatmap pixel (int >= 1).
        sigma: Gaussian std in heatmap pixels (also the DARK blur std).
        use_dark: decode with the DARK Taylor refinement instead of the quarter-pixel shift.
    """

    input_size: tuple[int, int]
    stride: int = 4
    sigma: float = 2.0
    use_dark: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", check_input_size(self.input_size, "codec"))
        s = self.stride
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ConfigError(f"codec.stride must be an integer >= 1, got {s!r}")
        object.__setattr__(self, "stride", int(s))
        if min(self.input_size) // int(s) < 2:
            raise ConfigError(
                f"codec.input_size {self.input_size} is too small for stride {s} "
                "(the heatmap needs at least 2x2 pixels)"
            )
        object.__setattr__(self, "sigma", check_number(self.sigma, "codec.sigma"))
        if not isinstance(self.use_dark, (bool, np.bool_)):
            raise ConfigError(f"codec.use_dark must be true or false, got {self.use_dark!r}")

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(w, h) = (W // stride, H // stride)``."""
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> HeatmapTargets:
        """Keypoints to heatmap targets.

        Args:
            keypoints: ``(N, K, 2)`` float crop pixels; visible: ``(N, K)`` COCO v or bools.

        Returns:
            ``heatmap (N, K, h, w)`` float32 Gaussians of std ``sigma`` centred at
            ``keypoints / stride`` (continuous peak 1) and ``target_weight (N, K)`` float32:
            0 when ``visible == 0``, a coordinate is not finite, or the ``+-3 sigma`` window of
            either axis lies wholly outside the heatmap, else 1. Weight-0 maps are zeros.
        """
        kp, valid = prepare_keypoints(keypoints, visible)
        heatmaps, in_range = gaussian_heatmaps(kp / self.stride, self.heatmap_size, self.sigma)
        weight = (valid & in_range).astype(np.float32)
        return HeatmapTargets(heatmap=heatmaps * weight[..., None, None], target_weight=weight)

    def _check_size(self, hm: np.ndarray, name: str) -> None:
        w, h = self.heatmap_size
        if hm.shape[-2:] != (h, w):
            raise ConfigError(
                f"{name}: heatmap is {hm.shape[-1]}x{hm.shape[-2]} (w x h) but the codec expects "
                f"{w}x{h} (input_size {self.input_size}, stride {self.stride})"
            )

    def to_prob(self, outputs: HeatmapOutputs) -> tuple[np.ndarray]:
        """Identity (heatmaps are regressed, not classified): returns ``(heatmap,)``."""
        return (_unpack(outputs, "to_prob"),)

    def decode(self, prob_outputs: HeatmapOutputs) -> Decoded:
        """``(heatmap (N, K, h, w),)`` to keypoints and scores.

        Returns:
            ``keypoints (N, K, 2)`` float64 crop pixels (refined argmax times ``stride``) and
            ``scores (N, K)`` float32 = the heatmap peak values (maxvals). These are regressed
            values, not probabilities: usually in [0, 1] but not guaranteed.
        """
        hm = _unpack(prob_outputs, "decode")
        self._check_size(hm, "decode")
        xs, ys, maxvals = argmax_2d(hm)
        if self.use_dark:
            off = dark_offset(hm, xs, ys, self.sigma)
        else:
            off = quarter_offset(hm, xs, ys)
        coords = (np.stack([xs, ys], axis=-1) + off) * self.stride
        return Decoded(coords.astype(np.float64), maxvals.astype(np.float32))

    def flip_back(
        self, prob_outputs: HeatmapOutputs, flip_pairs: Sequence[tuple[int, int]]
    ) -> tuple[np.ndarray]:
        """Heatmaps of the mirrored crop (``x' = W-1-x``) mapped back onto the original crop.

        Mirrors the width axis, moves the content one heatmap pixel towards higher x indices
        (the official ``SHIFT_HEATMAP``) and swaps the ``flip_pairs`` channels. The vacated
        column 0 gets each map's minimum instead of the official copy of the edge column: a
        copy ties with column 1 and the argmax then snaps joints near the left border onto
        column 0. Returns ``(heatmap (N, K, h, w),)``. An involution except on column 0.
        """
        hm = _unpack(prob_outputs, "flip_back")
        self._check_size(hm, "flip_back")
        perm = flip_permutation(hm.shape[1], tuple(flip_pairs))
        mirrored = hm[:, perm][..., ::-1]
        fill = np.broadcast_to(mirrored.min(axis=(-2, -1), keepdims=True), (*hm.shape[:-1], 1))
        return (np.concatenate([fill, mirrored[..., :-1]], axis=-1),)

    def merge_flip(self, prob_a: HeatmapOutputs, prob_b: HeatmapOutputs) -> tuple[np.ndarray]:
        """Mean of two heatmap outputs of the same crop: ``(heatmap (N, K, h, w),)``."""
        return (0.5 * (_unpack(prob_a, "merge_flip") + _unpack(prob_b, "merge_flip")),)
