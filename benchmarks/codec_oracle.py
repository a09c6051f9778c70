"""Oracle benchmark: the physical limit of each target representation (no network involved).

Ground-truth keypoints of the generated val set → crop (GT boxes) → encode → decode → image →
COCOeval. A perfect network can do no better than this, so the table shows the quantization
error each representation bakes in, as the SimDR paper argues (Sec. 3, "quantization error"):
SimDR with k bins per pixel keeps sub-pixel precision at any input size, heatmaps at 1/4
resolution lose it at low resolution unless refined (DARK).

    python benchmarks/codec_oracle.py [--root data/synthetic] [--sizes 64x48 256x192]

Prints a table (AP, AP50, AP75, APm, APl, AR, mean error) with the number of GT people per
COCO area class, and writes ``reports/bench/codec_oracle.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from simdr_lib.codec import HeatmapCodec, SimDRCodec
from simdr_lib.data.coco import load_coco_keypoints
from simdr_lib.data.synthetic import count_area_classes, generate_synthetic_coco
from simdr_lib.data.transforms import (
    affine_points,
    box_to_center_scale,
    crop_to_image,
    get_affine_matrix,
)
from simdr_lib.engine.evaluate import build_coco_results, evaluate_coco

SIZES = ("64x48", "128x96", "256x192", "384x288")  # H x W, the paper's notation


def codecs_for(w: int, h: int) -> list[tuple[str, object]]:
    """The representations compared at input size (w, h)."""
    out: list[tuple[str, object]] = []
    for k in (1.0, 2.0, 3.0):
        out.append((f"SimDR k={k:g}", SimDRCodec((w, h), split_ratio=k, sigma=None)))
    for k in (1.0, 2.0, 3.0):
        out.append((f"SA-SimDR k={k:g} s=4", SimDRCodec((w, h), split_ratio=k, sigma=4.0)))
    out.append(("heatmap", HeatmapCodec((w, h), stride=4, sigma=2.0, use_dark=False)))
    out.append(("heatmap+DARK", HeatmapCodec((w, h), stride=4, sigma=2.0, use_dark=True)))
    return out


def crops_of(records: list, w: int, h: int) -> tuple[np.ndarray, ...]:
    """GT keypoints in crop coordinates plus the crop geometry to map them back."""
    boxes = np.stack([r.box for r in records]).astype(np.float64)
    centers, scales = box_to_center_scale(boxes, aspect_ratio=w / h, padding=1.25)
    kps = np.stack([r.keypoints for r in records]).astype(np.float64)  # (N, K, 3)
    crop = np.empty(kps[..., :2].shape)
    for i in range(len(records)):  # one affine per person (geometry set-up, not the hot path)
        m = get_affine_matrix(centers[i], scales[i], 0.0, (w, h))
        crop[i] = affine_points(kps[i, :, :2], m)
    return crop, kps[..., 2], centers, scales


def oracle_ap(data, codec, w: int, h: int) -> dict[str, float]:
    records = data.records
    crop, vis, centers, scales = crops_of(records, w, h)
    targets = codec.encode(crop, vis)
    if "heatmap" in targets:
        outputs = (targets["heatmap"],)
    else:  # normalized target vectors are valid "probabilities"
        outputs = tuple(
            t / np.clip(t.sum(-1, keepdims=True), 1e-12, None)
            for t in (targets["x_target"], targets["y_target"])
        )
    decoded, _ = codec.decode(outputs)
    kps_img = crop_to_image(decoded, centers, scales, (w, h))
    n, k = vis.shape
    results = build_coco_results(
        np.array([r.image_id for r in records]),
        kps_img,
        np.ones((n, k)),
        np.ones(n),
        np.prod(scales, axis=1) * 200.0**2,
        oks_thresh=1.0,  # no NMS: every GT person is its own prediction
        in_vis_thresh=0.0,
    )
    stats = evaluate_coco(data.coco, results)
    labeled = vis > 0
    err = np.linalg.norm(kps_img - np.stack([r.keypoints[:, :2] for r in records]), axis=-1)
    stats["mean_err_px"] = float(err[labeled].mean())
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data/synthetic", help="generated dataset root")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), help="HxW input sizes")
    parser.add_argument("--out", default="reports/bench/codec_oracle.json")
    args = parser.parse_args(argv)

    paths = generate_synthetic_coco(args.root, progress=False)  # no-op when already there
    data = load_coco_keypoints(paths.val_ann, paths.val_images)
    classes = count_area_classes([r.area for r in data.records])
    rows = []
    t0 = time.perf_counter()
    for size in args.sizes:
        h, w = (int(v) for v in size.lower().split("x"))
        for name, codec in codecs_for(w, h):
            t = time.perf_counter()
            stats = oracle_ap(data, codec, w, h)
            rows.append({"size": size, "codec": name, **stats, "time_s": time.perf_counter() - t})
    total = time.perf_counter() - t0

    header = (
        f"{'input HxW':<10}{'codec':<22}{'AP':>7}{'AP50':>7}{'AP75':>7}{'APm':>7}{'APl':>7}"
        f"{'AR':>7}{'err px':>8}"
    )
    print(
        f"Codec oracle on {len(data.records)} GT people of {paths.val_ann} "
        f"(by area: {classes['small']} small < 32^2, {classes['medium']} medium, "
        f"{classes['large']} large > 96^2)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['size']:<10}{r['codec']:<22}{r['AP']:>7.4f}{r['AP50']:>7.4f}"
            f"{r['AP75']:>7.4f}{r['APm']:>7.4f}{r['APl']:>7.4f}{r['AR']:>7.4f}"
            f"{r['mean_err_px']:>8.3f}"
        )
    print(f"total {total:.1f}s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "codec_oracle",
                "people": len(data.records),
                "area_classes": classes,
                "rows": rows,
                "total_time_s": total,
                "machine": platform.platform(),
                "python": sys.version.split()[0],
            },
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
