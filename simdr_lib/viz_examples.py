"""Figures the notebooks draw from examples: 02's label vectors, 06's people.

:func:`plot_labels` draws one joint's label vectors for a given ``k`` and ``sigma`` (02).
Each ``*_examples`` function picks people from one GT-box evaluation (records and
predictions in the same order) and returns the keyword arguments of its
:mod:`simdr_lib.viz` plot; :func:`save_visualization` writes ``visualization.json`` (06).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib import report as rpt
from simdr_lib.config import Config
from simdr_lib.engine.oks import worst_first
from simdr_lib.engine.protocols import crop_items

if TYPE_CHECKING:
    from simdr_lib.notebook_run import NotebookRun


def plot_labels(
    k: float,
    sigma: float,
    position_px: float = 20.3,
    length_px: int = 48,
    label_smoothing: float = 0.1,
    window_px: float = 6.0,
) -> Any:
    """One joint at ``position_px`` labeled at split ratio ``k``: SimDR vs SA-SimDR.

    Black: the SimDR label (``1 - label_smoothing`` at bin ``round(x·k)``); colour: the
    SA-SimDR Gaussian of ``sigma`` bins (its width in pixels is ``sigma / k``). The x axis
    is in crop pixels (bin / ``k``), ``window_px`` either side of the joint; the title gives
    the vector length ``length_px · k`` and the position each label decodes to (argmax / k).
    """
    from simdr_lib.codec.simdr import gaussian_labels, smoothed_onehot_labels
    from simdr_lib.viz import new_figure

    if k <= 0 or sigma <= 0:
        raise ValueError(f"k and sigma must be > 0, got k={k}, sigma={sigma}")
    n = int(length_px * k)
    px = np.arange(n) / float(k)
    centre = np.array([[position_px * k]])
    onehot = smoothed_onehot_labels(centre, n, label_smoothing)[0][0, 0]
    gauss = gaussian_labels(centre, n, float(sigma), True)[0][0, 0]
    fig = new_figure(7.5, 3.0)
    ax = fig.subplots()
    ax.step(px, onehot, where="mid", color="black", lw=1.2, label=f"SimDR ε={label_smoothing:g}")
    ax.plot(px, gauss, "o-", color="#dd8452", ms=3, lw=1.2, label=f"SA-SimDR σ={sigma:g} bins")
    ax.axvline(position_px, color="#c44e52", ls="--", lw=0.8, label=f"joint x = {position_px} px")
    lo, hi = max(0.0, position_px - window_px), min(float(px[-1]), position_px + window_px)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(f"x (px in the crop; bin / k, {n} bins)")
    ax.set_ylabel("label value")
    decoded = [float(np.argmax(v)) / k for v in (onehot, gauss)]
    ax.set_title(
        f"k = {k:g}: decodes to {decoded[0]:.2f} px (one-hot), {decoded[1]:.2f} px (Gaussian); "
        f"σ = {sigma / k:.2f} px",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    return fig


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


def person_probs(
    cfg: Config, model: Any, records: Sequence[Any], indices: Sequence[int], flip_test: bool
) -> tuple[np.ndarray, np.ndarray]:
    """x / y probabilities ``(n, K, L_x)`` / ``(n, K, L_y)`` of ``records[i]`` for ``indices``.

    Computed as the evaluation computes them (same crop, softmax, ``flip_test``), for the few
    people a figure shows: the saved predictions hold no probabilities.
    """
    from simdr_lib.data.dataset_kinds import flip_pairs_for
    from simdr_lib.engine.predict import dynamic_prob_fn, predict_crops, probability_model
    from simdr_lib.factory import codec_from_config

    images = np.stack([item["image"] for item in crop_items(cfg, records, indices)])
    prob_fn = dynamic_prob_fn(probability_model(model, cfg.model.head))
    codec = codec_from_config(cfg)
    _, _, probs = predict_crops(
        prob_fn, images.astype(np.float32), codec, flip_test, flip_pairs_for(cfg.data.dataset)
    )
    return np.asarray(probs[0]), np.asarray(probs[1])


def distribution_example(
    cfg: Config,
    records: Sequence[Any],
    predictions: Any,
    index: int,
    probs: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Arguments for :func:`simdr_lib.viz.plot_joint_distributions` for person ``index``.

    ``probs``: this person's x / y probabilities ``(K, L)`` (:func:`person_probs`); by default
    taken from ``predictions.probs`` (an evaluation with ``keep_probs=True``).
    """
    from simdr_lib.data.transforms import denormalize_image
    from simdr_lib.factory import codec_from_config

    item = crop_items(cfg, records, [index])[0]
    if probs is None:
        probs = tuple(p[index] for p in predictions.probs[:2])
    x_prob, y_prob = (np.asarray(p) for p in probs)
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
    cfg: Config,
    records: Sequence[Any],
    predictions: Any,
    scores: np.ndarray,
    k: int = 8,
    metric: str = "OKS",
) -> dict[str, Any]:
    """Arguments for :func:`simdr_lib.viz.plot_worst_cases`: the ``k`` lowest-scored people.

    ``scores`` (N,) per person, 1 = perfect, named ``metric`` in the titles (``OKS`` or
    ``PCKh``, :func:`simdr_lib.engine.protocols.person_scores`).
    """
    from simdr_lib.data import transforms as T

    order = worst_first(scores)[:k]
    order = [i for i in order if np.isfinite(scores[i])]
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
        out["titles"].append(f"image {records[i].image_id}: {metric} {scores[i]:.2f}")
    return out


def save_visualization(
    run: NotebookRun, records: Sequence[Any], scores: np.ndarray, k: int = 8, metric: str = "OKS"
) -> dict[str, Any]:
    """``visualization.json``: the summary of the per-person ``scores`` (N,) and the worst people.

    ``metric`` names the score (``OKS`` | ``PCKh``, 0-1 both); the summary is stored under
    ``"scores"`` with ``"metric"`` beside it.
    """
    finite = scores[np.isfinite(scores)]
    order = worst_first(scores)[:k]
    info = {
        "num_people": int(len(scores)),
        "metric": metric,
        "scores": {
            "mean": float(finite.mean()) if finite.size else None,
            "median": float(np.median(finite)) if finite.size else None,
            "min": float(finite.min()) if finite.size else None,
            "share_above_0.5": float(np.mean(finite >= 0.5)) if finite.size else None,
        },
        "worst": [
            {"index": i, "image_id": int(records[i].image_id), "score": float(scores[i])}
            for i in order
            if np.isfinite(scores[i])
        ],
    }
    run.save_json(rpt.VISUALIZATION_FILE, info)
    return info
