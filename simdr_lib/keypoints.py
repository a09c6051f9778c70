"""COCO keypoint definitions shared by data, codecs, evaluation and drawing."""

from __future__ import annotations

import numpy as np

COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_COCO_KEYPOINTS = len(COCO_KEYPOINT_NAMES)

# (left, right) index pairs swapped by a horizontal flip.
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
)

# 1-based limb list as in the COCO annotation file's "skeleton" field.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 12),
    (7, 13),
    (6, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
)

# Per-keypoint OKS constants (COCO keypoint evaluation, cocodataset.org/#keypoints-eval).
COCO_OKS_SIGMAS = (
    np.array(
        [
            0.26,
            0.25,
            0.25,
            0.35,
            0.35,
            0.79,
            0.79,
            0.72,
            0.72,
            0.62,
            0.62,
            1.07,
            1.07,
            0.87,
            0.87,
            0.89,
            0.89,
        ],
        dtype=np.float64,
    )
    / 10.0
)

# Joints used by the half-body augmentation (HRNet convention).
COCO_UPPER_BODY_IDS: tuple[int, ...] = tuple(range(11))
COCO_LOWER_BODY_IDS: tuple[int, ...] = tuple(range(11, 17))


def flip_permutation(num_joints: int, flip_pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Index array ``perm`` such that ``flipped[..., j, :] = original[..., perm[j], :]``."""
    perm = np.arange(num_joints)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm
