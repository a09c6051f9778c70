"""Top-down crop geometry, normalization and train-time augmentation (pure numpy + cv2).

Conventions
-----------
* ``input_size`` / ``output_size`` is always ``(W, H)`` of the network input in pixels.
* Pixel centres are at integer coordinates, in the image and in the crop (OpenCV's convention
  for ``warpAffine``): pixel ``i`` covers ``[i - 0.5, i + 0.5]``.
* A person is a ``center`` (2,) px and a ``scale`` (2,) in units of ``pixel_std`` px (HRNet):
  the crop shows ``scale * pixel_std`` image pixels. The crop maps the box centre to the crop
  centre ``((W - 1) / 2, (H - 1) / 2)`` and those ``scale * pixel_std`` pixels edge-to-edge onto
  the W x H crop pixels. (HRNet maps the centre to ``(W / 2, H / 2)``, half a crop pixel off;
  with our choice the horizontal image flip ``x -> W_img - 1 - x`` used in training is exactly
  the crop mirror ``u -> W - 1 - u`` used by the flip test.)
* ``rotation`` in degrees: positive turns the image content counter-clockwise as displayed
  (y down), like ``cv2.getRotationMatrix2D`` and HRNet's ``get_affine_transform``.
* Colour: RGB, ImageNet mean/std on the 0-1 scale.

Augmentation values follow HRNet's ``JointsDataset`` (leoxiaobin/deep-high-resolution-net
.pytorch): scale ``clip(N(0,1) * s + 1, 1 - s, 1 + s)``; rotation ``clip(N(0,1) * r, -2r, 2r)``
with probability 0.6; flip with probability 0.5; half-body with probability 0.3 when more than 8
joints are labeled. Every random draw takes an explicit ``np.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from simdr_lib.keypoints import flip_permutation

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# ----------------------------------------------------------------------------------------------
# geometry


def box_to_center_scale(
    boxes: np.ndarray,
    aspect_ratio: float,
    padding: float = 1.25,
    pixel_std: float = 200.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes -> HRNet centre / scale with the input's aspect ratio and padding.

    The box is enlarged (never shrunk) along one side to ``w / h == aspect_ratio``, then both
    sides are multiplied by ``padding``.

    Args:
        boxes: (N, 4) or (4,) ``[x, y, w, h]`` px.
        aspect_ratio: W / H of the network input.
        padding: enlargement factor (1.25 for COCO).
        pixel_std: px per scale unit (200).

    Returns:
        ``(centers, scales)``, each (N, 2) (or (2,) for a single box) float64; centres px,
        scales in units of ``pixel_std`` px.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    x, y, w, h = np.moveaxis(boxes, -1, 0)
    centers = np.stack([x + w * 0.5, y + h * 0.5], axis=-1)
    wide = w > aspect_ratio * h
    w_fit = np.where(wide, w, h * aspect_ratio)
    h_fit = np.where(wide, w / aspect_ratio, h)
    scales = np.stack([w_fit, h_fit], axis=-1) * (padding / pixel_std)
    return centers, scales


def affine_matrices(
    centers: np.ndarray,
    scales: np.ndarray,
    rotations: np.ndarray | float,
    output_size: Sequence[int],
    pixel_std: float = 200.0,
    inverse: bool = False,
) -> np.ndarray:
    """Batched image -> crop affine matrices (or crop -> image with ``inverse``).

    Forward map: ``u = S R (p - center) + ((W - 1) / 2, (H - 1) / 2)`` with
    ``S = diag(W / (scale_x * pixel_std), H / (scale_y * pixel_std))`` and
    ``R = [[cos, sin], [-sin, cos]]`` of the rotation.

    Args:
        centers: (N, 2) px. scales: (N, 2) pixel_std units. rotations: (N,) or scalar degrees.
        output_size: (W, H) crop px.

    Returns:
        (N, 2, 3) float64 matrices acting on ``[x, y, 1]``.
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    theta = np.deg2rad(np.broadcast_to(np.asarray(rotations, np.float64), centers.shape[:1]))
    cos, sin = np.cos(theta), np.sin(theta)
    sx = output_size[0] / (scales[:, 0] * pixel_std)
    sy = output_size[1] / (scales[:, 1] * pixel_std)
    crop_center = np.array([(output_size[0] - 1) * 0.5, (output_size[1] - 1) * 0.5])
    if inverse:  # p = R^T S^-1 (u - crop_center) + center
        linear = np.stack(
            [np.stack([cos / sx, -sin / sy], -1), np.stack([sin / sx, cos / sy], -1)], axis=1
        )
        shift = centers - linear @ crop_center
    else:
        linear = np.stack(
            [np.stack([sx * cos, sx * sin], -1), np.stack([-sy * sin, sy * cos], -1)], axis=1
        )
        shift = crop_center - np.einsum("nij,nj->ni", linear, centers)
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def get_affine_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    rotation_deg: float,
    output_size: Sequence[int],
    pixel_std: float = 200.0,
    inverse: bool = False,
) -> np.ndarray:
    """(2, 3) image -> crop matrix of one person (crop -> image with ``inverse``).

    Args:
        center: (2,) px. scale: (2,) pixel_std units. rotation_deg: degrees (see module doc).
        output_size: (W, H) crop px.
    """
    return affine_matrices(center, scale, rotation_deg, output_size, pixel_std, inverse)[0]


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) matrix of ``p -> outer(inner(p))``."""
    linear = outer[:, :2] @ inner[:, :2]
    return np.concatenate([linear, (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]], axis=1)


def flip_matrix(width: int) -> np.ndarray:
    """(2, 3) horizontal mirror of an image ``width`` px wide: ``x -> width - 1 - x``."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])


def warp_image(image: np.ndarray, matrix: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """Affine crop: ``crop[v, u] = image(M^-1 (u, v))``, bilinear, black outside the image.

    Args:
        image: (H_img, W_img, C) uint8 (or float32).
        matrix: (2, 3) image -> crop.
        output_size: (W, H).

    Returns:
        (H, W, C) of the image's dtype.
    """
    crop = cv2.warpAffine(
        image,
        np.asarray(matrix, dtype=np.float64),
        (int(output_size[0]), int(output_size[1])),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return crop.reshape(crop.shape[0], crop.shape[1], -1)


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to points (..., 2) px; returns (..., 2) float64."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def crop_to_image(
    keypoints: np.ndarray,
    centers: np.ndarray,
    scales: np.ndarray,
    output_size: Sequence[int],
    rotations: np.ndarray | None = None,
    pixel_std: float = 200.0,
) -> np.ndarray:
    """Map keypoints from crop pixels back to image pixels (evaluation / inference).

    Args:
        keypoints: (N, K, 2) px in the crop. centers, scales: (N, 2). output_size: (W, H).
        rotations: (N,) degrees used for the crop, or None for 0.

    Returns:
        (N, K, 2) float64 image px (``*_img``).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    rot = 0.0 if rotations is None else np.asarray(rotations, dtype=np.float64)
    inv = affine_matrices(centers, scales, rot, output_size, pixel_std, inverse=True)
    return np.einsum("nij,nkj->nki", inv[:, :, :2], keypoints) + inv[:, None, :, 2]


# ----------------------------------------------------------------------------------------------
# colour


def normalize_image(
    crop: np.ndarray,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 ``(crop / 255 - mean) / std``."""
    scale = np.float32(1.0 / 255.0)
    mean_ = np.asarray(mean, dtype=np.float32)
    std_ = np.asarray(std, dtype=np.float32)
    out = (crop.astype(np.float32) * scale - mean_) / std_
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def denormalize_image(
    chw: np.ndarray,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """Inverse of :func:`normalize_image`: (3, H, W) float -> (H, W, 3) uint8 RGB (for display)."""
    hwc = np.asarray(chw, dtype=np.float32).transpose(1, 2, 0)
    rgb = (hwc * np.asarray(std, np.float32) + np.asarray(mean, np.float32)) * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# flip


def flip_keypoints(
    keypoints: np.ndarray,
    visible: np.ndarray,
    width: float,
    flip_pairs: Sequence[tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror keypoints of an image ``width`` px wide and swap left/right joints.

    Args:
        keypoints: (N, K, 2) or (K, 2) px. visible: (N, K) or (K,). width: image width px.
        flip_pairs: (left, right) joint index pairs.

    Returns:
        ``(keypoints, visible)`` with ``x -> width - 1 - x`` and the pairs swapped (new arrays;
        unlabeled joints are mirrored too, their visibility stays 0).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = np.asarray(visible)
    perm = flip_permutation(keypoints.shape[-2], tuple(flip_pairs))
    flipped = keypoints[..., perm, :].copy()
    flipped[..., 0] = (width - 1) - flipped[..., 0]
    return flipped, visible[..., perm].copy()


def flip_centers(centers: np.ndarray, width: float) -> np.ndarray:
    """Mirror crop centres (..., 2) px of an image ``width`` px wide: ``x -> width - 1 - x``."""
    out = np.array(centers, dtype=np.float64)
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def flip_image(image: np.ndarray) -> np.ndarray:
    """Horizontal mirror (H, W, C) -> (H, W, C), contiguous copy."""
    return np.ascontiguousarray(image[:, ::-1])


# ----------------------------------------------------------------------------------------------
# random augmentation (explicit generator)


def random_scale(scale: np.ndarray, scale_factor: float, rng: np.random.Generator) -> np.ndarray:
    """``scale * clip(N(0, 1) * s + 1, 1 - s, 1 + s)``, one factor for both axes.

    Args:
        scale: (2,) pixel_std units. scale_factor: s (0.35 for COCO).

    Returns:
        (2,) float64.
    """
    factor = np.clip(rng.standard_normal() * scale_factor + 1, 1 - scale_factor, 1 + scale_factor)
    return np.asarray(scale, dtype=np.float64) * factor


def random_rotation(rot_factor: float, rng: np.random.Generator, prob: float = 0.6) -> float:
    """Degrees ``clip(N(0, 1) * r, -2r, 2r)`` with probability ``prob``, else 0 (HRNet)."""
    if rng.random() >= prob:
        return 0.0
    return float(np.clip(rng.standard_normal() * rot_factor, -2 * rot_factor, 2 * rot_factor))


def random_flip(rng: np.random.Generator, prob: float = 0.5) -> bool:
    """True with probability ``prob``."""
    return bool(rng.random() < prob)


def half_body_center_scale(
    keypoints: np.ndarray,
    visible: np.ndarray,
    upper_body_ids: Sequence[int],
    aspect_ratio: float,
    rng: np.random.Generator,
    pixel_std: float = 200.0,
    padding: float = 1.5,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Centre / scale around the labeled upper- or lower-body joints (HRNet's half body).

    Upper or lower body is picked by a fair coin when the upper body has more than 2 labeled
    joints, else the lower body if it has more than 2, else the upper body. (HRNet draws
    ``randn() < 0.5``, i.e. upper body ~69 % of the time; we use a fair coin.) The centre is
    the mean of the selected joints; their bounding box is fitted to ``aspect_ratio`` and
    multiplied by ``padding``.

    Args:
        keypoints: (K, 2) px. visible: (K,) (> 0 = labeled).
        upper_body_ids: joint indices of the upper body; the rest are the lower body.

    Returns:
        ``(center (2,), scale (2,))`` or None when fewer than 2 joints are selected or they
        span no area.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    labeled = np.asarray(visible) > 0
    upper = np.zeros(labeled.shape, dtype=bool)
    upper[np.asarray(upper_body_ids, dtype=np.int64)] = True
    up, low = labeled & upper, labeled & ~upper
    take_upper = rng.random() < 0.5
    if take_upper and up.sum() > 2:
        selected = up
    else:
        selected = low if low.sum() > 2 else up
    if selected.sum() < 2:
        return None
    pts = keypoints[selected]
    w, h = pts.max(axis=0) - pts.min(axis=0)
    if w <= 0 and h <= 0:
        return None
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return pts.mean(axis=0), np.array([w, h]) * (padding / pixel_std)
