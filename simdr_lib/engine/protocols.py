"""Evaluation protocols for 04_evaluation: GT / detected boxes, flip test on / off.

:func:`evaluate_protocols` runs one model under the config's own protocol and the others
that apply; :func:`save_metrics` writes ``metrics.json``. :func:`gt_eval_records` and
:func:`crop_items` give the ground-truth people in evaluation order and their crops (also
used by the export comparison and the visualization examples).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simdr_lib import report as rpt
from simdr_lib.config import Config
from simdr_lib.errors import DataError

if TYPE_CHECKING:
    from simdr_lib.notebook_run import NotebookRun

PROTOCOLS: dict[str, tuple[bool, bool]] = {
    "GT boxes + flip": (True, True),
    "GT boxes, no flip": (True, False),
    "detected boxes + flip": (False, True),
    "detected boxes, no flip": (False, False),
}


def protocol_name(use_gt_bbox: bool, flip_test: bool) -> str:
    return next(k for k, v in PROTOCOLS.items() if v == (bool(use_gt_bbox), bool(flip_test)))


@dataclass
class ProtocolResults:
    """Evaluations of one model under several protocols (see :func:`evaluate_protocols`)."""

    results: dict[str, Any]
    seconds: dict[str, float]
    main: str
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "stats": r.stats,
                "use_gt_bbox": r.use_gt_bbox,
                "flip_test": r.flip_test,
                "num_people": r.num_people,
                "seconds": self.seconds.get(name),
            }
            for name, r in self.results.items()
        }

    def table(self) -> rpt.Table:
        return rpt.protocols_table(self.summary())


def evaluate_protocols(
    cfg: Config, model: Any, data: Any, out_dir: Path | None = None, progress: bool = True
) -> ProtocolResults:
    """The dataset's metric with flip test on / off (GT boxes) and with detected boxes (flip on).

    The config's own protocol (``eval.use_gt_bbox`` / ``eval.flip_test``) is always included
    and is the main one (its results json goes to ``out_dir``). The detected-box protocols
    are skipped when ``data.det_file`` does not exist, unless it is the main one.
    """
    from simdr_lib.engine.model_eval import evaluate_model

    main = protocol_name(cfg.eval.use_gt_bbox, cfg.eval.flip_test)
    names = [main] + [n for n in list(PROTOCOLS)[:3] if n != main]
    det_file = cfg.data.path("det_file")
    out = ProtocolResults({}, {}, main)
    for name in names:
        use_gt, flip = PROTOCOLS[name]
        if not use_gt and name != main and not det_file.is_file():
            out.skipped[name] = f"{det_file} not found"
            continue
        t0 = time.perf_counter()
        out.results[name] = evaluate_model(
            cfg,
            model,
            data,
            use_gt_bbox=use_gt,
            flip_test=flip,
            out_dir=out_dir if name == main else None,
            progress=progress,
        )
        out.seconds[name] = time.perf_counter() - t0
    return out


def gt_eval_records(cfg: Config, data: Any) -> list[Any]:
    """Ground-truth people in evaluation order (the rows of a GT-box evaluation)."""
    from simdr_lib.data.loaders import eval_records

    return eval_records(cfg, data, True)


def gt_box_result(protocols: ProtocolResults) -> Any:
    """The GT-box evaluation to take per-joint numbers from (the main one if it uses GT boxes)."""
    for name in [protocols.main, *protocols.results]:
        r = protocols.results.get(name)
        if r is not None and r.use_gt_bbox and r.predictions.gt_keypoints_img is not None:
            return r
    raise DataError("no ground-truth-box evaluation to compute per-joint accuracy from")


def main_metric(metrics: dict[str, Any]) -> tuple[str, float]:
    """``(name, value)`` of the main metric of a ``metrics.json`` (``AP`` or ``PCKh``)."""
    key = str(metrics.get("metric", "AP"))
    return key, float(metrics[key])


def per_joint_rows(cfg: Config, gt_run: Any, records: Sequence[Any], data: Any) -> list[dict]:
    """Per-joint accuracy of a GT-box evaluation ``gt_run`` of ``records`` (its people).

    COCO: :func:`simdr_lib.engine.oks.per_joint_accuracy` (OKS_j >= 0.5); MPII:
    :func:`simdr_lib.engine.mpii_eval.per_joint_pckh` (within 0.5 head sizes). Both give rows
    with ``joint``, ``count``, ``accuracy`` (0-1) and ``mean_error_px``.
    """
    pred = gt_run.predictions.keypoints_img
    if cfg.data.dataset == "mpii":
        from simdr_lib.engine.mpii_eval import per_joint_pckh

        return per_joint_pckh(cfg, data, records, pred)
    import numpy as np

    from simdr_lib.engine.oks import per_joint_accuracy

    areas = np.array([r.area for r in records])
    return per_joint_accuracy(pred, gt_run.predictions.gt_keypoints_img, areas)


def person_scores(
    cfg: Config, records: Sequence[Any], predictions: Any, data: Any
) -> tuple[Any, str]:
    """One score per person of a GT-box evaluation, 1 = perfect: ``(scores (N,), name)``.

    COCO: OKS against the person's own ground truth (:func:`simdr_lib.engine.oks.person_oks`),
    name ``"OKS"``; MPII: the share of visible joints within 0.5 head sizes
    (:func:`simdr_lib.engine.mpii_eval.person_pckh_of`), name ``"PCKh"``. NaN: nothing to score.
    """
    pred = predictions.keypoints_img
    if cfg.data.dataset == "mpii":
        from simdr_lib.engine.mpii_eval import person_pckh_of

        return person_pckh_of(cfg, data, records, pred), "PCKh"
    import numpy as np

    from simdr_lib.engine.oks import person_oks

    areas = np.array([r.area for r in records])
    return person_oks(pred, predictions.gt_keypoints_img, areas), "OKS"


def format_stats(cfg: Config, stats: dict[str, float]) -> str:
    """The main evaluation as text: the COCO AP table, or the official PCKh table per joint."""
    if cfg.data.dataset == "mpii":
        from simdr_lib.engine.mpii_eval import format_pckh_report

        return format_pckh_report(stats, cfg.codec.type)
    from simdr_lib.engine.evaluate import format_ap_table

    return format_ap_table(stats)


def save_metrics(
    run: NotebookRun, protocols: ProtocolResults, per_joint: list[dict[str, Any]], data: Any
) -> dict[str, Any]:
    """``metrics.json``: main stats, every protocol, per-joint accuracy.

    ``metric`` names the dataset's metric (``AP``: COCO, a fraction; ``PCKh``: MPII PCKh@0.5,
    percent), whose main value is stored under that key.
    """
    from simdr_lib.data.dataset_kinds import metric_key

    main = protocols.results[protocols.main]
    key = metric_key(run.cfg.data.dataset)
    n_images = data.num_images
    if run.cfg.eval.max_images > 0:
        n_images = min(n_images, run.cfg.eval.max_images)
    metrics = {
        "metric": key,
        key: float(main.stats[key]),
        "stats": main.stats,
        "main_protocol": protocols.main,
        "num_people": main.num_people,
        "num_images": n_images,
        "protocols": protocols.summary(),
        "skipped_protocols": protocols.skipped,
        "per_joint": per_joint,
    }
    run.save_json(rpt.METRICS_FILE, metrics)
    return metrics


def crop_items(cfg: Config, records: Sequence[Any], indices: Sequence[int]) -> list[dict]:
    """Evaluation crops (no augmentation) of ``records[i]`` with their codec targets."""
    from simdr_lib.data.loaders import make_dataset
    from simdr_lib.factory import codec_from_config

    dataset = make_dataset(cfg, list(records), codec_from_config(cfg), train=False)
    return [dataset[int(i)] for i in indices]
