"""Run reports: per-joint metrics, summary tables and ``reports/<run>/report.{html,md,json}``.

The notebooks write what they measured into ``reports/<run>/`` (json files listed in
:data:`RUN_FILES` and PNG figures under ``figures/``); :func:`build_report` turns that folder
into a self-contained HTML page (figures embedded as base64 ``data:`` URIs, inline CSS, no
external references: it opens from disk without a server), a Markdown page (figures linked
from ``figures/``) and ``report.json`` with the metrics. The three files are written to
temporary names first and renamed into place, so a reader never sees a half-written report.

Per-joint metrics use COCO's keypoint similarity: for joint j of a person with ground-truth
area ``s^2``, ``OKS_j = exp(-d_j^2 / (2 s^2 (2 sigma_j)^2))``; a person's OKS is the mean over
its labeled joints (v > 0), the quantity COCO AP thresholds at 0.50 ... 0.95.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import platform
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib import atomic_io
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_OKS_SIGMAS

# Files a run folder may hold (name -> notebook that writes it).
CONFIG_FILE = "config.yml"
STATE_FILE = "pipeline_state.json"
DATASET_FILE = "dataset_stats.json"
ENVIRONMENT_FILE = "environment.json"
MODEL_FILE = "model_info.json"
TRAINING_FILE = "training.json"
METRICS_FILE = "metrics.json"
EXPORT_FILE = "export.json"
VISUALIZATION_FILE = "visualization.json"
STUDY_FILE = "lowres_study.json"  # = simdr_lib.lowres_study.STUDY_FILE
STUDY_NOTEBOOK = "08_lowres_study"
FIGURES_DIR = "figures"
REPORT_FILES = ("report.html", "report.md", "report.json")
RUN_FILES = {
    DATASET_FILE: "01_data_prep",
    ENVIRONMENT_FILE: "01_data_prep",
    MODEL_FILE: "02_model",
    TRAINING_FILE: "03_training",
    METRICS_FILE: "04_evaluation",
    EXPORT_FILE: "05_export",
    VISUALIZATION_FILE: "06_visualization",
    STUDY_FILE: STUDY_NOTEBOOK,
}
COCO_COLUMNS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


# ============================================================================ metrics (numpy)
def joint_similarity(
    pred: np.ndarray,
    gt: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
) -> np.ndarray:
    """Per-joint keypoint similarity ``OKS_j`` of each person, NaN where the GT joint is unlabeled.

    Args:
        pred: ``(N, K, 2)`` predicted keypoints (px, image or crop: same frame as ``gt``).
        gt: ``(N, K, 3)`` ground truth x, y, v.
        areas: ``(N,)`` ground-truth object areas in px^2 (COCO ``area``), the scale ``s^2``.
        sigmas: ``(K,)`` COCO per-joint constants.

    Returns:
        ``(N, K)`` float64 in [0, 1] (NaN for v == 0).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    from simdr_lib.engine.evaluate import keypoint_similarity

    area = np.asarray(areas, dtype=np.float64).reshape(-1, 1)
    d2 = np.sum((pred[..., :2] - gt[..., :2]) ** 2, axis=-1)
    sim = keypoint_similarity(d2, area, sigmas)
    return np.where(gt[..., 2] > 0, sim, np.nan)


def person_oks(
    pred: np.ndarray, gt: np.ndarray, areas: np.ndarray, sigmas: np.ndarray = COCO_OKS_SIGMAS
) -> np.ndarray:
    """``(N,)`` OKS of each person against its own ground truth (NaN: no labeled joint)."""
    sim = joint_similarity(pred, gt, areas, sigmas)
    labeled = np.isfinite(sim).sum(axis=1)
    total = np.nansum(sim, axis=1)
    return np.divide(total, labeled, out=np.full(len(sim), np.nan), where=labeled > 0)


def worst_first(oks: np.ndarray) -> list[int]:
    """Person indices by ascending OKS, people without an OKS (NaN) last."""
    oks = np.asarray(oks, dtype=np.float64)
    return [int(i) for i in np.argsort(np.where(np.isfinite(oks), oks, np.inf), kind="stable")]


def per_joint_accuracy(
    pred: np.ndarray,
    gt: np.ndarray,
    areas: np.ndarray,
    names: Sequence[str] = COCO_KEYPOINT_NAMES,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
    threshold: float = 0.5,
) -> list[dict[str, Any]]:
    """Per joint type: how often the prediction is right, over the labeled GT joints.

    Returns one dict per joint: ``joint``, ``count`` (labeled joints), ``accuracy`` (fraction
    with ``OKS_j >= threshold``), ``mean_oks`` and ``mean_error_px`` (Euclidean distance);
    the last three are NaN when ``count`` is 0.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    sim = joint_similarity(pred, gt, areas, sigmas)
    err = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    labeled = gt[..., 2] > 0
    rows = []
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


# ============================================================================ environment
def environment_info(device: str = "auto") -> dict[str, Any]:
    """Python / PaddlePaddle / numpy versions, the resolved device, CPU count and OS."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "device_requested": device,
    }
    try:
        import paddle

        from simdr_lib.device import resolve_device

        info["paddle"] = paddle.__version__
        info["paddle_cuda"] = bool(paddle.device.is_compiled_with_cuda())
        info["device"] = resolve_device(device)
    except ImportError:
        info["paddle"] = "not installed"
        info["device"] = device
    for mod in ("cv2", "pycocotools", "matplotlib", "papermill"):
        try:
            module = __import__(mod)
            info[mod] = getattr(module, "__version__", "installed")
        except ImportError:
            info[mod] = "not installed"
    return info


# ============================================================================ tables
@dataclass
class Table:
    """A small table that renders as Markdown (also in Jupyter) and as HTML."""

    headers: list[str]
    rows: list[list[str]]
    align_right: bool = True

    def markdown(self) -> str:
        def cell(v: str) -> str:
            return str(v).replace("|", "\\|").replace("\n", " ")

        sep = ["---:" if self.align_right and i else "---" for i in range(len(self.headers))]
        lines = [
            "| " + " | ".join(cell(h) for h in self.headers) + " |",
            "| " + " | ".join(sep) + " |",
        ]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        cls = "" if self.align_right else ' class="left"'
        return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __str__(self) -> str:
        return self.markdown()


def _num(value: Any, fmt: str = "{:.3f}") -> str:
    if value is None:
        return "-"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "-" if not math.isfinite(v) else fmt.format(v)


def _pct(value: Any) -> str:
    return _num(None if value is None else 100.0 * float(value), "{:.1f}")


def dataset_table(stats: dict[str, dict[str, Any]]) -> Table:
    """Split statistics (``{"train": dataset_stats(...), "val": ...}``) side by side."""
    splits = list(stats)
    rows = []
    for key, label in (
        ("images", "images"),
        ("images_with_people", "images with people"),
        ("usable_people", "usable people"),
        ("crowd_annotations", "crowd annotations"),
    ):
        rows.append([label] + [str(stats[s].get(key, "-")) for s in splits])
    rows.append(
        ["labeled joints"] + [str(sum(stats[s].get("labeled_joints", {}).values())) for s in splits]
    )
    rows.append(
        ["visible joints"] + [str(sum(stats[s].get("visible_joints", {}).values())) for s in splits]
    )
    for dim in ("width", "height"):
        rows.append(
            [f"box {dim} px (min / median / max)"]
            + [
                " / ".join(
                    _num(stats[s].get("box_size", {}).get(dim, {}).get(k), "{:.0f}")
                    for k in ("min", "median", "max")
                )
                for s in splits
            ]
        )
    return Table(["", *splits], rows)


def model_table(info: dict[str, Any]) -> Table:
    """Parameter counts and shapes from :func:`simdr_lib.models.model_summary`."""
    rows = []
    for key in ("params_total", "params_backbone", "params_head"):
        if key in info:
            rows.append(
                [key.replace("_", " "), f"{int(info[key]):,} ({int(info[key]) / 1e6:.2f}M)"]
            )
    for key in ("input_shape", "feature_shape"):
        if key in info:
            rows.append([key.replace("_", " "), " x ".join(str(v) for v in info[key])])
    for name, shape in dict(info.get("output_shapes", {})).items():
        rows.append([f"output {name}", " x ".join(str(v) for v in shape)])
    return Table(["", "value"], rows, align_right=False)


def coco_table(stats: dict[str, float]) -> Table:
    """All ten COCOeval keypoint metrics (x 100)."""
    cols = [c for c in COCO_COLUMNS if c in stats]
    return Table(cols, [[_pct(stats[c]) for c in cols]])


def protocols_table(protocols: dict[str, dict[str, Any]]) -> Table:
    """One row per evaluation protocol: boxes, flip test, people, AP ... AR, seconds."""
    rows = []
    for name, p in protocols.items():
        s = p.get("stats", {})
        rows.append(
            [
                name,
                "GT" if p.get("use_gt_bbox") else "detected",
                "on" if p.get("flip_test") else "off",
                str(p.get("num_people", "-")),
                *[_pct(s.get(c)) for c in ("AP", "AP50", "AP75", "AR")],
                _num(p.get("seconds"), "{:.1f}"),
            ]
        )
    return Table(
        ["protocol", "boxes", "flip", "people", "AP", "AP50", "AP75", "AR", "seconds"], rows
    )


def per_joint_table(rows: Sequence[dict[str, Any]]) -> Table:
    return Table(
        ["joint", "labeled", "accuracy (OKS_j>=0.5) %", "mean OKS_j", "mean error px"],
        [
            [
                r["joint"],
                str(r["count"]),
                _pct(r["accuracy"]),
                _num(r["mean_oks"]),
                _num(r["mean_error_px"], "{:.2f}"),
            ]
            for r in rows
        ],
    )


def training_table(summary: dict[str, Any]) -> Table:
    rows = [
        ["epochs", str(summary.get("epochs_done", "-"))],
        ["final training loss", _num(summary.get("final_loss"), "{:.5f}")],
        [
            "best validation AP (epoch)",
            f"{_num(summary.get('best_ap'))} ({summary.get('best_epoch', '-')})",
        ],
        ["training time", _duration(summary.get("train_time_s"))],
        ["throughput", _num(summary.get("images_per_s"), "{:.1f}") + " images/s"],
        ["device", str(summary.get("device", "-"))],
        ["weights", str(summary.get("weights", "-"))],
    ]
    return Table(["", "value"], rows, align_right=False)


def export_table(info: dict[str, Any]) -> Table:
    if info.get("status") != "ok":
        return Table(["export", "note"], [[str(info.get("status")), str(info.get("reason", ""))]])
    rows = [
        ["model folder", str(info.get("model_dir"))],
        ["backend", str(info.get("backend"))],
        ["crops compared", str(info.get("num_crops"))],
        ["max |static - dynamic| probability", _num(info.get("max_abs_diff"), "{:.2e}")],
        ["max keypoint difference px", _num(info.get("max_keypoint_diff_px"), "{:.3f}")],
        ["static ms / crop", _num(info.get("static_ms_per_crop"), "{:.2f}")],
        ["dynamic ms / crop", _num(info.get("dynamic_ms_per_crop"), "{:.2f}")],
        ["parity", "OK" if info.get("parity_ok") else "MISMATCH"],
    ]
    return Table(["", "value"], rows, align_right=False)


def environment_table(env: dict[str, Any]) -> Table:
    keys = ("python", "paddle", "device", "paddle_cuda", "numpy", "cv2", "pycocotools")
    keys += ("matplotlib", "papermill", "cpu_count", "platform")
    return Table(["", "value"], [[k, str(env[k])] for k in keys if k in env], align_right=False)


def timing_table(state: dict[str, Any] | None, extra: dict[str, float]) -> Table:
    rows = []
    total = 0.0
    for name, entry in (state or {}).get("notebooks", {}).items():
        secs = entry.get("seconds")
        if secs is not None:
            total += float(secs)
        rows.append([f"notebook {name}", _duration(secs), entry.get("status", "-")])
    if rows:
        rows.append(["all notebooks", _duration(total), ""])
    for label, secs in extra.items():
        rows.append([label, _duration(secs), ""])
    return Table(["step", "time", "status"], rows, align_right=False)


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = float(seconds)
    if not math.isfinite(s):
        return "-"
    return f"{s:.1f} s" if s < 120 else f"{int(s // 60)} min {s % 60:.0f} s"


# ============================================================================ run files
def read_json_or_none(path: Path) -> Any:
    """JSON content of ``path`` or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types (NaN / inf -> None, numpy scalars and arrays -> Python, Path -> str)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path: Path, obj: Any) -> Path:
    """``obj`` made JSON-safe (:func:`to_jsonable`: NaN -> null, numpy -> Python) and written
    atomically."""
    return atomic_io.write_json_atomic(path, to_jsonable(obj))


def remove_report(run_dir: str | os.PathLike) -> list[Path]:
    """Delete ``report.{html,md,json}`` of a run (before a rerun or after a failure)."""
    removed = []
    for name in REPORT_FILES:
        p = Path(run_dir) / name
        if p.exists():
            p.unlink()
            removed.append(p)
    return removed


def remove_stale_outputs(
    run_dir: str | os.PathLike, to_run: Sequence[str], notebooks: Sequence[str]
) -> list[str]:
    """Delete what the notebooks about to run, or notebooks that no longer exist, wrote.

    ``to_run``: the notebook stems that will run now; ``notebooks``: all current stems. Run
    files (:data:`RUN_FILES`), figures (named after their notebook's number, ``04_*.png``)
    and executed notebooks of those notebooks are removed, so a report never shows results
    of an earlier run (e.g. the metrics of a notebook that was deleted since). Returns the
    removed names.
    """
    root = Path(run_dir)
    gone = set(to_run) | {nb for nb in RUN_FILES.values() if nb not in notebooks}
    numbers = {nb.split("_", 1)[0] for nb in gone}
    kept = {nb.split("_", 1)[0] for nb in notebooks if nb not in gone}
    removed = []
    candidates = [root / name for name, nb in RUN_FILES.items() if nb in gone]
    candidates += [
        p for p in root.glob("[0-9][0-9]_*.ipynb") if p.stem in gone or p.stem not in notebooks
    ]
    figures = root / FIGURES_DIR
    if figures.is_dir():
        candidates += [
            p for p in figures.glob("*.png") if p.name[:2] in numbers or p.name[:2] not in kept
        ]
    for path in candidates:
        if path.is_file():
            path.unlink()
            removed.append(str(path.relative_to(root)))
    return removed


# ============================================================================ report
@dataclass
class Block:
    """One report element: ``kind`` in h2 | h3 | p | table | figure | pre | note."""

    kind: str
    text: str = ""
    table: Table | None = None
    path: Path | None = None


@dataclass
class ReportFiles:
    html: Path
    markdown: Path
    json: Path
    summary: str
    ap: float | None
    complete: bool
    missing: list[str] = field(default_factory=list)

    def _repr_markdown_(self) -> str:
        state = (
            "complete" if self.complete else "INCOMPLETE (missing " + ", ".join(self.missing) + ")"
        )
        return f"{self.summary}\n\nReport ({state}): `{self.html}` (also `{self.markdown.name}`)"


def ap_sentence(
    metrics: dict[str, Any] | None,
    cfg: dict[str, Any],
    training: dict | None,
    dataset: dict[str, Any] | None = None,
) -> str:
    """The headline: the AP reached on which val set, with which boxes and flip test."""
    if not metrics:
        return "No evaluation results: notebook 04_evaluation has not run for this run."
    data = cfg.get("data", {})
    root = (dataset or {}).get("root") or data.get("root", "?")
    generated = (dataset or {}).get("generated")
    if generated is None:
        generated = bool(data.get("synthetic"))
    where = "the generated validation set" if generated else "the validation set"
    main = metrics.get("protocols", {}).get(metrics.get("main_protocol", ""), {})
    boxes = "ground-truth person boxes" if main.get("use_gt_bbox", True) else "detected boxes"
    flip = "with flip test" if main.get("flip_test", True) else "without flip test"
    ap = metrics.get("AP")
    n_ep = (training or {}).get("epochs_done")
    epochs = f" after {n_ep} training epoch{'s' if n_ep != 1 else ''}" if n_ep else ""
    people = metrics.get("num_people")
    images = metrics.get("num_images")
    scope = f" ({root}: {people} people in {images} images)" if people and images else f" ({root})"
    return (
        f"On {where}{scope}, the model reaches COCO keypoint AP {_num(ap)} "
        f"({_pct(ap)} %){epochs}, evaluated on {boxes} {flip}."
    )


def _figure_blocks(run_dir: Path, names: Sequence[tuple[str, str]], used: set[str]) -> list[Block]:
    blocks = []
    for stem, caption in names:
        p = run_dir / FIGURES_DIR / f"{stem}.png"
        if p.is_file():
            used.add(p.name)
            blocks.append(Block("figure", caption, path=p))
    return blocks


def _collect(run_dir: Path) -> tuple[list[Block], dict[str, Any], list[str]]:
    """Report blocks, the report.json payload and the missing run files."""
    import yaml

    state = read_json_or_none(run_dir / STATE_FILE)
    cfg_text = (run_dir / CONFIG_FILE).read_text() if (run_dir / CONFIG_FILE).is_file() else ""
    cfg = (yaml.safe_load(cfg_text) or {}) if cfg_text else {}
    data = {name: read_json_or_none(run_dir / name) for name in RUN_FILES}
    # the notebooks of this run (all but the on-request study when run interactively)
    ran = set((state or {}).get("notebooks") or set(RUN_FILES.values()) - {STUDY_NOTEBOOK})
    missing = [f"{n} ({nb})" for n, nb in RUN_FILES.items() if nb in ran and data[n] is None]
    if ran == {STUDY_NOTEBOOK}:
        return _study_report(run_dir, cfg_text, state, data[STUDY_FILE], missing)
    dataset, env, model = data[DATASET_FILE], data[ENVIRONMENT_FILE], data[MODEL_FILE]
    training, metrics = data[TRAINING_FILE], data[METRICS_FILE]
    export, vis = data[EXPORT_FILE], data[VISUALIZATION_FILE]
    run_name = cfg.get("name", run_dir.name)
    headline = ap_sentence(metrics, cfg, training, dataset)
    splits = (dataset or {}).get("splits", dataset)
    used: set[str] = set()
    b: list[Block] = []

    b.append(Block("p", f"**{headline}**"))
    status = (state or {}).get("status", "interactive")
    b.append(
        Block(
            "note",
            f"Run `{run_name}` · folder `{run_dir}` · pipeline status: {status} · "
            f"generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        )
    )
    if missing:
        b.append(
            Block("note", "Missing run files (their notebooks did not run): " + ", ".join(missing))
        )

    b.append(Block("h2", "Evaluation (COCOeval)"))
    if metrics:
        b.append(
            Block(
                "p",
                f"Main protocol **{metrics.get('main_protocol')}**: all ten COCO keypoint "
                "metrics in percent (AP averaged over OKS thresholds 0.50:0.95; APm / APl for "
                "medium / large people; AR = average recall).",
            )
        )
        b.append(Block("table", table=coco_table(metrics.get("stats", {}))))
        b.append(Block("h3", "Flip test on / off, ground-truth vs detected boxes"))
        b.append(Block("table", table=protocols_table(metrics.get("protocols", {}))))
        b += _figure_blocks(run_dir, [("04_protocols", "AP per protocol")], used)
        b.append(Block("h3", "Per-joint accuracy"))
        b.append(
            Block(
                "p",
                "Share of labeled joints predicted within keypoint similarity OKS_j >= 0.5 "
                "(ground-truth boxes), with the mean distance to the ground truth in pixels.",
            )
        )
        b.append(Block("table", table=per_joint_table(metrics.get("per_joint", []))))
        b += _figure_blocks(run_dir, [("04_per_joint", "per-joint accuracy")], used)
    else:
        b.append(Block("note", "not available: run notebook 04_evaluation"))

    if data[STUDY_FILE]:
        b += _study_blocks(run_dir, data[STUDY_FILE], used)

    b.append(Block("h2", "Training"))
    if training:
        b.append(Block("table", table=training_table(training)))
    b += _figure_blocks(run_dir, [("03_training_curves", "training loss and validation AP")], used)
    if not training:
        b.append(Block("note", "not available: run notebook 03_training"))

    b.append(Block("h2", "Sample predictions and 1D distributions"))
    b += _figure_blocks(
        run_dir,
        [
            ("06_predictions", "validation images: ground truth (left) and prediction (right)"),
            ("06_distributions_typical", "a typical person: predicted vs target x / y vectors"),
            ("06_distributions_worst", "the worst person: predicted vs target x / y vectors"),
            ("06_worst_cases", "lowest-OKS people (crosses: ground truth)"),
        ],
        used,
    )
    if vis:
        o = vis.get("oks", {})
        b.append(
            Block(
                "p",
                f"Per-person OKS on GT boxes: mean {_num(o.get('mean'))}, median "
                f"{_num(o.get('median'))}, min {_num(o.get('min'))} over {vis.get('num_people')} "
                "people.",
            )
        )
    else:
        b.append(Block("note", "not available: run notebook 06_visualization"))

    b.append(Block("h2", "Dataset"))
    if splits:
        if dataset.get("root"):
            kind = "generated dataset" if dataset.get("generated") else "dataset"
            b.append(Block("p", f"{kind.capitalize()} at `{dataset['root']}`."))
        b.append(Block("table", table=dataset_table(splits)))
    b += _figure_blocks(
        run_dir,
        [("01_samples", "validation images with labels"), ("01_train_stats", "train split")],
        used,
    )

    b.append(Block("h2", "Model and labels"))
    if model:
        b.append(Block("table", table=model_table(model)))
    b += _figure_blocks(
        run_dir,
        [
            ("02_label_vectors", "one training sample and its x / y label vectors"),
            ("02_label_comparison", "one-hot + smoothing vs Gaussian labels; effect of k"),
        ],
        used,
    )

    b.append(Block("h2", "Export (static graph vs dynamic model)"))
    b.append(Block("table", table=export_table(export or {"status": "not run"})))

    others = (
        sorted(p for p in (run_dir / FIGURES_DIR).glob("*.png") if p.name not in used)
        if (run_dir / FIGURES_DIR).is_dir()
        else []
    )
    if others:
        b.append(Block("h2", "Other figures"))
        b += [Block("figure", p.stem, path=p) for p in others]

    b.append(Block("h2", "Timing"))
    extra = {}
    if training:
        extra["training (03)"] = training.get("train_time_s")
    if metrics:
        for name, p in metrics.get("protocols", {}).items():
            extra[f"evaluation {name} (04)"] = p.get("seconds")
    if state and state.get("wall_time_s") is not None:
        extra["pipeline wall time"] = state.get("wall_time_s")
    b.append(Block("table", table=timing_table(state, extra)))

    b.append(Block("h2", "Environment"))
    if env:
        b.append(Block("table", table=environment_table(env)))
    b.append(Block("h2", "Configuration"))
    b.append(Block("pre", cfg_text or "(config.yml missing)"))
    if state and state.get("parameters"):
        b.append(Block("h3", "Pipeline parameters"))
        b.append(Block("pre", json.dumps(state["parameters"], indent=2)))

    payload = {
        "run": run_name,
        "complete": not missing,
        "missing": missing,
        "summary": headline,
        "AP": (metrics or {}).get("AP"),
        "stats": (metrics or {}).get("stats"),
        "main_protocol": (metrics or {}).get("main_protocol"),
        "protocols": {
            k: {kk: v for kk, v in p.items() if kk != "results_file"}
            for k, p in (metrics or {}).get("protocols", {}).items()
        },
        "per_joint": (metrics or {}).get("per_joint"),
        "training": {k: v for k, v in (training or {}).items() if k != "history"},
        "dataset": dataset,
        "model": model,
        "export": export,
        "visualization": vis,
        "lowres_study": (data[STUDY_FILE] or {}).get("summary"),
        "environment": env,
        "pipeline": {k: v for k, v in (state or {}).items() if k != "parameters"} or None,
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    return b, payload, missing


def study_sentence(study: dict[str, Any]) -> str:
    """One sentence per extreme size: SimDR / SA-SimDR vs heatmap (and DARK) AP."""
    summary = study.get("summary") or []
    sizes = sorted({tuple(e["size"]) for e in summary}, key=lambda s: s[0] * s[1])
    parts = []
    for size in dict.fromkeys([sizes[0], sizes[-1]] if sizes else []):
        ap = {e["representation"]: e["AP"] for e in summary if tuple(e["size"]) == size}
        text = ", ".join(f"{rep} {value:.3f}" for rep, value in ap.items())
        parts.append(f"at {size[0]}x{size[1]}: {text}")
    seeds = len(study.get("settings", {}).get("seeds", [])) or 1
    return "Low-resolution study (COCO AP on GT boxes, mean of {} seed{}) {}.".format(
        seeds, "s" if seeds > 1 else "", "; ".join(parts) or "without results"
    )


def _study_blocks(run_dir: Path, study: dict[str, Any], used: set[str]) -> list[Block]:
    """Table and figures of the low-resolution study (all drawn from its json)."""
    from simdr_lib.lowres_study import study_table

    s = study.get("settings", {})
    minutes = float(study.get("wall_time_s") or 0.0) / 60
    blocks = [
        Block("h2", "Low-resolution study: heatmap vs SimDR"),
        Block(
            "p",
            f"The same `{s.get('backbone')}` backbone trained {s.get('epochs')} epochs per cell "
            f"as each representation at each input size, seeds {s.get('seeds')}; validation "
            f"people on ground-truth boxes with flip test ({minutes:.0f} min). AP / AP75: "
            "mean over seeds (range); error: mean distance to the labeled joints in image px.",
        ),
        Block("table", table=study_table(study)),
    ]
    return blocks + _figure_blocks(
        run_dir,
        [
            ("08_ap_vs_size", "AP against input size (bars: range over seeds)"),
            ("08_side_by_side", "the same people at the smallest size: heatmap vs SimDR"),
        ],
        used,
    )


def _study_report(
    run_dir: Path,
    cfg_text: str,
    state: dict[str, Any] | None,
    study: dict[str, Any] | None,
    missing: list[str],
) -> tuple[list[Block], dict[str, Any], list[str]]:
    """The report of a run that is only the low-resolution study."""
    headline = study_sentence(study) if study else "The low-resolution study has no results."
    used: set[str] = set()
    b = [Block("p", f"**{headline}**")]
    if study:
        b += _study_blocks(run_dir, study, used)
    else:
        b.append(Block("note", "not available: run notebook 08_lowres_study"))
    b.append(Block("h2", "Configuration (base of every cell)"))
    b.append(Block("pre", cfg_text or "(config.yml missing)"))
    payload = {
        "run": run_dir.name,
        "complete": not missing,
        "missing": missing,
        "summary": headline,
        "AP": None,  # no single model: the study's APs are in lowres_study
        "lowres_study": {k: v for k, v in (study or {}).items() if k != "cells"},
        "pipeline": {k: v for k, v in (state or {}).items() if k != "parameters"} or None,
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    return b, payload, missing


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #4c72b0;padding-bottom:.2em}h2{margin-top:1.6em;color:#2a4d8f}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#eef2f8}td:first-child,th:first-child,table.left td,table.left th{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555}pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.8em}
.note{color:#666;font-size:.9em}.headline{font-size:1.15em}
"""


def _inline_md(text: str) -> str:
    """Escape ``text`` for HTML and render ``**bold**`` and ```code```."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _render_html(title: str, blocks: Sequence[Block]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for i, blk in enumerate(blocks):
        if blk.kind in ("h2", "h3"):
            parts.append(f"<{blk.kind}>{html.escape(blk.text)}</{blk.kind}>")
        elif blk.kind == "p":
            cls = ' class="headline"' if i == 0 else ""
            parts.append(f"<p{cls}>{_inline_md(blk.text)}</p>")
        elif blk.kind == "note":
            parts.append(f'<p class="note">{_inline_md(blk.text)}</p>')
        elif blk.kind == "table" and blk.table is not None:
            parts.append(blk.table.html())
        elif blk.kind == "figure" and blk.path is not None:
            data = base64.b64encode(blk.path.read_bytes()).decode("ascii")
            alt = html.escape(blk.text)
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
                f"<figcaption>{alt}</figcaption></figure>"
            )
        elif blk.kind == "pre":
            parts.append(f"<pre>{html.escape(blk.text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _render_markdown(title: str, blocks: Sequence[Block], run_dir: Path) -> str:
    parts = [f"# {title}", ""]
    for blk in blocks:
        if blk.kind == "h2":
            parts += [f"## {blk.text}", ""]
        elif blk.kind == "h3":
            parts += [f"### {blk.text}", ""]
        elif blk.kind == "p":
            parts += [blk.text, ""]
        elif blk.kind == "note":
            parts += [f"*{blk.text}*", ""]
        elif blk.kind == "table" and blk.table is not None:
            parts += [blk.table.markdown(), ""]
        elif blk.kind == "figure" and blk.path is not None:
            rel = blk.path.relative_to(run_dir).as_posix()
            parts += [f"![{blk.text}]({rel})", "", f"*{blk.text}*", ""]
        elif blk.kind == "pre":
            parts += ["```", blk.text.rstrip("\n"), "```", ""]
    return "\n".join(parts)


def build_report(run_dir: str | os.PathLike) -> ReportFiles:
    """Write ``report.html``, ``report.md`` and ``report.json`` for the run in ``run_dir``.

    Uses whatever run files exist; missing ones are listed in the report (and
    ``report.json["complete"]`` is False). Files are renamed into place only after all three
    are rendered.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        from simdr_lib.errors import ConfigError

        raise ConfigError(f"{run_dir}: no such run folder")
    blocks, payload, missing = _collect(run_dir)
    title = f"SimDR run report: {payload['run']}"
    html_text = _render_html(title, blocks)
    md_text = _render_markdown(title, blocks, run_dir)
    json_text = json.dumps(to_jsonable(payload), indent=2) + "\n"
    texts = list(zip((run_dir / n for n in REPORT_FILES), (html_text, md_text, json_text)))
    atomic_io.write_texts_atomic(
        texts[::-1]
    )  # all or none; report.html, the page users open, lands last
    return ReportFiles(
        html=run_dir / REPORT_FILES[0],
        markdown=run_dir / REPORT_FILES[1],
        json=run_dir / REPORT_FILES[2],
        summary=payload["summary"],
        ap=payload["AP"],
        complete=not missing,
        missing=missing,
    )
