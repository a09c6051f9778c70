"""What differs between the datasets ``data.dataset`` names: joints, flip pairs, upper body."""

from __future__ import annotations

from simdr_lib.keypoints import (
    COCO_FLIP_PAIRS,
    COCO_KEYPOINT_NAMES,
    COCO_SKELETON,
    COCO_UPPER_BODY_IDS,
)
from simdr_lib.keypoints_mpii import (
    MPII_FLIP_PAIRS,
    MPII_KEYPOINT_NAMES,
    MPII_SKELETON,
    MPII_UPPER_BODY_IDS,
)

_FLIP = {"coco": COCO_FLIP_PAIRS, "mpii": MPII_FLIP_PAIRS}
_UPPER = {"coco": COCO_UPPER_BODY_IDS, "mpii": MPII_UPPER_BODY_IDS}
_NAMES = {"coco": COCO_KEYPOINT_NAMES, "mpii": MPII_KEYPOINT_NAMES}
_SKELETON = {"coco": COCO_SKELETON, "mpii": MPII_SKELETON}


def flip_pairs_for(dataset: str) -> tuple[tuple[int, int], ...]:
    """Left / right joint index pairs of ``dataset`` (coco | mpii)."""
    return _FLIP[dataset]


def upper_body_ids_for(dataset: str) -> tuple[int, ...]:
    """Joint indices of the upper body (the half-body augmentation) of ``dataset``."""
    return tuple(_UPPER[dataset])


def joint_names_for(dataset: str) -> tuple[str, ...]:
    """Joint names of ``dataset`` in index order."""
    return _NAMES[dataset]


def metric_key(dataset: str) -> str:
    """The validation metric that picks the best checkpoint: ``AP`` (COCO) or ``PCKh`` (MPII)."""
    return "PCKh" if dataset == "mpii" else "AP"


def skeleton_for(dataset: str) -> tuple[tuple[int, int], ...]:
    """1-based limbs of ``dataset`` for drawing (``viz.draw_skeleton``)."""
    return _SKELETON[dataset]


def dataset_for_count(num_joints: int) -> str | None:
    """The dataset whose joint set has ``num_joints`` joints (17: coco, 16: mpii), else None."""
    for name, names in _NAMES.items():
        if len(names) == num_joints:
            return name
    return None


def names_for_count(num_joints: int) -> tuple[str, ...]:
    """Joint names for a ``num_joints`` model: the matching dataset's, else ``joint_<i>``."""
    dataset = dataset_for_count(num_joints)
    return _NAMES[dataset] if dataset else tuple(f"joint_{i}" for i in range(num_joints))


def skeleton_for_count(num_joints: int) -> tuple[tuple[int, int], ...]:
    """Limbs for a ``num_joints`` model: the matching dataset's, else none (joints only)."""
    dataset = dataset_for_count(num_joints)
    return _SKELETON[dataset] if dataset else ()
