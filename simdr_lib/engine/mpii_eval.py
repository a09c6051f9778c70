"""PCKh of model predictions on an MPII validation split (the ``data.dataset: mpii`` path).

:func:`simdr_lib.engine.model_eval.evaluate_model` calls :func:`pckh_stats_for` instead of
COCOeval; the ground truth is ``data.pckh_gt`` (``gt_valid.mat`` or a json with head boxes)
or, when that is empty, the validation json's own ``head_box`` entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from simdr_lib.config import Config
from simdr_lib.data.mpii_gt import PckhGroundTruth, gt_from_mpii, read_pckh_gt
from simdr_lib.engine.pckh import format_pckh_table, pckh_stats, pckh_summary
from simdr_lib.errors import DataError
from simdr_lib.keypoints_mpii import MPII_KEYPOINT_NAMES

if TYPE_CHECKING:
    from simdr_lib.data.coco import PersonRecord
    from simdr_lib.data.mpii import MpiiKeypoints

#: prefix of the per-joint entries in the stats dict (``joint/head_top``)
JOINT_PREFIX = "joint/"


def pckh_ground_truth(cfg: Config, data: MpiiKeypoints) -> PckhGroundTruth:
    """``data.pckh_gt`` when set, else the head boxes of the loaded json; same count as ``data``."""
    gt = read_pckh_gt(cfg.data.path("pckh_gt")) if cfg.data.pckh_gt else gt_from_mpii(data)
    if len(gt) != len(data.records):
        raise DataError(
            f"{gt.source}: {len(gt)} people in the PCKh ground truth, but {len(data.records)} "
            f"in {data.ann_file} (they must be the same people in the same order)"
        )
    return gt


def pckh_stats_for(
    cfg: Config,
    data: MpiiKeypoints,
    records: Sequence[PersonRecord],
    keypoints_img: np.ndarray,
) -> dict[str, float]:
    """PCKh table + per-joint values of predictions (N, 16, 2) 0-based px of ``records``.

    ``records`` are (a subset of) ``data.records`` in the predictions' order.
    """
    gt = pckh_ground_truth(cfg, data)
    index = {id(r): i for i, r in enumerate(data.records)}
    rows = np.array([index[id(r)] for r in records], dtype=np.int64)
    result = pckh_summary(keypoints_img, gt.joints[rows], gt.visible[rows], gt.head_boxes[rows])
    stats = pckh_stats(result)
    for name, value in zip(MPII_KEYPOINT_NAMES, result.per_joint):
        stats[JOINT_PREFIX + name] = float(value)
    return stats


def format_pckh_report(stats: dict[str, float], arch: str) -> str:
    """The official table, then one ``joint PCKh`` line per joint."""
    lines = [format_pckh_table(stats, arch), ""]
    for name in MPII_KEYPOINT_NAMES:
        value = stats.get(JOINT_PREFIX + name, float("nan"))
        lines.append(f"  {name:<16}{value:8.3f}")
    exact = stats.get("PCKh@0.1_exact", float("nan"))
    lines.append(
        f"  {'Mean@0.1 exact':<16}{exact:8.3f}  (the table's Mean@0.1 is at 0.11, as official)"
    )
    return "\n".join(lines)
