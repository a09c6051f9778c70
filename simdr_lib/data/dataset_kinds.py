"""What differs between the datasets ``data.dataset`` names: joints, flip pairs, upper body."""

from __future__ import annotations

from simdr_lib.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_UPPER_BODY_IDS
from simdr_lib.keypoints_mpii import MPII_FLIP_PAIRS, MPII_KEYPOINT_NAMES, MPII_UPPER_BODY_IDS

_FLIP = {"coco": COCO_FLIP_PAIRS, "mpii": MPII_FLIP_PAIRS}
_UPPER = {"coco": COCO_UPPER_BODY_IDS, "mpii": MPII_UPPER_BODY_IDS}
_NAMES = {"coco": COCO_KEYPOINT_NAMES, "mpii": MPII_KEYPOINT_NAMES}


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
