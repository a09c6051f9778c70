"""Per-person and per-joint keypoint similarity (COCO OKS) of predictions against their own GT.

For joint j of a person with ground-truth area ``s^2`` (px^2),
``OKS_j = exp(-d_j^2 / (2 s^2 (2 sigma_j)^2))`` with ``d_j`` the distance in px; a person's OKS
is the mean over its labeled joints (v > 0), the quantity COCO AP thresholds at 0.50 ... 0.95.
Pure numpy: the notebooks and the report use these on saved predictions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from simdr_lib.engine.evaluate import keypoint_similarity
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_OKS_SIGMAS


class JointAccuracy(TypedDict):
    """One row of :func:`per_joint_accuracy` (a plain dict at run time)."""

    joint: str
    count: int
    accuracy: float
    mean_oks: float
    mean_error_px: float


def joint_similarity(
    pred: np.ndarray,
    gt: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
) -> np.ndarray:
    """Per-joint keypoint similarity ``OKS_j`` of each person, NaN where the GT joint is unlabeled.

    Args:
        pred: ``(N, K, 2)`` predicted keypoints (px, image or crop: same frame as ``gt``).
        gt: ``(N, K, 3)`` ground truth x, y (px), v.
        areas: ``(N,)`` ground-truth object areas in px^2 (COCO ``area``), the scale ``s^2``.
        sigmas: ``(K,)`` COCO per-joint constants.

    Returns:
        ``(N, K)`` float64 in [0, 1] (NaN for v == 0).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    area = np.asarray(areas, dtype=np.float64).reshape(-1, 1)
    d2 = np.sum((pred[..., :2] - gt[..., :2]) ** 2, axis=-1)
    sim = keypoint_similarity(d2, area, sigmas)
    return np.where(gt[..., 2] > 0, sim, np.nan)


def person_oks(
    pred: np.ndarray, gt: np.ndarray, areas: np.ndarray, sigmas: np.ndarray = COCO_OKS_SIGMAS
) -> np.ndarray:
    """``(N,)`` OKS in [0, 1] of each person against its own ground truth (NaN: no labeled joint).

    Shapes and units as in :func:`joint_similarity`.
    """
    sim = joint_similarity(pred, gt, areas, sigmas)
    labeled = np.isfinite(sim).sum(axis=1)
    total = np.nansum(sim, axis=1)
    return np.divide(total, labeled, out=np.full(len(sim), np.nan), where=labeled > 0)


def worst_first(oks: np.ndarray) -> list[int]:
    """Indices into ``oks`` ``(N,)`` by ascending OKS, people without an OKS (NaN) last."""
    oks = np.asarray(oks, dtype=np.float64)
    return [int(i) for i in np.argsort(np.where(np.isfinite(oks), oks, np.inf), kind="stable")]


def per_joint_accuracy(
    pred: np.ndarray,
    gt: np.ndarray,
    areas: np.ndarray,
    names: Sequence[str] = COCO_KEYPOINT_NAMES,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
    threshold: float = 0.5,
) -> list[JointAccuracy]:
    """Per joint type: how often the prediction is right, over the labeled GT joints.

    ``pred`` ``(N, K, 2)``, ``gt`` ``(N, K, 3)`` in px, ``areas`` ``(N,)`` in px^2, ``names``
    and ``sigmas`` of length K. Returns one row per joint: ``joint``, ``count`` (labeled
    joints), ``accuracy`` (fraction with ``OKS_j >= threshold``), ``mean_oks`` and
    ``mean_error_px`` (Euclidean distance in px); the last three are NaN when ``count`` is 0.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    sim = joint_similarity(pred, gt, areas, sigmas)
    err = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    labeled = gt[..., 2] > 0
    rows: list[JointAccuracy] = []
    for j, name in enumerate(names):
        m = labeled[:, j]
        n = int(m.sum())
        rows.append(
            {
                "joint": name,
                "count": n,
                "accuracy": float(np.mean(sim[m, j] >= threshold)) if n else math.nan,
                "mean_oks": float(np.mean(sim[m, j])) if n else math.nan,
                "mean_error_px": float(np.mean(err[m, j])) if n else math.nan,
            }
        )
    return rows
