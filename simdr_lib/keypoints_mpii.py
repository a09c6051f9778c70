"""MPII human pose joint definitions (16 joints) shared by the MPII loader, PCKh and drawing.

The joint order is the one of the MPII annotation json used by the HRNet family of code
bases (and of ``gt_valid.mat``'s ``dataset_joints``): right leg, left leg, pelvis, thorax,
upper neck, head top, right arm, left arm.
"""

from __future__ import annotations

MPII_KEYPOINT_NAMES: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)
NUM_MPII_KEYPOINTS = len(MPII_KEYPOINT_NAMES)

#: the short names ``gt_valid.mat`` stores in ``dataset_joints`` (same order)
MPII_MAT_JOINT_NAMES: tuple[str, ...] = (
    "rank",
    "rkne",
    "rhip",
    "lhip",
    "lkne",
    "lank",
    "pelv",
    "thor",
    "neck",
    "head",
    "rwri",
    "relb",
    "rsho",
    "lsho",
    "lelb",
    "lwri",
)

#: (right, left) index pairs swapped by a horizontal flip
MPII_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (0, 5),
    (1, 4),
    (2, 3),
    (10, 15),
    (11, 14),
    (12, 13),
)

#: joints of the upper body for the half-body augmentation (thorax .. left wrist)
MPII_UPPER_BODY_IDS: tuple[int, ...] = (7, 8, 9, 10, 11, 12, 13, 14, 15)

#: 1-based limbs for drawing, like ``COCO_SKELETON`` (what ``viz.draw_skeleton`` takes)
MPII_SKELETON: tuple[tuple[int, int], ...] = (
    (1, 2),
    (2, 3),
    (3, 7),
    (4, 7),
    (4, 5),
    (5, 6),
    (7, 8),
    (8, 9),
    (9, 10),
    (8, 13),
    (13, 12),
    (12, 11),
    (8, 14),
    (14, 15),
    (15, 16),
)

#: PCKh groups of the official table (each the mean of its joints), in the printed order
MPII_PCKH_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Head", (9,)),
    ("Shoulder", (13, 12)),
    ("Elbow", (14, 11)),
    ("Wrist", (15, 10)),
    ("Hip", (3, 2)),
    ("Knee", (4, 1)),
    ("Ankle", (5, 0)),
)

#: joints left out of the reported "Mean" (pelvis, thorax), as the official evaluation masks
MPII_MEAN_EXCLUDED: tuple[int, ...] = (6, 7)
