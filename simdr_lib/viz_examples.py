"""06_visualization: the arguments of the :mod:`simdr_lib.viz` plots, and ``visualization.json``.

Each ``*_examples`` function picks people from one GT-box evaluation (records and
predictions in the same order) and returns the keyword arguments of its plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib import report as rpt
from simdr_lib.config import Config
from simdr_lib.engine.protocols import crop_items

if TYPE_CHECKING:
    from simdr_lib.notebook_run import NotebookRun


def prediction_examples(
    records: Sequence[Any], predictions: Any, n: int = 4, seed: int = 0
) -> dict[str, Any]:
    """Arguments for :func:`simdr_lib.viz.plot_predictions`: ``n`` val images, all their people.

    ``records`` and ``predictions`` are the rows of one GT-box evaluation (same order).
    """
    from simdr_lib.data.images import load_image

    ids = np.asarray([r.image_id for r in records])
    unique = np.unique(ids)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(unique, size=min(n, len(unique)), replace=False).tolist())
    out: dict[str, list[Any]] = {
        "images": [],
        "gt_keypoints": [],
        "pred_keypoints": [],
        "pred_scores": [],
        "titles": [],
    }
    for image_id in chosen:
        rows = np.flatnonzero(ids == image_id)
        out["images"].append(load_image(records[rows[0]].image_path))
        out["gt_keypoints"].append(np.stack([records[i].keypoints for i in rows]))
        out["pred_keypoints"].append(predictions.keypoints_img[rows])
        out["pred_scores"].append(predictions.scores[rows])
        out["titles"].append(f"image {image_id}")
    return out


def distribution_example(
    cfg: Config, records: Sequence[Any], predictions: Any, index: int
) -> dict[str, Any]:
    """Arguments for :func:`simdr_lib.viz.plot_joint_distributions` for person ``index``."""
    from simdr_lib.data.transforms import denormalize_image
    from simdr_lib.factory import codec_from_config

    item = crop_items(cfg, records, [index])[0]
    x_prob, y_prob = (np.asarray(p[index]) for p in predictions.probs[:2])
    pred_kps, _ = codec_from_config(cfg).decode((x_prob[None], y_prob[None]))
    return {
        "crop_rgb": denormalize_image(item["image"]),
        "x_prob": x_prob,
        "y_prob": y_prob,
        "x_target": item["x_target"],
        "y_target": item["y_target"],
        "pred_keypoints": pred_kps[0],
        "gt_keypoints": item["keypoints"],
        "visible": item["visible"],
        "split_ratio": float(cfg.codec.split_ratio),
    }


def worst_case_examples(
    cfg: Config, records: Sequence[Any], predictions: Any, oks: np.ndarray, k: int = 8
) -> dict[str, Any]:
    """Arguments for :func:`simdr_lib.viz.plot_worst_cases`: the ``k`` lowest-OKS people."""
    from simdr_lib.data import transforms as T

    order = rpt.worst_first(oks)[:k]
    order = [i for i in order if np.isfinite(oks[i])]
    items = crop_items(cfg, records, order)
    out: dict[str, list[Any]] = {
        "crops": [],
        "gt_keypoints": [],
        "pred_keypoints": [],
        "pred_scores": [],
        "titles": [],
    }
    for i, item in zip(order, items):
        out["crops"].append(T.denormalize_image(item["image"]))
        out["gt_keypoints"].append(np.concatenate([item["keypoints"], item["visible"][:, None]], 1))
        matrix = T.get_affine_matrix(
            item["center"], item["scale"], 0.0, tuple(cfg.codec.input_size), cfg.data.pixel_std
        )
        out["pred_keypoints"].append(T.affine_points(predictions.keypoints_img[i], matrix))
        out["pred_scores"].append(predictions.scores[i])
        out["titles"].append(f"image {records[i].image_id}: OKS {oks[i]:.2f}")
    return out


def save_visualization(
    run: NotebookRun, records: Sequence[Any], oks: np.ndarray, k: int = 8
) -> dict[str, Any]:
    """``visualization.json``: per-person OKS summary and the worst people."""
    finite = oks[np.isfinite(oks)]
    order = rpt.worst_first(oks)[:k]
    info = {
        "num_people": int(len(oks)),
        "oks": {
            "mean": float(finite.mean()) if finite.size else None,
            "median": float(np.median(finite)) if finite.size else None,
            "min": float(finite.min()) if finite.size else None,
            "share_above_0.5": float(np.mean(finite >= 0.5)) if finite.size else None,
        },
        "worst": [
            {"index": i, "image_id": int(records[i].image_id), "oks": float(oks[i])}
            for i in order
            if np.isfinite(oks[i])
        ],
    }
    run.save_json(rpt.VISUALIZATION_FILE, info)
    return info
