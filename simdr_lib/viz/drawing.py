"""Skeleton overlays drawn with cv2 on RGB uint8 ``(H, W, 3)`` images (for files and figures).

Colours follow the generated dataset's convention: the person's left side blue, right side
red, centre line green.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from simdr_lib.data.dataset_kinds import names_for_count, skeleton_for_count
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES

LEFT_RGB = (40, 110, 255)
RIGHT_RGB = (255, 60, 50)
CENTER_RGB = (40, 200, 80)


def joint_colors(names: Sequence[str] = COCO_KEYPOINT_NAMES) -> list[tuple[int, int, int]]:
    """RGB colour per joint: left blue, right red, others green."""
    return [
        LEFT_RGB if n.startswith("left") else RIGHT_RGB if n.startswith("right") else CENTER_RGB
        for n in names
    ]


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray | None = None,
    threshold: float = 0.0,
    skeleton: Sequence[tuple[int, int]] | None = None,
    names: Sequence[str] | None = None,
    radius: int | None = None,
) -> np.ndarray:
    """Copy of ``image`` (RGB) with people drawn.

    ``keypoints`` is ``(N, K, 2)`` or ``(K, 2)`` px in the image; ``scores`` ``(N, K)`` or
    ``(K,)`` (joints with score <= ``threshold`` are not drawn); ``skeleton`` is 1-based pairs
    as in the COCO annotation file. ``names`` / ``skeleton`` default to the joint set with K
    joints (COCO 17, MPII 16; other K: joints without limbs).
    """
    out = np.ascontiguousarray(image.copy())
    given = np.asarray(keypoints, dtype=np.float64)
    k = given.shape[-2] if given.ndim >= 2 else 0
    names = names_for_count(k) if names is None else names
    skeleton = skeleton_for_count(k) if skeleton is None else skeleton
    kps = given.reshape(-1, len(names), 2)
    sc = (
        np.ones(kps.shape[:2])
        if scores is None
        else np.asarray(scores, dtype=np.float64).reshape(kps.shape[:2])
    )
    colors = joint_colors(names)
    r = radius or max(3, int(round(max(out.shape[:2]) / 100)))
    thick = max(2, r // 2)
    # a dark outline under every limb and joint keeps the overlay readable on any image,
    # including the generated people, which use the same left/right colours
    for person, person_scores in zip(kps, sc):
        ok = (person_scores > threshold) & np.isfinite(person).all(axis=1)
        pts = [tuple(int(v) for v in np.round(p)) for p in np.where(ok[:, None], person, 0)]
        limbs = [(a - 1, b - 1) for a, b in skeleton if ok[a - 1] and ok[b - 1]]
        for i, j in limbs:
            cv2.line(out, pts[i], pts[j], (0, 0, 0), thick + 2, cv2.LINE_AA)
        for i, j in limbs:
            color = colors[j] if colors[j] != CENTER_RGB else colors[i]
            cv2.line(out, pts[i], pts[j], color, thick, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, pts[j], r + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(out, pts[j], r, colors[j], -1, cv2.LINE_AA)
    return out


def draw_markers(
    image: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray | None = None,
    color: tuple[int, int, int] = (255, 255, 255),
    size: int | None = None,
) -> np.ndarray:
    """Copy of ``image`` with a cross at every labeled joint (ground truth next to predictions).

    ``keypoints`` ``(N, K, 2)`` or ``(K, 2)`` px; ``visible`` ``(N, K)`` COCO v (v == 0 skipped).
    """
    out = np.ascontiguousarray(image.copy())
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    vis = np.ones(len(kps)) if visible is None else np.asarray(visible).reshape(-1)
    s = size or max(5, int(round(max(out.shape[:2]) / 60)))
    for (x, y), v in zip(kps, vis):
        if v > 0 and np.isfinite(x) and np.isfinite(y):
            p = (int(round(x)), int(round(y)))
            cv2.drawMarker(out, p, (0, 0, 0), cv2.MARKER_CROSS, s + 2, 2, cv2.LINE_AA)
            cv2.drawMarker(out, p, color, cv2.MARKER_CROSS, s, 1, cv2.LINE_AA)
    return out


def faded(image: np.ndarray, amount: float = 0.45) -> np.ndarray:
    """``image`` blended towards white, so drawn skeletons stand out from the picture."""
    out = image.astype(np.float32) * (1.0 - amount) + 255.0 * amount
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def zoom(image: np.ndarray, *points: np.ndarray, min_side: int = 240) -> tuple[np.ndarray, ...]:
    """Nearest-neighbour upscale of a small crop (for drawing) and its points moved along.

    The integer factor makes the shorter side >= ``min_side``; a point at pixel centre ``x``
    goes to ``(x + 0.5) * f - 0.5``. Returns ``(image, *points)``.
    """
    f = max(1, int(np.ceil(min_side / max(1, min(image.shape[:2])))))
    if f == 1:
        return (image, *points)
    big = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST)
    moved = []
    for p in points:
        q = np.array(p, dtype=np.float64, copy=True)
        q[..., :2] = (q[..., :2] + 0.5) * f - 0.5
        moved.append(q)
    return (big, *moved)
