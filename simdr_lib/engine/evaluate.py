"""Model-independent COCO keypoint evaluation: OKS, OKS-NMS, rescoring and COCOeval.

Everything here works on keypoints already mapped back to IMAGE coordinates (pixels); the
inverse affine crop -> image lives in :mod:`simdr_lib.data.transforms`.

Protocol (facts from the official SimDR / HRNet top-down evaluation, re-implemented here):

1. rescore every person: ``box_score * mean(joint scores > in_vis_thresh)``
   (0.005-0.02 for SimDR configs, 0.2 for heatmaps);
2. per image, greedy OKS-NMS at threshold 0.9 (OKS computed with the mean area of the two people);
3. COCO keypoint results format, scored by ``pycocotools.cocoeval.COCOeval(iouType="keypoints")``
   over *all* GT images (a person with no prediction counts as missed).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.atomic_io import write_json_atomic
from simdr_lib.errors import DataError
from simdr_lib.keypoints import COCO_OKS_SIGMAS

# Order of COCOeval.stats for iouType="keypoints" (10 numbers, maxDets=20).
STATS_NAMES: tuple[str, ...] = (
    "AP",
    "AP50",
    "AP75",
    "APm",
    "APl",
    "AR",
    "AR50",
    "AR75",
    "ARm",
    "ARl",
)
# Columns of the compact table printed by :func:`format_ap_table`.
TABLE_COLUMNS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR")


# --------------------------------------------------------------------------------------------
# OKS, NMS, rescoring (pure numpy)
# --------------------------------------------------------------------------------------------
def keypoint_similarity(
    d2: np.ndarray, area: np.ndarray, sigmas: np.ndarray = COCO_OKS_SIGMAS
) -> np.ndarray:
    """COCO per-joint similarity ``exp(-d_j^2 / (2 s^2 (2 sigma_j)^2))``.

    ``d2`` ``(..., K)`` squared distances in px^2; ``area`` the scale ``s^2`` in px^2,
    broadcastable to ``d2`` (e.g. ``(N, 1)``). Returns ``(..., K)`` in [0, 1].
    """
    var = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    return np.exp(-d2 / var / (2.0 * (np.asarray(area, dtype=np.float64) + np.spacing(1))))


def oks(
    kpts_a: np.ndarray,
    kpts_b: np.ndarray,
    area_a: float,
    areas_b: np.ndarray,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
    vis_thresh: float | None = None,
) -> np.ndarray:
    """Object keypoint similarity between one person and many.

    COCO formula: ``e_j = d_j^2 / (2 * s^2 * (2 sigma_j)^2)``, ``OKS = mean_j exp(-e_j)``.
    As in HRNet's ``oks_iou`` the object scale is the mean area of the pair,
    ``s^2 = (area_a + areas_b[m]) / 2`` (plus ``eps``), so it equals ``area`` when both agree.

    Args:
        kpts_a: ``(K, 3)`` x, y (pixels) and score of the reference person.
        kpts_b: ``(M, K, 3)`` the other people.
        area_a: area of the reference person, pixels^2.
        areas_b: ``(M,)`` areas of the other people, pixels^2.
        sigmas: ``(K,)`` per-joint OKS constants.
        vis_thresh: if given, average only over joints whose score exceeds it in *both* people;
            a pair with no such joint gets OKS 0.

    Returns:
        ``(M,)`` float64 OKS values in [0, 1].
    """
    a = np.asarray(kpts_a, dtype=np.float64)
    b = np.asarray(kpts_b, dtype=np.float64).reshape(-1, *a.shape)
    areas = np.asarray(areas_b, dtype=np.float64).reshape(-1)
    d2 = np.sum((b[:, :, :2] - a[None, :, :2]) ** 2, axis=-1)  # (M, K)
    sim = keypoint_similarity(d2, (float(area_a) + areas)[:, None] / 2.0, sigmas)  # (M, K)
    if vis_thresh is None:
        return sim.mean(axis=1)
    mask = (a[None, :, 2] > vis_thresh) & (b[:, :, 2] > vis_thresh)  # (M, K)
    count = mask.sum(axis=1)
    total = np.where(mask, sim, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def oks_nms(
    kpts: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    thresh: float = 0.9,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
) -> np.ndarray:
    """Greedy OKS non-maximum suppression of the people of ONE image.

    Repeatedly keeps the highest-scored remaining person and drops every other remaining person
    whose OKS with it is above ``thresh`` (all joints count, as in the official code).

    Args:
        kpts: ``(N, K, 3)`` x, y (pixels) and joint score.
        scores: ``(N,)`` person scores.
        areas: ``(N,)`` person areas, pixels^2.
        thresh: OKS above which a person is a duplicate.
        sigmas: ``(K,)`` per-joint OKS constants.

    Returns:
        ``(n_keep,)`` int64 indices into the inputs, highest score first.
    """
    kpts = np.asarray(kpts, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    order = np.argsort(-np.asarray(scores, dtype=np.float64).reshape(-1), kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        overlap = oks(kpts[i], kpts[rest], areas[i], areas[rest], sigmas)
        order = rest[overlap <= thresh]
    return np.asarray(keep, dtype=np.int64)


def rescore(kp_scores: np.ndarray, box_scores: np.ndarray, in_vis_thresh: float) -> np.ndarray:
    """Person score = box score x mean of the joint confidences above ``in_vis_thresh``.

    Args:
        kp_scores: ``(N, K)`` joint confidences.
        box_scores: ``(N,)`` detector (or GT = 1) box scores.
        in_vis_thresh: joints with a confidence ``<=`` this are left out of the mean
            (``IN_VIS_THRE``: 0.005-0.02 for SimDR configs, 0.2 for heatmaps).

    Returns:
        ``(N,)`` float64 scores; a person with no joint above the threshold scores 0 (never NaN).
    """
    s = np.asarray(kp_scores, dtype=np.float64)
    mask = s > in_vis_thresh
    count = mask.sum(axis=1)
    total = np.where(mask, s, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return mean * np.asarray(box_scores, dtype=np.float64).reshape(-1)


def _group_by_image(image_ids: np.ndarray) -> list[np.ndarray]:
    """Indices of each image's people, images in sorted id order, input order within an image."""
    order = np.argsort(image_ids, kind="stable")
    _, starts = np.unique(image_ids[order], return_index=True)
    return np.split(order, starts[1:])


def build_coco_results(
    image_ids: np.ndarray,
    keypoints_img: np.ndarray,
    kp_scores: np.ndarray,
    box_scores: np.ndarray,
    areas: np.ndarray,
    oks_thresh: float = 0.9,
    in_vis_thresh: float = 0.2,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
    category_id: int = 1,
) -> list[dict[str, Any]]:
    """Rescore, OKS-NMS per image and convert to the COCO keypoint results format.

    Args:
        image_ids: ``(N,)`` COCO image id of each person.
        keypoints_img: ``(N, K, 2)`` keypoints in IMAGE pixels.
        kp_scores: ``(N, K)`` joint confidences.
        box_scores: ``(N,)`` box scores (1 for GT boxes).
        areas: ``(N,)`` person areas in pixels^2 (e.g. ``scale_w * scale_h * 200^2``).
        oks_thresh: OKS-NMS threshold (official 0.9); ``>= 1`` disables suppression.
        in_vis_thresh: rescoring threshold (see :func:`rescore`).
        sigmas: ``(K,)`` per-joint OKS constants for the NMS.
        category_id: COCO category of every result.

    Returns:
        One dict per kept person, grouped by image id (ascending), highest score first::

            {"image_id": int, "category_id": int, "keypoints": [x, y, s] * K, "score": float}

        with plain Python ints / floats (JSON-serializable).
    """
    ids = np.asarray(image_ids).reshape(-1)
    kpts = np.asarray(keypoints_img, dtype=np.float64)
    ks = np.asarray(kp_scores, dtype=np.float64)
    n = ids.shape[0]
    if kpts.ndim != 3 or kpts.shape[0] != n or kpts.shape[2] != 2 or ks.shape != kpts.shape[:2]:
        raise DataError(
            f"build_coco_results: expected keypoints (N, K, 2) and scores (N, K) for N={n} "
            f"people, got {kpts.shape} and {ks.shape}"
        )
    if n == 0:
        return []
    scores = rescore(ks, box_scores, in_vis_thresh)
    area = np.asarray(areas, dtype=np.float64).reshape(-1)
    full = np.concatenate([kpts, ks[:, :, None]], axis=2)  # (N, K, 3)
    results: list[dict[str, Any]] = []
    for idx in _group_by_image(ids):
        kept = idx[oks_nms(full[idx], scores[idx], area[idx], oks_thresh, sigmas)]
        flat = full[kept].reshape(len(kept), -1).tolist()
        for j, person in zip(kept.tolist(), flat):
            results.append(
                {
                    "image_id": ids[j].item(),
                    "category_id": int(category_id),
                    "keypoints": person,
                    "score": float(scores[j]),
                }
            )
    return results


# --------------------------------------------------------------------------------------------
# COCOeval
# --------------------------------------------------------------------------------------------
def _check_results(coco_gt: Any, results: Sequence[dict[str, Any]]) -> None:
    """Raise :class:`DataError` if results name unknown images/categories or have a wrong K."""
    num_kpts = {
        int(c["id"]): len(c.get("keypoints", [])) for c in coco_gt.dataset.get("categories", [])
    }
    gt_imgs = set(coco_gt.getImgIds())
    for i, r in enumerate(results):
        missing = {"image_id", "category_id", "keypoints", "score"} - r.keys()
        if missing:
            raise DataError(f"keypoint result #{i} lacks the field(s) {sorted(missing)}")
    cats = {int(r["category_id"]) for r in results}
    unknown = sorted(cats - num_kpts.keys())
    if unknown:
        raise DataError(f"keypoint results use category id(s) {unknown} absent from the GT")
    lengths = {(int(r["category_id"]), len(r["keypoints"])) for r in results}
    bad = sorted((c, n) for c, n in lengths if n != 3 * num_kpts[c])
    if bad:
        cat, length = bad[0]
        raise DataError(
            f"keypoint results have {length} values per person for category {cat}, but the GT "
            f"defines K={num_kpts[cat]} keypoints (expected 3*K={3 * num_kpts[cat]})"
        )
    extra = sorted({r["image_id"] for r in results} - gt_imgs)
    if extra:
        raise DataError(
            f"keypoint results name {len(extra)} image id(s) absent from the GT, e.g. {extra[0]}"
        )


def _require_gt_people(coco_gt: Any, image_ids: Sequence[int] | None) -> None:
    """COCO AP averages over ground-truth people: with none it is undefined, not 0.

    Raises:
        DataError: no non-crowd person annotation with a labeled keypoint in the images.
    """
    ids = set(coco_gt.getImgIds() if image_ids is None else image_ids)
    anns = coco_gt.dataset.get("annotations", [])
    if not any(
        a.get("image_id") in ids and not a.get("iscrowd", 0) and a.get("num_keypoints", 0) > 0
        for a in anns
    ):
        raise DataError(
            f"no ground-truth people with labeled keypoints in the {len(ids)} evaluated "
            "image(s): COCO keypoint AP is undefined"
        )


def evaluate_coco_with_summary(
    coco_gt: Any,
    results: Sequence[dict[str, Any]],
    results_file: str | Path | None = None,
    sigmas: np.ndarray | None = None,
    image_ids: Sequence[int] | None = None,
) -> tuple[dict[str, float], str]:
    """Like :func:`evaluate_coco` and also return the text pycocotools printed.

    Returns:
        ``(stats, summary_text)``; ``summary_text`` is the captured stdout of ``loadRes``,
        ``evaluate``, ``accumulate`` and ``summarize`` (a short note for empty results).
    """
    from pycocotools.cocoeval import COCOeval  # local: keeps `import simdr_lib` light

    results = list(results)
    _check_results(coco_gt, results)
    _require_gt_people(coco_gt, image_ids)
    if results_file is not None:
        write_json_atomic(results_file, results, indent=None)
    if not results:
        return dict.fromkeys(STATS_NAMES, 0.0), "no keypoint results: every metric is 0\n"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        # loadRes adds area/bbox/id to each dict in place: hand it shallow copies.
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        ev = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        ev.params.imgIds = sorted(coco_gt.getImgIds() if image_ids is None else image_ids)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        k = len(results[0]["keypoints"]) // 3
        if len(ev.params.kpt_oks_sigmas) != k:
            raise DataError(
                f"keypoint results have K={k} joints but {len(ev.params.kpt_oks_sigmas)} OKS "
                "sigmas are set: pass sigmas=... for a non-COCO skeleton"
            )
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {name: float(v) for name, v in zip(STATS_NAMES, ev.stats)}
    return stats, buf.getvalue()


def evaluate_coco(
    coco_gt: Any,
    results: Sequence[dict[str, Any]],
    results_file: str | Path | None = None,
    sigmas: np.ndarray | None = None,
    image_ids: Sequence[int] | None = None,
) -> dict[str, float]:
    """COCO keypoint AP / AR of ``results`` against ``coco_gt`` (pycocotools, stdout captured).

    Args:
        coco_gt: ``pycocotools.coco.COCO`` ground truth with a keypoint category.
        results: COCO keypoint results (see :func:`build_coco_results`).
        results_file: if given, the results are written there as JSON (atomically).
        sigmas: ``(K,)`` OKS constants; ``None`` keeps pycocotools' COCO values (K = 17).
        image_ids: evaluate only these GT images (``None`` = all; used by smoke runs that
            evaluate a subset).

    Returns:
        ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}`` in [0, 1]
        over all GT images (pycocotools gives -1 for an area range without any GT person).
        Empty results give all zeros.

    Raises:
        DataError: results whose keypoint length is not 3*K of the GT category, unknown
            categories or image ids, or missing fields; no ground-truth person with
            keypoints in the evaluated images (AP undefined).
    """
    return evaluate_coco_with_summary(coco_gt, results, results_file, sigmas, image_ids)[0]


def format_ap_table(stats: dict[str, float]) -> str:
    """Fixed-width two-line table ``AP | AP50 | AP75 | APm | APl | AR`` (values x 100, 1 dp).

    Missing keys print as ``-``.
    """
    width = 6
    header = " | ".join(f"{c:>{width}}" for c in TABLE_COLUMNS)
    cells = []
    for c in TABLE_COLUMNS:
        v = stats.get(c)
        cells.append(f"{'-':>{width}}" if v is None else f"{100.0 * float(v):>{width}.1f}")
    row = " | ".join(cells)
    return f"{header}\n{'-' * len(header)}\n{row}"
