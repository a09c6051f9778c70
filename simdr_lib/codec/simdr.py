"""SimDR and SA-SimDR codecs: keypoints <-> 1D x / y classification vectors (pure numpy).

Conventions (shared by encode, decode and flip_back, so they are mutually consistent):

- Keypoints are float pixels in the input crop, pixel ``x`` covering the crop columns
  ``0 .. W-1`` (a horizontal flip maps ``x -> W-1-x``).
- With split ratio ``k``, the x vector has ``L = int(W*k)`` bins and bin ``i`` sits at crop
  pixel ``i / k`` (bin *centres* at integer multiples of ``1/k``; bin 0 is pixel 0). Decoding
  returns ``argmax / k``, so encode -> decode is exact up to ``1/(2k)`` px.
- SimDR (``sigma=None``): the target class is ``b = floor(x*k + 0.5)``, rounding halves up
  (also for negative ``x``). The official encoder uses ``np.around(x*k)``, which rounds halves
  to even; the two differ only when ``x*k`` is exactly ``m + 1/2`` (``x = 1.25`` at ``k = 2``:
  bin 3 here, bin 2 there), which affine-warped float keypoints practically never are. Half up
  is kept because it commutes with shifts: moving a joint by one bin moves its class by one
  bin, while half-to-even alternately rounds such points down and up. The label is the
  official SimDR label-smoothed one-hot (the target of the SimDR code's ``NMTCritierion``):
  ``1 - eps`` at ``b`` and ``eps / (L-1)`` at every other bin, which sums to 1.
- SA-SimDR (``sigma`` in bins): ``g_i = exp(-(i - x*k)^2 / (2 sigma^2))``, divided by
  ``sigma * sqrt(2 pi)`` when ``normalize`` (the official SA-SimDR label; it is *not*
  renormalized when cut by the vector ends). The centre ``x*k`` is sub-bin.
- Flip test: see :meth:`SimDRCodec.flip_back`.

Reference facts from the official SimDR / SA-SimDR code (github.com/leeyegy/SimDR),
re-implemented here from their description, not copied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simdr_lib.codec.base import (
    Decoded,
    Outputs,
    SimDRTargets,
    check_input_size,
    check_number,
    check_split_ratio,
    prepare_keypoints,
)
from simdr_lib.errors import ConfigError
from simdr_lib.keypoints import flip_permutation

_CONFIDENCE_RULES = ("min", "max", "mean")
_LOG_CLIP = 1e-12


# ----------------------------------------------------------------------------- validation
def _as_pair(outputs: Outputs | list[np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Unpack ``(x, y)`` model outputs into two numpy arrays of rank >= 2."""
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        raise ValueError(f"{name} must be a tuple (x, y) of two arrays")
    x, y = (np.asarray(v) for v in outputs)
    if x.ndim < 2 or y.ndim < 2 or x.shape[:-1] != y.shape[:-1]:
        raise ValueError(f"{name}: x {x.shape} and y {y.shape} must be (N, K, Lx) and (N, K, Ly)")
    return x, y


def _float_dtype(a: np.ndarray) -> np.dtype:
    """float64 stays float64; everything else computes in float32."""
    return np.dtype(np.float64) if a.dtype == np.float64 else np.dtype(np.float32)


# ----------------------------------------------------------------------------- pure helpers
def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of ``logits`` along ``axis`` (same shape, float32/64)."""
    z = np.asarray(logits)
    z = z.astype(_float_dtype(z), copy=False)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def smoothed_onehot_labels(
    centers: np.ndarray, num_bins: int, label_smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """SimDR labels for bin positions ``centers`` (N, K) (already multiplied by ``k``).

    Returns ``(labels (N, K, num_bins) float32, in_range (N, K) bool)``: ``1 - eps`` at bin
    ``b = floor(c + 0.5)`` and ``eps / (num_bins - 1)`` elsewhere; ``in_range`` is
    ``0 <= b <= num_bins - 1`` (out-of-range rows still hold the uniform part).
    """
    b = np.floor(centers + 0.5)
    in_range = (b >= 0) & (b <= num_bins - 1)
    off = label_smoothing / (num_bins - 1)
    bins = np.arange(num_bins, dtype=np.float64)
    labels = np.where(bins == b[..., None], 1.0 - label_smoothing, off)
    return labels.astype(np.float32), in_range


def gaussian_labels(
    centers: np.ndarray, num_bins: int, sigma: float, normalize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """SA-SimDR labels ``exp(-(i - c)^2 / (2 sigma^2))`` for sub-bin centres ``c`` (N, K).

    ``sigma`` is in bins. With ``normalize`` the values are divided by ``sigma * sqrt(2 pi)``
    (a sampled pdf, peak ~0.4/sigma), otherwise the continuous peak is 1. Returns
    ``(labels (N, K, num_bins) float32, in_range (N, K) bool)`` where ``in_range`` is False
    only when the window ``[c - 3 sigma, c + 3 sigma]`` lies wholly outside ``[0, num_bins-1]``.
    """
    bins = np.arange(num_bins, dtype=np.float64)
    labels = np.exp(-((bins - centers[..., None]) ** 2) / (2.0 * sigma * sigma))
    if normalize:
        labels /= sigma * math.sqrt(2.0 * math.pi)
    reach = 3.0 * sigma
    in_range = (centers + reach >= 0) & (centers - reach <= num_bins - 1)
    return labels.astype(np.float32), in_range


def shift_bins(vectors: np.ndarray, shift: float) -> np.ndarray:
    """Resample ``vectors`` (..., L) so that ``out[..., i] = vectors[..., i + shift]``.

    A positive ``shift`` moves the content towards lower indices. Fractional shifts use linear
    interpolation. Positions beyond either end read a virtual bin holding the vector's minimum
    ("no evidence"), so a vacated bin can never win an argmax; integer shifts (within 1e-6) are
    exact gathers. Works for probabilities and logits alike.
    """
    n = vectors.shape[-1]
    fill = vectors.min(axis=-1, keepdims=True)
    padded = np.concatenate([fill, vectors, fill], axis=-1)  # padded[j + 1] == vectors[j]
    nearest = round(shift)
    if abs(shift - nearest) < 1e-6:
        return padded[..., np.clip(np.arange(n) + int(nearest), -1, n) + 1]
    pos = np.clip(np.arange(n, dtype=np.float64) + shift, -1.0, float(n)) + 1.0
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n + 1)
    w = (pos - i0).astype(_float_dtype(vectors))
    return padded[..., i0] * (1.0 - w) + padded[..., i1] * w


def combine_confidence(max_x: np.ndarray, max_y: np.ndarray, rule: str) -> np.ndarray:
    """Combine per-axis maxima (N, K) into one score with ``rule`` in min / max / mean."""
    if rule == "min":
        return np.minimum(max_x, max_y)
    if rule == "max":
        return np.maximum(max_x, max_y)
    if rule == "mean":
        return 0.5 * (max_x + max_y)
    raise ConfigError(f"confidence must be one of {_CONFIDENCE_RULES}, got {rule!r}")


# ----------------------------------------------------------------------------- codec
@dataclass(frozen=True)
class SimDRCodec:
    """SimDR (``sigma=None``) and SA-SimDR (``sigma`` set) codec.

    Fields:
        input_size: ``(W, H)`` of the input crop in pixels.
        split_ratio: ``k > 0`` bins per pixel, any float leaving 2 bins per axis (see
            :func:`~simdr_lib.codec.base.check_split_ratio`); ``L_x = int(W*k)``,
            ``L_y = int(H*k)``.
        sigma: ``None`` for SimDR (label-smoothed one-hot), else the SA-SimDR Gaussian std in bins.
        label_smoothing: SimDR ``eps`` in ``[0, 1)``; ``1-eps`` on the class, ``eps/(L-1)``
            elsewhere (official SimDR formula). Ignored by SA-SimDR.
        normalize: SA-SimDR only: divide the Gaussian by ``sigma*sqrt(2 pi)`` (True, official)
            or keep a peak of 1 (False).
        confidence: how the x and y softmax maxima combine into a score: ``"min"`` (official
            SA-SimDR validation, MMPose), ``"max"`` (official SimDR validation) or ``"mean"``.
        flip_shift_bins: ``None`` for the exact flip-test shift (:attr:`flip_shift`, ``k-1``
            bins), or a fixed number of bins to reproduce a peer's protocol: the official
            code shifts 1 bin for any ``k``, the seed (Paddle-SimDR) 0.
    """

    input_size: tuple[int, int]
    split_ratio: float = 2.0
    sigma: float | None = None
    label_smoothing: float = 0.1
    normalize: bool = True
    confidence: str = "min"
    flip_shift_bins: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", check_input_size(self.input_size, "codec"))
        k = check_split_ratio(self.split_ratio, self.input_size)
        object.__setattr__(self, "split_ratio", k)
        if self.sigma is not None:
            object.__setattr__(self, "sigma", check_number(self.sigma, "codec.sigma"))
        eps = check_number(self.label_smoothing, "codec.label_smoothing", minimum=0.0, strict=False)
        if eps >= 1.0:
            raise ConfigError(f"codec.label_smoothing must be in [0, 1), got {eps!r}")
        object.__setattr__(self, "label_smoothing", eps)
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise ConfigError(f"codec.normalize must be true or false, got {self.normalize!r}")
        if self.confidence not in _CONFIDENCE_RULES:
            raise ConfigError(
                f"codec.confidence must be one of {_CONFIDENCE_RULES}, got {self.confidence!r}"
            )
        if self.flip_shift_bins is not None:
            shift = check_number(
                self.flip_shift_bins, "codec.flip_shift", minimum=0.0, strict=False
            )
            if shift >= self.num_x_bins:
                raise ConfigError(
                    f"codec.flip_shift must be below the {self.num_x_bins} x bins, got {shift}"
                )
            object.__setattr__(self, "flip_shift_bins", shift)

    # -- sizes ----------------------------------------------------------------------------
    @property
    def num_x_bins(self) -> int:
        """Length of the x vector, ``int(W * k)``."""
        return int(self.input_size[0] * self.split_ratio)

    @property
    def num_y_bins(self) -> int:
        """Length of the y vector, ``int(H * k)``."""
        return int(self.input_size[1] * self.split_ratio)

    @property
    def is_gaussian(self) -> bool:
        """True for SA-SimDR (Gaussian labels), False for SimDR (smoothed one-hot)."""
        return self.sigma is not None

    @property
    def flip_shift(self) -> float:
        """Bins by which a reversed x vector moves towards lower indices in :meth:`flip_back`.

        Mirrored bin ``j`` is pixel ``x' = j/k``, i.e. ``x = W-1-j/k`` and bin position
        ``x*k = (W-1)*k - j``; the reversed index is ``r = L-1-j``, so the value at ``r``
        belongs at ``r - shift`` with ``shift = (L-1) - (W-1)*k`` (``= k-1`` when ``W*k`` is an
        integer: 1 bin for ``k=2``, the official ``SHIFT_HEATMAP``). ``flip_shift_bins``
        replaces it when set.
        """
        if self.flip_shift_bins is not None:
            return self.flip_shift_bins
        return (self.num_x_bins - 1) - (self.input_size[0] - 1) * self.split_ratio

    # -- encode ---------------------------------------------------------------------------
    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> SimDRTargets:
        """Keypoints to training targets.

        Args:
            keypoints: ``(N, K, 2)`` float pixels ``(x, y)`` in the input crop.
            visible: ``(N, K)`` COCO visibility (0 unlabeled, 1 occluded, 2 visible) or bools.

        Returns:
            ``x_target (N, K, L_x)``, ``y_target (N, K, L_y)`` and ``target_weight (N, K)``,
            all float32. ``target_weight`` is 0 when ``visible == 0`` or a coordinate is not
            finite; for SimDR also when ``floor(x*k+0.5)`` or ``floor(y*k+0.5)`` falls outside
            ``[0, L-1]``; for SA-SimDR only when the ``+-3 sigma`` window of either axis lies
            wholly outside ``[0, L-1]`` (a joint just outside the crop keeps weight 1 and a
            Gaussian truncated by the vector end). Otherwise 1. Rows of weight 0 are all zeros.
        """
        kp, valid = prepare_keypoints(keypoints, visible)
        centers = kp * self.split_ratio
        if self.is_gaussian:
            x_t, x_ok = gaussian_labels(
                centers[..., 0], self.num_x_bins, self.sigma, self.normalize
            )
            y_t, y_ok = gaussian_labels(
                centers[..., 1], self.num_y_bins, self.sigma, self.normalize
            )
        else:
            eps = self.label_smoothing
            x_t, x_ok = smoothed_onehot_labels(centers[..., 0], self.num_x_bins, eps)
            y_t, y_ok = smoothed_onehot_labels(centers[..., 1], self.num_y_bins, eps)
        weight = (valid & x_ok & y_ok).astype(np.float32)
        return SimDRTargets(
            x_target=x_t * weight[..., None],
            y_target=y_t * weight[..., None],
            target_weight=weight,
        )

    # -- decode ---------------------------------------------------------------------------
    def _check_bins(self, x: np.ndarray, y: np.ndarray, name: str) -> None:
        if x.shape[-1] != self.num_x_bins or y.shape[-1] != self.num_y_bins:
            raise ConfigError(
                f"{name}: outputs have {x.shape[-1]} x / {y.shape[-1]} y bins but the codec "
                f"expects {self.num_x_bins} / {self.num_y_bins} (input_size {self.input_size}, "
                f"split_ratio {self.split_ratio:g})"
            )

    def to_prob(self, outputs: Outputs) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits ``(x (N,K,L_x), y (N,K,L_y))`` to softmax probabilities over bins."""
        x, y = _as_pair(outputs, "to_prob")
        return softmax(x), softmax(y)

    def decode(self, prob_outputs: Outputs) -> Decoded:
        """Probabilities ``(x (N,K,L_x), y (N,K,L_y))`` to keypoints and scores.

        Returns:
            ``keypoints (N, K, 2)`` float64 crop pixels ``argmax / k`` and ``scores (N, K)``
            float32 in ``[0, 1]``: the x and y maxima combined with ``self.confidence``.
        """
        x, y = _as_pair(prob_outputs, "decode")
        self._check_bins(x, y, "decode")
        ix = np.argmax(x, axis=-1)
        iy = np.argmax(y, axis=-1)
        max_x = np.take_along_axis(x, ix[..., None], axis=-1)[..., 0]
        max_y = np.take_along_axis(y, iy[..., None], axis=-1)[..., 0]
        coords = np.stack([ix, iy], axis=-1).astype(np.float64) / self.split_ratio
        scores = combine_confidence(
            max_x.astype(np.float32), max_y.astype(np.float32), self.confidence
        )
        return Decoded(coords, np.clip(scores, 0.0, 1.0).astype(np.float32))

    # -- flip test ------------------------------------------------------------------------
    def flip_back(
        self, prob_outputs: Outputs, flip_pairs: Sequence[tuple[int, int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map outputs predicted on the mirrored crop (``x' = W-1-x``) back onto the original.

        x vectors are reversed along bins and moved ``self.flip_shift`` bins towards lower
        indices (``k-1`` when ``W*k`` is an integer, e.g. 1 bin for ``k=2`` like the official
        ``SHIFT_HEATMAP``; fractional shifts interpolate linearly). The vacated end bins, which
        the mirrored crop has no evidence for, get the vector's minimum rather than a copy of
        the edge bin: a copy would add a spurious peak that wins the argmax for joints near the
        end when the shift is fractional. Left/right joints in ``flip_pairs`` are swapped in
        both x and y; y is not mirrored. Works on probabilities or logits, shapes
        ``(N, K, L_x)``, ``(N, K, L_y)``; values are not renormalized (the merge or the decode
        does not need it). For integer ``k`` this is an involution except on the last ``k-1``
        bins.
        """
        x, y = _as_pair(prob_outputs, "flip_back")
        self._check_bins(x, y, "flip_back")
        perm = flip_permutation(x.shape[-2], tuple(flip_pairs))
        x_back = shift_bins(x[..., ::-1], self.flip_shift)
        return x_back[..., perm, :], y[..., perm, :]

    def merge_flip(self, prob_a: Outputs, prob_b: Outputs) -> tuple[np.ndarray, np.ndarray]:
        """Merge two probability outputs of the same crop (flip test).

        SA-SimDR: ``softmax(mean(log p))`` per axis (probabilities clipped to 1e-12), equal to
        the official average-the-logits-then-softmax. SimDR: mean of the probabilities (the
        official rule). Shapes as in :meth:`decode`.
        """
        xa, ya = _as_pair(prob_a, "merge_flip")
        xb, yb = _as_pair(prob_b, "merge_flip")
        if self.is_gaussian:
            return _log_mean_softmax(xa, xb), _log_mean_softmax(ya, yb)
        return 0.5 * (xa + xb), 0.5 * (ya + yb)


def _log_mean_softmax(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``softmax((log a + log b) / 2)`` over the last axis, with probabilities clipped at 1e-12."""
    la = np.log(np.clip(a, _LOG_CLIP, None))
    lb = np.log(np.clip(b, _LOG_CLIP, None))
    return softmax(0.5 * (la + lb))
