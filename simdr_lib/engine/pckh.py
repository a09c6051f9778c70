"""PCKh, the MPII metric: the share of joints within a fraction of the head size (pure numpy).

Facts from the evaluation of the HRNet family of code bases (``lib/dataset/mpii.py``
``evaluate()`` of leeyegy/SimDR and leoxiaobin/deep-high-resolution-net.pytorch):

* the head size of a person is the length of its head box's diagonal times ``SC_BIAS = 0.6``;
* a joint is correct when ``|pred - gt| / head size <= threshold`` (0.5 for PCKh@0.5);
* only joints visible in the ground truth count (``jnt_visible = 1 - jnt_missing``);
* per joint PCKh = 100 * correct / visible; the groups Head, Shoulder, ... are means of the
  left and right joints; the reported "Mean" is the mean over the joints' visible counts with
  pelvis and thorax left out (masked);
* "Mean@0.1" reads row 11 of the curve over ``np.arange(0, 0.5 + 0.01, 0.01)``, which is the
  threshold 0.11, not 0.1. :data:`OFFICIAL_PCKH01_THRESHOLD` keeps that so the numbers compare
  with the published ones; :func:`pckh_summary` also reports the exact 0.1 value.

Coordinates may be 0- or 1-based as long as predictions and ground truth agree (only their
differences enter). A joint with no visible instance has PCKh NaN and weight 0 in the mean
(the official code would turn the whole mean into NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simdr_lib.keypoints_mpii import MPII_MEAN_EXCLUDED, MPII_PCKH_GROUPS

#: head box diagonal -> head size factor of the official evaluation
SC_BIAS = 0.6
#: the PCKh@0.5 threshold (fraction of the head size)
PCKH_THRESHOLD = 0.5
#: the threshold the official "Mean@0.1" is computed at: ``np.arange(0, 0.51, 0.01)[11]``
OFFICIAL_PCKH01_THRESHOLD = float(np.arange(0, 0.5 + 0.01, 0.01)[11])

#: column names of the official table, in order
TABLE_NAMES = (*(name for name, _ in MPII_PCKH_GROUPS), "Mean", "Mean@0.1")


@dataclass(frozen=True)
class PckhResult:
    """PCKh of one evaluation.

    Attributes:
        per_joint: (K,) PCKh@threshold in percent (NaN for joints never visible).
        per_joint_01: (K,) PCKh at :data:`OFFICIAL_PCKH01_THRESHOLD` in percent.
        counts: (K,) number of visible ground-truth joints.
        table: the official name -> value table (:data:`TABLE_NAMES`), percent.
        mean_01_exact: the "Mean" at exactly 0.1, percent.
    """

    per_joint: np.ndarray
    per_joint_01: np.ndarray
    counts: np.ndarray
    table: dict[str, float]
    mean_01_exact: float


def head_sizes(head_boxes: np.ndarray, sc_bias: float = SC_BIAS) -> np.ndarray:
    """(N,) head sizes px: ``sc_bias * |c2 - c1|`` of boxes (N, 2, 2) ``[[x1, y1], [x2, y2]]``."""
    boxes = np.asarray(head_boxes, dtype=np.float64).reshape(-1, 2, 2)
    return sc_bias * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)


def normalized_errors(
    pred: np.ndarray, gt: np.ndarray, head_boxes: np.ndarray, sc_bias: float = SC_BIAS
) -> np.ndarray:
    """(N, K) joint distances in head sizes; ``pred``, ``gt`` (N, K, 2) px, boxes (N, 2, 2) px."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (N, K, 2), got {pred.shape} and {gt.shape}")
    size = head_sizes(head_boxes, sc_bias)
    if size.shape[0] != pred.shape[0]:
        raise ValueError(f"{size.shape[0]} head boxes for {pred.shape[0]} people")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.linalg.norm(pred - gt, axis=-1) / size[:, None]


def pckh_per_joint(errors: np.ndarray, visible: np.ndarray, threshold: float) -> np.ndarray:
    """(K,) percent of visible joints with ``errors <= threshold`` (NaN where none visible)."""
    vis = np.asarray(visible, dtype=bool)
    hit = (np.nan_to_num(errors, nan=np.inf) <= threshold) & vis
    count = vis.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, 100.0 * hit.sum(axis=0) / np.maximum(count, 1), np.nan)


def person_pckh(errors: np.ndarray, visible: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) fraction (0-1) of each person's visible joints with ``errors <= threshold``.

    ``errors`` (N, K) in head sizes (:func:`normalized_errors`), ``visible`` (N, K); NaN for a
    person without a visible joint. All K joints count (pelvis and thorax too).
    """
    vis = np.asarray(visible, dtype=bool)
    hit = (np.nan_to_num(errors, nan=np.inf) <= threshold) & vis
    count = vis.sum(axis=1)
    out = np.full(len(vis), np.nan)
    np.divide(hit.sum(axis=1), count, out=out, where=count > 0)
    return out


def weighted_mean(
    per_joint: np.ndarray, counts: np.ndarray, excluded: Sequence[int] = MPII_MEAN_EXCLUDED
) -> float:
    """Mean of ``per_joint`` weighted by visible ``counts``, without the ``excluded`` joints."""
    w = np.asarray(counts, dtype=np.float64).copy()
    w[list(excluded)] = 0.0
    if w.sum() <= 0:
        return float("nan")
    return float(np.sum(np.nan_to_num(per_joint) * w) / w.sum())


def group_table(per_joint: np.ndarray) -> dict[str, float]:
    """The official groups (Head, Shoulder, ..., Ankle): means of their left / right joints."""
    return {name: float(np.mean(per_joint[list(ids)])) for name, ids in MPII_PCKH_GROUPS}


def pckh_summary(
    pred: np.ndarray,
    gt: np.ndarray,
    visible: np.ndarray,
    head_boxes: np.ndarray,
    threshold: float = PCKH_THRESHOLD,
    sc_bias: float = SC_BIAS,
) -> PckhResult:
    """PCKh of predictions (N, K, 2) px against ground truth (N, K, 2) px, ``visible`` (N, K).

    ``head_boxes`` (N, 2, 2) px. Returns per-joint values and the official table.
    """
    errors = normalized_errors(pred, gt, head_boxes, sc_bias)
    vis = np.asarray(visible, dtype=bool).reshape(errors.shape)
    counts = vis.sum(axis=0)
    per_joint = pckh_per_joint(errors, vis, threshold)
    per_joint_01 = pckh_per_joint(errors, vis, OFFICIAL_PCKH01_THRESHOLD)
    table = group_table(per_joint)
    table["Mean"] = weighted_mean(per_joint, counts)
    table["Mean@0.1"] = weighted_mean(per_joint_01, counts)
    exact = weighted_mean(pckh_per_joint(errors, vis, 0.1), counts)
    return PckhResult(per_joint, per_joint_01, counts, table, exact)


def pckh_stats(result: PckhResult) -> dict[str, float]:
    """Flat metric dict: the table plus ``PCKh`` (= Mean), ``PCKh@0.1`` and its exact twin."""
    stats = dict(result.table)
    stats["PCKh"] = result.table["Mean"]
    stats["PCKh@0.1"] = result.table["Mean@0.1"]
    stats["PCKh@0.1_exact"] = result.mean_01_exact
    return stats


def format_pckh_table(table: dict[str, float], arch: str = "simdr") -> str:
    """The official markdown-like layout: ``| Arch | Head | ... | Mean@0.1 |`` then the values."""
    names = [n for n in TABLE_NAMES if n in table]
    head = "| Arch " + " ".join(f"| {n}" for n in names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    row = f"| {arch} " + " ".join(f"| {table[n]:.3f}" for n in names) + " |"
    return "\n".join((head, rule, row))


def format_joint_table(result: PckhResult, names: Sequence[str]) -> str:
    """One line per joint: name, visible count, PCKh@0.5 and @0.1 (official threshold)."""
    lines = [f"{'joint':<16}{'count':>7}{'PCKh':>9}{'@0.1':>9}"]
    for i, name in enumerate(names):
        lines.append(
            f"{name:<16}{int(result.counts[i]):>7d}"
            f"{result.per_joint[i]:>9.3f}{result.per_joint_01[i]:>9.3f}"
        )
    return "\n".join(lines)
