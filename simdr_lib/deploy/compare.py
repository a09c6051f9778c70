"""05_export: export the trained model and compare Paddle Inference with the dygraph model."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib import report as rpt
from simdr_lib.engine.checkpoint import EXPORT_DIR
from simdr_lib.engine.protocols import crop_items, gt_eval_records

if TYPE_CHECKING:
    from simdr_lib.notebook_run import NotebookRun


def export_and_compare(run: NotebookRun, num_crops: int = 8) -> dict[str, Any]:
    """Export the trained model, run it with Paddle Inference and compare with the dygraph model.

    Writes ``export.json``: the folder, the max absolute difference of the probabilities over
    ``num_crops`` validation crops, the max decoded keypoint difference (px) and ms per crop.
    """
    from simdr_lib.data.loaders import load_split
    from simdr_lib.deploy import export_model, load_predictor
    from simdr_lib.device import resolve_device
    from simdr_lib.engine.predict import dynamic_prob_fn, probability_model
    from simdr_lib.factory import codec_from_config

    cfg = run.cfg
    weights = run.weights()
    out_dir = run.checkpoint_dir / EXPORT_DIR
    t0 = time.perf_counter()
    export_model(cfg, weights, out_dir)
    export_s = time.perf_counter() - t0
    device = resolve_device(cfg.device)
    predictor = load_predictor(out_dir, device=device)
    records = gt_eval_records(cfg, load_split(cfg, "val"))
    n = max(1, min(int(num_crops), len(records)))
    crops = np.stack([item["image"] for item in crop_items(cfg, records, range(n))])
    t0 = time.perf_counter()
    static = predictor.predict_crops(crops)
    static_s = time.perf_counter() - t0
    dyn_fn = dynamic_prob_fn(probability_model(run.load_model(), cfg.model.head))
    dyn_fn(crops[:1])  # warm-up
    t0 = time.perf_counter()
    dynamic = dyn_fn(crops)
    dynamic_s = time.perf_counter() - t0
    diffs = [float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(static, dynamic)]
    codec = codec_from_config(cfg)
    kp_static, _ = codec.decode(tuple(static))
    kp_dynamic, _ = codec.decode(tuple(dynamic))
    kp_diff = float(np.max(np.abs(kp_static - kp_dynamic)))
    bin_px = 1.0 / float(cfg.codec.split_ratio) if cfg.codec.type != "heatmap" else 1.0
    info = {
        "status": "ok",
        "model_dir": str(out_dir),
        "files": sorted(p.name for p in out_dir.iterdir()),
        "backend": getattr(predictor, "backend", "paddle"),
        "num_crops": n,
        "max_abs_diff": max(diffs),
        "max_abs_diff_per_output": diffs,
        "max_keypoint_diff_px": kp_diff,
        "parity_ok": bool(max(diffs) < 1e-3 and kp_diff <= bin_px + 1e-6),
        "export_s": export_s,
        "static_ms_per_crop": 1000.0 * static_s / n,
        "dynamic_ms_per_crop": 1000.0 * dynamic_s / n,
    }
    run.save_json(rpt.EXPORT_FILE, info)
    return info
