"""Drawing and plots: skeleton overlays (cv2, for files) and matplotlib figures (notebooks).

Colours follow the generated dataset's convention: the person's left side blue, right side
red, centre line green. Images are RGB uint8 ``(H, W, 3)`` throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON

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
    skeleton: Sequence[tuple[int, int]] = COCO_SKELETON,
    names: Sequence[str] = COCO_KEYPOINT_NAMES,
    radius: int | None = None,
) -> np.ndarray:
    """Copy of ``image`` (RGB) with people drawn.

    ``keypoints`` is ``(N, K, 2)`` or ``(K, 2)`` px in the image; ``scores`` ``(N, K)`` or
    ``(K,)`` (joints with score <= ``threshold`` are not drawn); ``skeleton`` is 1-based pairs
    as in the COCO annotation file.
    """
    out = np.ascontiguousarray(image.copy())
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, len(names), 2)
    sc = (
        np.ones(kps.shape[:2])
        if scores is None
        else np.asarray(scores, dtype=np.float64).reshape(kps.shape[:2])
    )
    colors = joint_colors(names)
    r = radius or max(2, int(round(max(out.shape[:2]) / 160)))
    for person, person_scores in zip(kps, sc):
        ok = (person_scores > threshold) & np.isfinite(person).all(axis=1)
        for a, b in skeleton:
            i, j = a - 1, b - 1
            if ok[i] and ok[j]:
                p, q = (
                    tuple(np.round(person[i]).astype(int)),
                    tuple(np.round(person[j]).astype(int)),
                )
                cv2.line(
                    out,
                    p,
                    q,
                    colors[j] if colors[j] != CENTER_RGB else colors[i],
                    max(1, r // 2),
                    cv2.LINE_AA,
                )
        for j in np.flatnonzero(ok):
            cv2.circle(out, tuple(np.round(person[j]).astype(int)), r, colors[j], -1, cv2.LINE_AA)
    return out
