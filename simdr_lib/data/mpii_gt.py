"""The PCKh ground truth: ``gt_valid.mat`` (through scipy) or an MPII json with head boxes.

``gt_valid.mat`` is the file the HRNet family of code bases evaluate MPII val with: keys
``dataset_joints`` (the 16 short joint names), ``jnt_missing`` (16, N) 1 = not annotated,
``pos_gt_src`` (16, 2, N) 1-based px and ``headboxes_src`` (2, 2, N) (corner, x/y, person)
1-based px, N = 2958 people in the order of ``valid.json``. scipy is imported only here,
when a ``.mat`` is read. Everything is returned 0-based.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simdr_lib.errors import DataError
from simdr_lib.keypoints_mpii import MPII_MAT_JOINT_NAMES, NUM_MPII_KEYPOINTS

MAT_KEYS = ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src")


@dataclass(frozen=True, eq=False)
class PckhGroundTruth:
    """joints (N, K, 2) 0-based px, visible (N, K) bool, head_boxes (N, 2, 2) 0-based px."""

    joints: np.ndarray
    visible: np.ndarray
    head_boxes: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.joints.shape[0])


def _mat_joint_names(fname: str, raw: np.ndarray) -> tuple[str, ...]:
    names = tuple(str(np.asarray(v).reshape(-1)[0]) for v in np.asarray(raw, dtype=object).reshape(-1))
    if names != MPII_MAT_JOINT_NAMES:
        raise DataError(
            f"{fname}: 'dataset_joints' must be {list(MPII_MAT_JOINT_NAMES)} (the json's joint "
            f"order), got {list(names)[:16]}"
        )
    return names


def read_gt_mat(path: str | os.PathLike) -> PckhGroundTruth:
    """``gt_valid.mat`` -> :class:`PckhGroundTruth` (see the module doc); DataError if malformed."""
    fname = str(path)
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError(f"{fname}: reading a .mat needs scipy (pip install scipy)") from None
    try:
        mat = loadmat(fname)
    except FileNotFoundError:
        raise DataError(f"{fname}: PCKh ground-truth file not found") from None
    except Exception as exc:  # scipy raises several types for a corrupt file
        raise DataError(f"{fname}: not a readable .mat file ({type(exc).__name__})") from None
    for key in MAT_KEYS:
        if key not in mat:
            raise DataError(f"{fname}: missing key '{key}' (expected {', '.join(MAT_KEYS)})")
    _mat_joint_names(fname, mat["dataset_joints"])
    pos = np.asarray(mat["pos_gt_src"], dtype=np.float64)
    missing = np.asarray(mat["jnt_missing"])
    boxes = np.asarray(mat["headboxes_src"], dtype=np.float64)
    k = NUM_MPII_KEYPOINTS
    if pos.ndim != 3 or pos.shape[:2] != (k, 2):
        raise DataError(f"{fname}: 'pos_gt_src' must be ({k}, 2, N), got {pos.shape}")
    n = pos.shape[2]
    if missing.shape != (k, n):
        raise DataError(f"{fname}: 'jnt_missing' must be ({k}, {n}), got {missing.shape}")
    if boxes.shape != (2, 2, n):
        raise DataError(f"{fname}: 'headboxes_src' must be (2, 2, {n}), got {boxes.shape}")
    return PckhGroundTruth(
        joints=np.transpose(pos, (2, 0, 1)) - 1.0,
        visible=np.transpose(missing) == 0,
        head_boxes=np.transpose(boxes, (2, 0, 1)) - 1.0,
        source=fname,
    )


def read_gt_json(path: str | os.PathLike) -> PckhGroundTruth:
    """An MPII json whose entries all carry ``head_box`` -> :class:`PckhGroundTruth`."""
    from simdr_lib.data.mpii import load_mpii

    data = load_mpii(path, ".", check_images=False)
    return gt_from_mpii(data)


def gt_from_mpii(data) -> PckhGroundTruth:  # noqa: ANN001 (MpiiKeypoints; avoids a cycle)
    """The ground truth held by a loaded MPII json; DataError if it has no head boxes."""
    if data.head_boxes is None:
        raise DataError(
            f"{data.ann_file}: no 'head_box' entries, so PCKh needs the ground truth file: "
            "set data.pckh_gt to gt_valid.mat"
        )
    return PckhGroundTruth(data.joints, data.visible, data.head_boxes, data.ann_file)


def read_pckh_gt(path: str | os.PathLike) -> PckhGroundTruth:
    """``.mat`` through scipy, anything else as an MPII json."""
    if Path(path).suffix.lower() == ".mat":
        return read_gt_mat(path)
    return read_gt_json(path)
