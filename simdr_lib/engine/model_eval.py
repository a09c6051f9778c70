"""Evaluate a model on a COCO split: crops → flip test → decode → image coords → COCOeval."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib.atomic_io import write_json_atomic
from simdr_lib.config import Config
from simdr_lib.engine.predict import ProbFn, predict_crops
from simdr_lib.errors import DataError

if TYPE_CHECKING:
    from simdr_lib.codec.base import Codec
    from simdr_lib.data.coco import CocoKeypoints, PersonRecord
    from simdr_lib.models.builder import PoseModel


@dataclass
class Predictions:
    """Per-person predictions of one evaluation pass (image coordinates)."""

    image_ids: np.ndarray  # (N,) int
    keypoints_img: np.ndarray  # (N, K, 2) px in the image
    scores: np.ndarray  # (N, K) in [0, 1]
    box_scores: np.ndarray  # (N,)
    areas: np.ndarray  # (N,) px² of the (padded) box, the OKS-NMS scale
    gt_keypoints_img: np.ndarray | None = None  # (N, K, 3) when evaluated on GT boxes
    probs: tuple[np.ndarray, ...] = field(default_factory=tuple)  # kept only if asked


@dataclass
class EvalResult:
    stats: dict[str, float]
    predictions: Predictions
    results_file: Path | None
    num_people: int
    flip_test: bool
    use_gt_bbox: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "stats": self.stats,
            "num_people": self.num_people,
            "flip_test": self.flip_test,
            "use_gt_bbox": self.use_gt_bbox,
            "results_file": str(self.results_file) if self.results_file else None,
        }


def predict_records(
    cfg: Config,
    prob_fn: ProbFn,
    records: list[PersonRecord],
    codec: Codec,
    flip_test: bool,
    progress: bool = True,
    keep_probs: bool = False,
    desc: str = "eval",
) -> Predictions:
    """Run ``prob_fn`` on every person crop of ``records`` (batched, in order).

    Crops are cut and mapped back with the config's ``data.padding`` and ``data.pixel_std``
    (the box -> center / scale -> crop round trip); ``areas`` are the crops' image px².
    """
    from tqdm.auto import tqdm

    from simdr_lib.data.dataset_kinds import flip_pairs_for
    from simdr_lib.data.loaders import EpochBatchSampler, make_dataset, make_loader
    from simdr_lib.data.transforms import crop_to_image

    dataset = make_dataset(cfg, records, codec, train=False)
    sampler = EpochBatchSampler(len(dataset), cfg.eval.batch_size, shuffle=False)
    loader = make_loader(dataset, sampler, cfg.data.num_workers)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("ids", "kps", "scores", "bs", "areas")}
    probs_all: list[tuple[np.ndarray, ...]] = []
    for batch in tqdm(loader, total=len(sampler), desc=desc, disable=not progress, leave=False):
        images = np.asarray(batch["image"])
        kps, scores, probs = predict_crops(
            prob_fn, images, codec, flip_test, flip_pairs_for(cfg.data.dataset)
        )
        centers, scales = np.asarray(batch["center"]), np.asarray(batch["scale"])
        size = tuple(cfg.codec.input_size)
        out["kps"].append(crop_to_image(kps, centers, scales, size, pixel_std=cfg.data.pixel_std))
        out["scores"].append(scores)
        out["ids"].append(np.asarray(batch["image_id"]).reshape(-1))
        out["bs"].append(np.asarray(batch["score"]).reshape(-1))
        out["areas"].append(np.prod(scales, axis=1) * cfg.data.pixel_std**2)
        if keep_probs:
            probs_all.append(probs)
    k = cfg.model.num_joints
    cat = {key: (np.concatenate(v) if v else np.zeros((0,))) for key, v in out.items()}
    merged: tuple[np.ndarray, ...] = ()
    if keep_probs and probs_all:
        merged = tuple(np.concatenate(parts) for parts in zip(*probs_all))
    return Predictions(
        image_ids=cat["ids"].astype(np.int64),
        keypoints_img=cat["kps"].reshape(-1, k, 2),
        scores=cat["scores"].reshape(-1, k),
        box_scores=cat["bs"].astype(np.float64),
        areas=cat["areas"].astype(np.float64),
        probs=merged,
    )


def mean_pixel_error(preds: Predictions) -> float:
    """Mean distance (image px) between predicted and labeled (v > 0) ground-truth joints.

    Needs predictions on ground-truth boxes (``gt_keypoints_img``); NaN without any.
    """
    gt = preds.gt_keypoints_img
    if gt is None or not len(gt):
        return float("nan")
    labeled = gt[..., 2] > 0
    dist = np.linalg.norm(preds.keypoints_img - gt[..., :2], axis=-1)
    return float(dist[labeled].mean()) if labeled.any() else float("nan")


def evaluate_predictions(
    cfg: Config, data: CocoKeypoints, preds: Predictions, results_file: str | Path | None = None
) -> dict[str, float]:
    """Rescoring + OKS-NMS + COCOeval on ``data.coco`` (restricted to the evaluated images)."""
    from simdr_lib.engine.evaluate import build_coco_results, evaluate_coco

    results = build_coco_results(
        preds.image_ids,
        preds.keypoints_img,
        preds.scores,
        preds.box_scores,
        preds.areas,
        oks_thresh=cfg.eval.oks_thresh,
        in_vis_thresh=cfg.eval.in_vis_thresh,
    )
    return evaluate_coco(
        data.coco, results, results_file=results_file, image_ids=_eval_ids(cfg, data)
    )


def _eval_ids(cfg: Config, data: CocoKeypoints) -> list[int] | None:
    if cfg.eval.max_images <= 0:
        return None
    return sorted(data.coco.getImgIds())[: cfg.eval.max_images]


def require_val_people(data: CocoKeypoints) -> None:
    """Refuse a validation split without usable people: its AP would be undefined, not 0.

    Raises:
        DataError: naming the annotation file.
    """
    if not data.records:
        raise DataError(
            f"{data.ann_file}: no usable people to evaluate ({data.num_images} images, none "
            "with a non-crowd person with labeled keypoints): AP is undefined; fix the "
            "annotations, or train without --eval"
        )


def evaluate_model(
    cfg: Config,
    model: PoseModel,
    data: CocoKeypoints | None = None,
    use_gt_bbox: bool | None = None,
    flip_test: bool | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    keep_probs: bool = False,
) -> EvalResult:
    """COCO keypoint AP (MPII: PCKh) of a dygraph ``model`` on the val split of ``cfg``."""
    from simdr_lib.data.loaders import eval_records, load_split
    from simdr_lib.engine.predict import dynamic_prob_fn, probability_model
    from simdr_lib.factory import codec_from_config

    data = data if data is not None else load_split(cfg, "val")
    require_val_people(data)
    use_gt = cfg.eval.use_gt_bbox if use_gt_bbox is None else use_gt_bbox
    flip = cfg.eval.flip_test if flip_test is None else flip_test
    records = eval_records(cfg, data, use_gt)
    codec = codec_from_config(cfg)
    prob_fn = dynamic_prob_fn(probability_model(model, cfg.model.head))
    preds = predict_records(cfg, prob_fn, records, codec, flip, progress, keep_probs)
    if use_gt:
        preds.gt_keypoints_img = np.stack([r.keypoints for r in records]) if records else None
    results_file = None
    if cfg.data.dataset == "mpii":  # PCKh instead of COCOeval
        from simdr_lib.engine.mpii_eval import pckh_stats_for

        stats = pckh_stats_for(cfg, data, records, preds.keypoints_img)
    else:
        if out_dir is not None:
            results_file = Path(out_dir) / "keypoints_val_results.json"
        stats = evaluate_predictions(cfg, data, preds, results_file)
    result = EvalResult(stats, preds, results_file, len(records), flip, use_gt)
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "eval_metrics.json", result.to_json())
    return result
