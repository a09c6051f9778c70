"""The paper's headline claim, measured: SimDR vs heatmap (plain and DARK) at low input resolution.

For every input size, representation and seed the same backbone is trained with the same
epoch budget (one "cell"), then evaluated on the validation split with ground-truth boxes
and the flip test:

==============  ====================================================  =======================
representation  training                                              decoding
==============  ====================================================  =======================
heatmap         Gaussian heatmaps at 1/4 resolution, sigma 1 px,      argmax + quarter offset
                MSE (the official low-resolution configs' sigma)
heatmap+DARK    the heatmap model above (no second training)          DARK
SimDR           label-smoothed one-hot, ``k = 3`` when H <= 64 else   argmax / k
                2 (official 64x64 / 128x128 configs), NMT loss
SA-SimDR        Gaussian 1D labels, sigma = k bins (1 crop px), KL     argmax / k
==============  ====================================================  =======================

Per cell: COCO AP, AP75 and the mean pixel error (image px, labeled joints of the GT people).
:func:`run_study` writes ``lowres_study.json`` after every cell (an interrupted study resumes:
finished trainings are reused through ``--resume``), with the cells, a summary (mean and
range over seeds per representation and size) and the predictions of the same validation
people at the smallest size for the side-by-side figure; every figure is drawn from that
json (:func:`plot_ap_vs_size`, :func:`plot_side_by_side`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.atomic_io import write_json_atomic
from simdr_lib.config import Config, load_config
from simdr_lib.errors import ConfigError
from simdr_lib.report.run_files import STUDY_FILE

__all__ = [
    "HEADS",
    "REPRESENTATIONS",
    "STUDY_FILE",
    "StudySettings",
    "cell_overrides",
    "plot_ap_vs_size",
    "plot_side_by_side",
    "run_study",
    "summarize",
]

HEADS = ("heatmap", "simdr", "sa_simdr")
#: head -> the representations its model is evaluated as
REPRESENTATIONS = {
    "heatmap": ("heatmap", "heatmap+DARK"),
    "simdr": ("SimDR",),
    "sa_simdr": ("SA-SimDR",),
}
EXAMPLE_PEOPLE = 6  # validation people drawn side by side at the smallest size


@dataclass(frozen=True)
class StudySettings:
    """What the study trains. ``sizes`` are ``[W, H]`` input crops.

    The default (3 sizes x 3 heads x 2 seeds, 12 epochs of the tiny backbone) runs in about
    27 minutes on 2 CPU cores (measured); on a GPU, ``backbone="hrnet_w32"``, the paper's sizes
    (``(64, 64), (128, 128), (192, 256)``), ``epochs=210`` and a COCO ``data_root`` give the
    paper's HRNet-W32 table.
    """

    sizes: tuple[tuple[int, int], ...] = ((24, 32), (48, 64), (96, 128))
    heads: tuple[str, ...] = HEADS
    seeds: tuple[int, ...] = (0, 1)
    epochs: int = 12
    backbone: str = "tiny"
    tiny_width: int = 32
    config: str = "configs/demo_tiny.yml"
    data_root: str = ""
    device: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> StudySettings:
        """Checked copy (tuples, known heads, positive sizes); raises ConfigError."""
        try:
            sizes = tuple((int(w), int(h)) for w, h in self.sizes)
        except (TypeError, ValueError):
            raise ConfigError(f"study sizes must be [W, H] pairs, got {self.sizes!r}") from None
        bad = [h for h in self.heads if h not in HEADS]
        if not sizes or not self.heads or not self.seeds or bad:
            raise ConfigError(
                f"study needs sizes, heads (of {', '.join(HEADS)}) and seeds; got heads "
                f"{list(self.heads)}, {len(sizes)} sizes, {len(self.seeds)} seeds"
            )
        if isinstance(self.epochs, bool) or int(self.epochs) != self.epochs or self.epochs < 1:
            raise ConfigError(f"study epochs must be a positive integer, got {self.epochs!r}")
        return replace(
            self,
            sizes=sizes,
            heads=tuple(self.heads),
            seeds=tuple(int(s) for s in self.seeds),
            epochs=int(self.epochs),
        )


def cell_overrides(head: str, size: tuple[int, int], seed: int, settings: StudySettings) -> dict:
    """Config overrides of one training: the representation, the input size and the budget."""
    w, h = size
    k = 3.0 if h <= 64 else 2.0
    net = settings.backbone + (f"{settings.tiny_width}" if settings.backbone == "tiny" else "")
    values: dict[str, Any] = {
        # the name holds everything that shapes the training, so a rerun reuses only its own
        "name": f"{head}_{w}x{h}_{net}_e{settings.epochs}_seed{seed}",
        "model.backbone": settings.backbone,
        "model.head": "heatmap" if head == "heatmap" else "simdr",
        "codec.type": head,
        "codec.input_size": [w, h],
        "train.seed": seed,
        "train.epochs": settings.epochs,
        # the demo's schedule shape (x0.1 at 3/4 and 11/12 of the run), any epoch budget
        "train.lr_steps": sorted({max(1, round(settings.epochs * f)) for f in (0.75, 11 / 12)}),
        "device": settings.device,
    }
    if settings.backbone == "tiny":
        values["model.tiny_width"] = settings.tiny_width
    if head == "heatmap":
        values.update({"codec.sigma": 1.0, "codec.use_dark": False, "eval.in_vis_thresh": 0.2})
    else:
        values.update({"codec.split_ratio": k, "codec.sigma": k, "eval.in_vis_thresh": 0.02})
    return values


def _cell_config(
    head: str, size: tuple[int, int], seed: int, settings: StudySettings, save_dir: Path
) -> Config:
    values = {**settings.overrides, **cell_overrides(head, size, seed, settings)}
    values["train.save_dir"] = str(save_dir)
    if settings.data_root:
        values.update({"data.root": settings.data_root, "data.synthetic": False})
    return load_config(settings.config, values)


def _evaluate_cell(cfg: Config, model: Any, head: str, examples: int) -> list[dict[str, Any]]:
    """One row per representation of the trained ``model`` (GT boxes, flip test)."""
    from simdr_lib.engine.model_eval import evaluate_model, mean_pixel_error

    rows = []
    for rep in REPRESENTATIONS[head]:
        rep_cfg = cfg.with_overrides({"codec.use_dark": True}) if rep == "heatmap+DARK" else cfg
        result = evaluate_model(rep_cfg, model, use_gt_bbox=True, flip_test=True, progress=False)
        preds = result.predictions
        rows.append(
            {
                "representation": rep,
                "AP": float(result.stats["AP"]),
                "AP75": float(result.stats["AP75"]),
                "err_px": mean_pixel_error(preds),
                "people": int(result.num_people),
                "examples": preds.keypoints_img[:examples].round(2).tolist(),
            }
        )
    return rows


def run_study(
    settings: StudySettings,
    out_dir: str | os.PathLike,
    *,
    checkpoints_dir: str | os.PathLike | None = None,
    progress: bool = True,
    log: Callable[[str], Any] | None = print,
) -> dict[str, Any]:
    """Train and evaluate every cell; returns (and writes ``out_dir/lowres_study.json``) the study.

    Cell checkpoints go to ``checkpoints_dir`` (default ``out_dir/checkpoints``), one folder
    per cell named after what shapes it; a rerun resumes them.

    Returns ``{"settings", "cells", "summary", "examples", "wall_time_s"}``: ``cells`` one
    row per (size, representation, seed); ``summary`` see :func:`summarize`; ``examples`` the
    validation people at the smallest size (image path, GT keypoints) whose predictions each
    cell at that size keeps.
    """
    from simdr_lib.engine.train import train

    settings = settings.validate()
    base = _cell_config(settings.heads[0], settings.sizes[0], settings.seeds[0], settings, Path())
    if base.data.dataset != "coco":  # its rows, table and plots are COCO AP / AP75
        raise ConfigError(
            f"{settings.config}: the low-resolution study compares COCO AP; data.dataset "
            f"{base.data.dataset} is not supported by it yet (use a COCO config)"
        )
    out = Path(out_dir)
    save_dir = Path(checkpoints_dir) if checkpoints_dir is not None else out / "checkpoints"
    path = out / STUDY_FILE
    study: dict[str, Any] = {"settings": asdict(settings), "cells": [], "summary": []}
    t0 = time.perf_counter()
    total = len(settings.sizes) * len(settings.heads) * len(settings.seeds)
    smallest = min(settings.sizes, key=lambda s: s[0] * s[1])
    done = 0
    for size in settings.sizes:
        for head in settings.heads:
            for seed in settings.seeds:
                done += 1
                cfg = _cell_config(head, size, seed, settings, save_dir)
                if log:
                    log(f"[{done}/{total}] {head} {size[0]}x{size[1]} seed {seed}")
                t_cell = time.perf_counter()
                result = train(cfg, resume=True, progress=progress)
                first = size == smallest and seed == settings.seeds[0]
                examples = EXAMPLE_PEOPLE if first else 0
                for row in _evaluate_cell(cfg, result.model, head, examples):
                    row.update(size=list(size), seed=seed, train_s=time.perf_counter() - t_cell)
                    study["cells"].append(row)
                    if log:
                        log(
                            f"    {row['representation']:<13} AP {row['AP']:.3f}  AP75 "
                            f"{row['AP75']:.3f}  error {row['err_px']:.2f} px"
                        )
                if "examples_gt" not in study:
                    study["examples_gt"] = _example_people(cfg)
                study["summary"] = summarize(study["cells"])
                study["wall_time_s"] = time.perf_counter() - t0
                write_json_atomic(path, study)
    return study


def _example_people(cfg: Config) -> list[dict[str, Any]]:
    """The first validation people (GT boxes, evaluation order) for the side-by-side figure."""
    from simdr_lib.data.loaders import eval_records, load_split

    records = eval_records(cfg, load_split(cfg, "val"), True)[:EXAMPLE_PEOPLE]
    return [
        {"image": r.image_path, "box": r.box.tolist(), "keypoints": r.keypoints.tolist()}
        for r in records
    ]


def summarize(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (representation, size): mean / min / max of AP, AP75, error over the seeds."""
    groups: dict[tuple[str, tuple[int, int]], list[dict[str, Any]]] = {}
    for row in cells:
        groups.setdefault((row["representation"], tuple(row["size"])), []).append(row)
    out = []
    for (rep, size), rows in groups.items():
        entry: dict[str, Any] = {"representation": rep, "size": list(size), "seeds": len(rows)}
        for key in ("AP", "AP75", "err_px"):
            values = np.array([r[key] for r in rows], dtype=np.float64)
            entry[key] = float(values.mean())
            entry[f"{key}_min"], entry[f"{key}_max"] = float(values.min()), float(values.max())
        out.append(entry)
    names = [r for reps in REPRESENTATIONS.values() for r in reps]
    rank = {rep: i for i, rep in enumerate(names)}
    return sorted(out, key=lambda e: (e["size"][1], e["size"][0], rank[e["representation"]]))


def _mean_range(entry: dict[str, Any], key: str, fmt: str) -> str:
    """``"0.712 (0.701-0.723)"``: the mean and, with several seeds, their range."""
    text = format(entry[key], fmt)
    if entry["seeds"] > 1:
        text += f" ({format(entry[key + '_min'], fmt)}-{format(entry[key + '_max'], fmt)})"
    return text


TABLE_HEADERS = ("input", "representation", "AP", "AP75", "error px")


def study_table(study: dict[str, Any]) -> Any:
    """The summary as a :class:`~simdr_lib.report.tables.Table` (notebook and report)."""
    from simdr_lib.report.tables import Table

    return Table(list(TABLE_HEADERS), table_rows(study))


def table_rows(study: dict[str, Any]) -> list[list[str]]:
    """``[input, representation, AP, AP75, error px]`` strings (mean, range over seeds)."""
    return [
        [
            f"{e['size'][0]}x{e['size'][1]}",
            e["representation"],
            _mean_range(e, "AP", ".3f"),
            _mean_range(e, "AP75", ".3f"),
            _mean_range(e, "err_px", ".2f"),
        ]
        for e in study["summary"]
    ]


# ======================================================================= figures (from the json)
_STYLES = {
    "heatmap": ("#d62728", "o"),
    "heatmap+DARK": ("#ff7f0e", "s"),
    "SimDR": ("#1f77b4", "^"),
    "SA-SimDR": ("#2ca02c", "D"),
}


def plot_ap_vs_size(study: dict[str, Any]) -> Any:
    """AP against input size per representation; bars span the seeds' range."""
    from simdr_lib.viz import new_figure

    fig = new_figure(6.4, 3.6)
    ax = fig.subplots()
    sizes = sorted({tuple(e["size"]) for e in study["summary"]}, key=lambda s: s[0] * s[1])
    xs = {s: i for i, s in enumerate(sizes)}
    for rep, (color, marker) in _STYLES.items():
        pts = [e for e in study["summary"] if e["representation"] == rep]
        if not pts:
            continue
        pts.sort(key=lambda e: xs[tuple(e["size"])])
        x = [xs[tuple(e["size"])] for e in pts]
        y = [e["AP"] for e in pts]
        err = [[e["AP"] - e["AP_min"] for e in pts], [e["AP_max"] - e["AP"] for e in pts]]
        ax.errorbar(x, y, yerr=err, color=color, marker=marker, capsize=3, label=rep)
    ax.set_xticks(range(len(sizes)), [f"{w}x{h}" for w, h in sizes])
    ax.set_xlabel("input size W x H (px)")
    ax.set_ylabel("COCO AP (val, GT boxes)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("AP against input resolution (same backbone and epochs per cell)", fontsize=9)
    return fig


def plot_side_by_side(study: dict[str, Any], reps: Sequence[str] = ("heatmap", "SimDR")) -> Any:
    """The same validation people at the smallest size, predicted by each representation."""
    from simdr_lib.data.images import load_image
    from simdr_lib.viz import draw_markers, draw_skeleton, faded, new_figure

    people = study.get("examples_gt") or []
    smallest = min((tuple(e["size"]) for e in study["summary"]), key=lambda s: s[0] * s[1])
    preds = {
        c["representation"]: c["examples"]
        for c in study["cells"]
        if tuple(c["size"]) == smallest and c.get("examples")
    }
    reps = [r for r in reps if r in preds]
    n = min(len(people), *(len(preds[r]) for r in reps)) if reps else 0
    fig = new_figure(2.0 * max(len(reps), 1) + 0.4, 2.2 * max(n, 1))
    axes = np.atleast_2d(fig.subplots(max(n, 1), max(len(reps), 1))).reshape(max(n, 1), -1)
    for i in range(n):
        person = people[i]
        x, y, w, h = person["box"]
        pad = 0.25 * max(w, h)
        image = load_image(person["image"])
        x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
        x1 = min(image.shape[1], int(math.ceil(x + w + pad)))
        y1 = min(image.shape[0], int(math.ceil(y + h + pad)))
        crop = faded(image[y0:y1, x0:x1])
        gt = np.asarray(person["keypoints"], dtype=np.float64)
        gt[:, :2] -= (x0, y0)
        for j, rep in enumerate(reps):
            kps = np.asarray(preds[rep][i], dtype=np.float64) - (x0, y0)
            drawn = draw_markers(draw_skeleton(crop, kps), gt[:, :2], gt[:, 2])
            axes[i, j].imshow(drawn)
            axes[i, j].axis("off")
            if i == 0:
                axes[i, j].set_title(f"{rep} at {smallest[0]}x{smallest[1]}", fontsize=8)
    return fig
