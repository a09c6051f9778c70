"""PCKh of model predictions on an MPII validation split (the ``data.dataset: mpii`` path).

:func:`simdr_lib.engine.model_eval.evaluate_model` calls :func:`pckh_stats_for` instead of
COCOeval; the ground truth is ``data.pckh_gt`` (``gt_valid.mat`` or a json with head boxes)
or, when that is empty, the validation json's own ``head_box`` entries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from simdr_lib.config import Config
from simdr_lib.data.mpii_gt import PckhGroundTruth, gt_from_mpii, read_pckh_gt
from simdr_lib.engine.pckh import (
    PCKH_THRESHOLD,
    format_pckh_table,
    normalized_errors,
    pckh_per_joint,
    pckh_stats,
    pckh_summary,
    person_pckh,
)
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


def _gt_rows(
    cfg: Config, data: MpiiKeypoints, records: Sequence[PersonRecord]
) -> tuple[PckhGroundTruth, np.ndarray]:
    """The PCKh ground truth and, for each of ``records`` (of ``data.records``), its row."""
    gt = pckh_ground_truth(cfg, data)
    index = {id(r): i for i, r in enumerate(data.records)}
    missing = [r for r in records if id(r) not in index]
    if missing:
        raise DataError(f"{len(missing)} people to score are not in {data.ann_file}")
    return gt, np.array([index[id(r)] for r in records], dtype=np.int64)


def per_joint_pckh(
    cfg: Config,
    data: MpiiKeypoints,
    records: Sequence[PersonRecord],
    keypoints_img: np.ndarray,
    threshold: float = PCKH_THRESHOLD,
) -> list[dict[str, float | int | str]]:
    """Per joint type, like :func:`simdr_lib.engine.oks.per_joint_accuracy` but in PCKh terms.

    ``keypoints_img`` (N, 16, 2) 0-based px of ``records``. One row per joint: ``joint``,
    ``count`` (visible ground-truth joints), ``accuracy`` (fraction within ``threshold`` head
    sizes, 0-1), ``mean_head_error`` (mean distance in head sizes) and ``mean_error_px``;
    the last three are NaN when ``count`` is 0.
    """
    gt, rows = _gt_rows(cfg, data, records)
    pred = np.asarray(keypoints_img, dtype=np.float64)
    norm = normalized_errors(pred, gt.joints[rows], gt.head_boxes[rows])
    err = np.linalg.norm(pred - gt.joints[rows], axis=-1)
    vis = gt.visible[rows].astype(bool)
    acc = pckh_per_joint(norm, vis, threshold) / 100.0
    out: list[dict[str, float | int | str]] = []
    for j, name in enumerate(MPII_KEYPOINT_NAMES):
        m = vis[:, j]
        n = int(m.sum())
        out.append(
            {
                "joint": name,
                "count": n,
                "accuracy": float(acc[j]),
                "mean_head_error": float(np.mean(norm[m, j])) if n else math.nan,
                "mean_error_px": float(np.mean(err[m, j])) if n else math.nan,
            }
        )
    return out


def person_pckh_of(
    cfg: Config,
    data: MpiiKeypoints,
    records: Sequence[PersonRecord],
    keypoints_img: np.ndarray,
    threshold: float = PCKH_THRESHOLD,
) -> np.ndarray:
    """(N,) per-person PCKh (0-1, :func:`~simdr_lib.engine.pckh.person_pckh`) of ``records``.

    ``keypoints_img`` (N, 16, 2) 0-based px; head boxes and visibility from the PCKh ground
    truth, as in :func:`pckh_stats_for`.
    """
    gt, rows = _gt_rows(cfg, data, records)
    norm = normalized_errors(keypoints_img, gt.joints[rows], gt.head_boxes[rows])
    return person_pckh(norm, gt.visible[rows], threshold)


def pckh_stats_for(
    cfg: Config,
    data: MpiiKeypoints,
    records: Sequence[PersonRecord],
    keypoints_img: np.ndarray,
) -> dict[str, float]:
    """PCKh table + per-joint values of predictions (N, 16, 2) 0-based px of ``records``.

    ``records`` are (a subset of) ``data.records`` in the predictions' order.
    """
    gt, rows = _gt_rows(cfg, data, records)
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
