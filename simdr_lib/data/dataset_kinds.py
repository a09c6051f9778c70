"""What differs between the datasets ``data.dataset`` names: joints, flip pairs, upper body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    return metric_kind(dataset).key


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


@dataclass(frozen=True)
class MetricKind:
    """How a dataset's validation metric is named, scaled and tabulated.

    ``key`` is the stats entry that ranks checkpoints and runs; ``full`` its best value (COCO AP
    is a fraction, PCKh a percent); ``columns`` the summary entries a protocol bar chart and
    table show; ``per_joint`` what the per-joint accuracy counts.
    """

    key: str
    name: str
    full: float
    columns: tuple[str, ...]
    per_joint: str


COCO_METRIC = MetricKind(
    "AP",
    "COCO keypoint AP",
    1.0,
    ("AP", "AP50", "AP75", "AR"),
    "labeled joints with keypoint similarity OKS_j >= 0.5",
)
MPII_METRIC = MetricKind(
    "PCKh",
    "PCKh@0.5",
    100.0,
    ("PCKh", "PCKh@0.1"),
    "visible joints within 0.5 head sizes (PCKh@0.5)",
)


def metric_kind(dataset: str) -> MetricKind:
    """The :class:`MetricKind` of ``dataset`` (coco | mpii)."""
    return MPII_METRIC if dataset == "mpii" else COCO_METRIC


def metric_kind_of(stats: Mapping[str, Any] | None) -> MetricKind:
    """The :class:`MetricKind` a stats / metrics dict holds (PCKh entries: MPII, else COCO)."""
    return MPII_METRIC if stats and "PCKh" in stats else COCO_METRIC
