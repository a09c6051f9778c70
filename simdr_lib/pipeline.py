"""The notebook pipeline: ``simdr pipeline`` runs ``notebooks/NN_*.ipynb`` in order with papermill.

Two halves live here:

* **Inside a notebook** (:func:`start_notebook`, :class:`NotebookRun` and a few step helpers):
  the first code cell after the ``parameters`` cell turns the parameters into the run's
  :class:`~simdr_lib.config.Config`, moves to the project root (so the same notebook runs from
  JupyterLab in ``notebooks/`` and from papermill in the root) and gives the notebook its
  run folder ``reports/<run>/``, where notebooks pass results to each other as json files
  and figures (see :mod:`simdr_lib.report`).
* **The driver** (:func:`run_pipeline`, ``simdr pipeline``): executes the notebooks headlessly
  on the current Python interpreter's kernel, saves each executed notebook as
  ``reports/<run>/NN_name.ipynb``, records progress in ``reports/<run>/pipeline_state.json``
  (written atomically after every notebook), resumes from the first notebook that has not
  completed when started again with the same run name and parameters, stops at the first
  failure with a one-line ``notebook X failed in cell N (...): Type: message`` error, and
  writes ``report.{html,md,json}`` only after every notebook succeeded (a stale report is
  removed before anything reruns).
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml

from simdr_lib import report as rpt
from simdr_lib.atomic_io import write_bytes_atomic
from simdr_lib.cli_args import add_opt_arg
from simdr_lib.config import Config, load_config, parse_overrides, save_config
from simdr_lib.errors import ConfigError, DataError, SimdrError
from simdr_lib.paths import chdir_to_project_root, project_root, resolve
from simdr_lib.run_lock import RunLock

DEFAULT_CONFIG = "configs/demo_tiny.yml"
DEFAULT_RUN = "demo"
KERNEL_NAME = "python3"
STATE_VERSION = 1
KERNEL_LOG = "kernel.log"
#: notebooks the pipeline runs only when named (``--notebooks``): long studies
ON_REQUEST_NOTEBOOKS = ("08_lowres_study",)
TRAINING_NOTEBOOK = "03_training"  # resumes from <save_dir>/<run>/last.pdckpt (parameter resume)
# Tags that name no step (papermill's own and the parameters cells).
_PAPERMILL_TAGS = {"parameters", "injected-parameters", "papermill-error-cell-tag"}


class PipelineError(SimdrError):
    """A notebook failed, or the run folder does not fit the request (one line)."""


# ============================================================================ notebook side
def notebook_config(
    config: str | os.PathLike = DEFAULT_CONFIG,
    run_name: str = DEFAULT_RUN,
    data_root: str | os.PathLike = "",
    epochs: int = 0,
    device: str = "auto",
    overrides: dict[str, Any] | list[str] | str | None = None,
    root: Path | None = None,
) -> Config:
    """The run's config from notebook parameters.

    ``config`` and ``data_root`` are resolved against the project root. ``run_name`` becomes
    ``cfg.name`` (checkpoints go to ``<train.save_dir>/<run_name>/``). A non-empty
    ``data_root`` points at an existing COCO-format folder and turns off data generation
    (unless ``overrides`` sets ``data.synthetic``); ``epochs`` > 0 replaces
    ``train.epochs``; ``overrides`` (dotted keys, a dict, a ``key=value`` list or a YAML
    mapping string) are applied last.
    """
    root = Path(root) if root is not None else project_root()
    extra = parse_overrides(overrides)
    values: dict[str, Any] = {"name": str(run_name)}
    if device:
        values["device"] = str(device)
    if data_root:
        folder = resolve(data_root, root)
        if not folder.is_dir():
            raise DataError(f"data_root {folder}: no such folder (a COCO-format dataset root)")
        values["data.root"] = str(folder)
        values["data.synthetic"] = False
    if epochs:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ConfigError(f"parameter epochs must be an integer >= 0, got {epochs!r}")
        values["train.epochs"] = int(epochs)
    values.update(extra)
    return load_config(resolve(config, root), values)


@dataclass
class NotebookRun:
    """What a notebook knows about its run: config, folders, and how to save results."""

    notebook: str
    cfg: Config
    root: Path
    report_dir: Path
    checkpoint_dir: Path
    headless: bool = False

    @property
    def progress(self) -> bool:
        """Show progress bars (interactive use); headless runs print summary lines instead."""
        return not self.headless

    @property
    def figures_dir(self) -> Path:
        return self.report_dir / rpt.FIGURES_DIR

    def path(self, name: str) -> Path:
        return self.report_dir / name

    def save_json(self, name: str, obj: Any) -> Path:
        """Write ``reports/<run>/<name>`` atomically (NaN -> null)."""
        return rpt.write_json_atomic(self.path(name), obj)

    def load_json(self, name: str) -> Any:
        """Read a run file another notebook wrote; DataError naming that notebook if missing."""
        data = rpt.read_json(self.path(name))
        if data is None:
            producer = rpt.RUN_FILES.get(name, "an earlier notebook")
            raise DataError(f"{self.path(name)}: missing; run {producer} first (same run_name)")
        return data

    def show(self, fig: Any, name: str, dpi: int = 96) -> Path:
        """Save ``fig`` as ``figures/<name>.png`` for the report and display it here."""
        from simdr_lib.viz import figure_png

        png = figure_png(fig, dpi=dpi)
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        path = self.figures_dir / f"{name}.png"
        write_bytes_atomic(path, png)
        if _in_ipython():
            from IPython.display import Image, display

            display(Image(png))
        return path

    def markdown(self, obj: Any) -> None:
        """Show a table / markdown text (printed when not in a notebook)."""
        text = obj.markdown() if hasattr(obj, "markdown") else str(obj)
        if _in_ipython():
            from IPython.display import Markdown, display

            display(Markdown(text))
        else:
            print(text)

    def weights(self) -> Path:
        """``checkpoints/<run>/model_final.pdparams`` (DataError if 03_training has not run)."""
        path = self.checkpoint_dir / "model_final.pdparams"
        if not path.is_file():
            raise DataError(f"{path}: no trained weights; run 03_training first (same run_name)")
        return path

    def load_model(self) -> Any:
        """The trained model (eval mode) on the configured device."""
        from simdr_lib.device import set_device
        from simdr_lib.factory import model_from_config
        from simdr_lib.weights import load_model_weights

        weights = self.weights()
        set_device(self.cfg.device)
        model = model_from_config(self.cfg)
        load_model_weights(model, weights, cfg=self.cfg)
        model.eval()
        return model


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def start_notebook(
    notebook: str,
    config: str | os.PathLike = DEFAULT_CONFIG,
    run_name: str = DEFAULT_RUN,
    data_root: str | os.PathLike = "",
    epochs: int = 0,
    device: str = "auto",
    overrides: dict[str, Any] | list[str] | str | None = None,
    reports_dir: str | os.PathLike = "reports",
    *,
    quiet: bool = False,
) -> NotebookRun:
    """First cell of every notebook: project root as cwd, headless-safe plotting, the config.

    Writes ``reports/<run>/config.yml`` and returns the :class:`NotebookRun`.
    """
    from simdr_lib.viz import use_headless_backend

    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"paddle\.")
    root = chdir_to_project_root()
    use_headless_backend()
    cfg = notebook_config(config, run_name, data_root, epochs, device, overrides, root)
    report_dir = resolve(reports_dir, root) / cfg.name
    report_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, report_dir / rpt.CONFIG_FILE)
    run = NotebookRun(
        notebook=notebook,
        cfg=cfg,
        root=root,
        report_dir=report_dir,
        checkpoint_dir=resolve(cfg.train.save_dir, root) / cfg.name,
        headless=os.environ.get("SIMDR_HEADLESS") == "1",
    )
    if not quiet:
        print(
            f"{notebook}: run '{cfg.name}', config {_rel(Path(cfg.source.split(' (')[0]), root)}, "
            f"data {cfg.data.root}, device {cfg.device}, epochs {cfg.train.epochs}; "
            f"outputs {_rel(report_dir, root)}/"
        )
    return run


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------- step helpers
def is_generated_dataset(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds the generated (synthetic) dataset."""
    from simdr_lib.data.synthetic import _META_NAME

    return (Path(root) / _META_NAME).is_file()


def save_dataset_stats(run: NotebookRun, train_data: Any, val_data: Any) -> dict[str, Any]:
    """``dataset_stats.json``: :func:`~simdr_lib.data.coco.dataset_stats` of both splits.

    Returns ``{"train": ..., "val": ...}``; the file also records the root and whether it is
    the generated dataset (the report says so).
    """
    from simdr_lib.data.coco import dataset_stats

    stats = {"train": dataset_stats(train_data), "val": dataset_stats(val_data)}
    root = run.cfg.data.root
    info = {"root": str(root), "generated": is_generated_dataset(root), "splits": stats}
    run.save_json(rpt.DATASET_FILE, info)
    return stats


def save_training(run: NotebookRun, result: Any) -> dict[str, Any]:
    """``training.json`` from a :class:`~simdr_lib.engine.train.TrainResult` (also on resume)."""
    history = [dict(r) for r in result.history]
    ckpt_summary = rpt.read_json(run.checkpoint_dir / "train_summary.json") or {}
    aps = [float(r["AP"]) for r in history if r.get("AP") is not None and np.isfinite(r["AP"])]
    seen = sum(float(r.get("images_per_s", 0.0)) * float(r.get("time_s", 0.0)) for r in history)
    train_time = sum(float(r.get("time_s", 0.0)) for r in history)
    summary = {
        "epochs_done": int(result.epochs_done),
        "best_ap": float(result.best_ap) if result.best_ap >= 0 else None,
        "best_epoch": int(result.best_epoch) if result.best_epoch > 0 else None,
        "final_ap": aps[-1] if aps else None,
        "final_loss": float(history[-1]["loss"]) if history else None,
        "train_time_s": train_time,
        "images_per_s": seen / train_time if train_time > 0 else None,
        "device": ckpt_summary.get("device", run.cfg.device),
        "weights": str(result.final_weights) if result.final_weights else None,
        "checkpoint_dir": str(run.checkpoint_dir),
        "history": history,
    }
    run.save_json(rpt.TRAINING_FILE, summary)
    return summary


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
    """COCO AP with flip test on / off (GT boxes) and with detected boxes (flip on).

    The config's own protocol (``eval.use_gt_bbox`` / ``eval.flip_test``) is always included
    and is the main one (its results json goes to ``out_dir``). The detected-box protocols
    are skipped when ``data.det_file`` does not exist, unless it is the main one.
    """
    from simdr_lib.engine.validate import evaluate_model

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
    from simdr_lib.data.splits import eval_records

    return eval_records(cfg, data, True)


def gt_box_result(protocols: ProtocolResults) -> Any:
    """The GT-box evaluation to take per-joint numbers from (the main one if it uses GT boxes)."""
    for name in [protocols.main, *protocols.results]:
        r = protocols.results.get(name)
        if r is not None and r.use_gt_bbox and r.predictions.gt_keypoints_img is not None:
            return r
    raise DataError("no ground-truth-box evaluation to compute per-joint accuracy from")


def save_metrics(
    run: NotebookRun, protocols: ProtocolResults, per_joint: list[dict[str, Any]], data: Any
) -> dict[str, Any]:
    """``metrics.json``: main COCOeval stats, every protocol, per-joint accuracy."""
    main = protocols.results[protocols.main]
    n_images = data.num_images
    if run.cfg.eval.max_images > 0:
        n_images = min(n_images, run.cfg.eval.max_images)
    metrics = {
        "AP": float(main.stats["AP"]),
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
    from simdr_lib.data.splits import make_dataset
    from simdr_lib.factory import codec_from_config

    dataset = make_dataset(cfg, list(records), codec_from_config(cfg), train=False)
    return [dataset[int(i)] for i in indices]


def export_and_compare(run: NotebookRun, num_crops: int = 8) -> dict[str, Any]:
    """Export the trained model, run it with Paddle Inference and compare with the dygraph model.

    Writes ``export.json``: the folder, the max absolute difference of the probabilities over
    ``num_crops`` validation crops, the max decoded keypoint difference (px) and ms per crop.
    """
    from simdr_lib.data.splits import load_split
    from simdr_lib.device import resolve_device
    from simdr_lib.engine.predict import dynamic_prob_fn, probability_model
    from simdr_lib.export import export_model, load_predictor
    from simdr_lib.factory import codec_from_config

    cfg = run.cfg
    weights = run.weights()
    out_dir = run.checkpoint_dir / "inference_model"
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


def export_available() -> bool:
    """Whether :mod:`simdr_lib.export` is installed (05_export stops with a note otherwise)."""
    import importlib.util

    return importlib.util.find_spec("simdr_lib.export") is not None


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


# ============================================================================ driver side
def list_notebooks(root: Path | None = None, names: Sequence[str] | None = None) -> list[Path]:
    """``notebooks/NN_*.ipynb`` in order: ``names`` (stems) if given, else the default set.

    The default set leaves out :data:`ON_REQUEST_NOTEBOOKS` (long studies).
    """
    folder = (root or project_root()) / "notebooks"
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())
    if not books:
        raise PipelineError(f"{folder}: no numbered notebooks (NN_name.ipynb)")
    if not names:
        return [p for p in books if p.stem not in ON_REQUEST_NOTEBOOKS]
    by_stem = {p.stem: p for p in books}
    unknown = [n for n in names if n not in by_stem]
    if unknown:
        raise ConfigError(
            f"unknown notebook {unknown[0]!r}; the notebooks are {', '.join(by_stem)}"
        )
    return [by_stem[n] for n in sorted(dict.fromkeys(names))]


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Declared parameters of a notebook (name -> default value) from its ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise PipelineError(f"{path}: no cell tagged 'parameters'")
    out: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                out[target.id] = ast.literal_eval(node.value)
    return out


def coerce_parameter(name: str, value: Any, default: Any) -> Any:
    """``value`` (often a CLI string) converted to the type of the notebook's default."""
    if isinstance(value, str) and not isinstance(default, str):
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        value = parsed
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        value = str(value) if ok else value
    elif isinstance(default, (dict, list)):
        ok = isinstance(value, (dict, list))
    else:
        ok = True
    if not ok:
        want = type(default).__name__
        raise ConfigError(f"parameter {name}: expected {want}, got {value!r}")
    return value


def _atomic_json(path: Path, obj: Any) -> None:
    rpt.write_json_atomic(path, obj)


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else ""


@dataclass
class PipelineResult:
    run_dir: Path
    executed: list[str]
    skipped: list[str]
    report: rpt.ReportFiles | None
    wall_time_s: float


class _Prefixed:
    """A text stream that indents every line written to ``stream`` (notebook stdout)."""

    def __init__(self, stream: IO[str], prefix: str = "    | ") -> None:
        self.stream = stream
        self.prefix = prefix
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text.replace("\r", "\n")
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if line.strip():
                self.stream.write(f"{self.prefix}{line}\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        if self.buffer.strip():
            self.stream.write(f"{self.prefix}{self.buffer}\n")
        self.buffer = ""
        self.stream.flush()


def _kernel_manager_class(stderr: IO[str] | None = None) -> type:
    """An AsyncKernelManager that always starts ipykernel on *this* interpreter.

    The ``python3`` kernelspec found first may belong to another Python (a user-level
    kernelspec); the pipeline must run the notebooks with the packages it runs with. The
    kernel process's own stderr (ipykernel's log lines, C++ warnings, crash messages) goes to
    ``stderr`` (the run's ``kernel.log``) instead of the terminal.
    """
    from jupyter_client import AsyncKernelManager

    class CurrentPythonKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            if "-f" in cmd:
                tail = cmd[cmd.index("-f") :]
            else:  # pragma: no cover - every ipykernel spec passes -f {connection_file}
                tail = ["-f", self.connection_file]
            return [sys.executable, "-m", "ipykernel_launcher", *tail]

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if stderr is not None:
                kw.setdefault("stderr", stderr)
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return CurrentPythonKernelManager


def _first_line(text: Any, limit: int = 300) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _cell_label(output_path: Path, error: Any) -> str:
    """The failing cell's tag (if it has one) or its first non-empty source line."""
    try:
        import nbformat

        nb = nbformat.read(str(output_path), as_version=4)
        for cell in nb.cells:
            outs = cell.get("outputs", [])
            if cell.get("execution_count") == error.exec_count and any(
                o.get("output_type") == "error" for o in outs
            ):
                tags = [
                    t for t in cell.get("metadata", {}).get("tags", []) if t not in _PAPERMILL_TAGS
                ]
                if tags:
                    return tags[0]
                break
    except Exception:  # the label is a nicety; never hide the real error behind this
        pass
    line = _first_line(getattr(error, "source", ""), limit=60)
    return line or "?"


def _is_cell_error(exc: BaseException) -> bool:
    try:
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, PapermillExecutionError)


def describe_failure(notebook: str, exc: BaseException, output_path: Path) -> str:
    """``notebook X failed in cell N (label): Type: message`` (one line)."""
    try:
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover
        PapermillExecutionError = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, PapermillExecutionError):
        cell = exc.exec_count if exc.exec_count is not None else exc.cell_index
        label = _cell_label(output_path, exc)
        message = _first_line(exc.evalue) or "(no message)"
        return f"notebook {notebook} failed in cell {cell} ({label}): {exc.ename}: {message}"
    return f"notebook {notebook} failed: {type(exc).__name__}: {_first_line(exc) or '(no message)'}"


def _param_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(diffs)


def resolve_parameters(
    parameters: dict[str, Any] | None, books: Sequence[Path]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Merged parameters (notebook defaults + given) and each notebook's declared ones."""
    declared = {p.stem: notebook_parameters(p) for p in books}
    defaults: dict[str, Any] = {}
    for params in declared.values():
        for k, v in params.items():
            defaults.setdefault(k, v)
    merged = dict(defaults)
    for name, value in (parameters or {}).items():
        if name not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"unknown notebook parameter '{name}' (known: {known})")
        merged[name] = coerce_parameter(name, value, defaults[name])
    run = str(merged.get("run_name", DEFAULT_RUN))
    if not run or any(c in run for c in "/\\") or run in (".", ".."):
        raise ConfigError(f"run name must be a plain folder name, got {run!r}")
    return merged, declared


def run_pipeline(
    parameters: dict[str, Any] | None = None,
    *,
    notebooks: Sequence[str] | None = None,
    force: bool = False,
    root: str | os.PathLike | None = None,
    stream: IO[str] | None | Any = "stdout",
    show_output: bool = True,
    kernel_name: str = KERNEL_NAME,
    start_timeout: float = 180.0,
) -> PipelineResult:
    """Execute the numbered notebooks for one run; see the module docstring.

    Args:
        parameters: notebook parameters (``config``, ``run_name``, ``data_root``, ``epochs``,
            ``device``, ``overrides``, ``reports_dir``, ...); unknown names are refused.
        notebooks: the notebook stems to run (default: 01..07, not the on-request studies).
        force: delete the run's report folder and its checkpoints and run every notebook.
        root: project root (default: found from the cwd).
        stream: where progress lines go (default ``sys.stdout`` at call time; None: silent);
            ``show_output`` also copies the notebooks' printed output there, indented.

    Raises:
        PipelineError: a notebook failed (one line: notebook, cell, exception), the run was
            started with other parameters, or another pipeline holds the run.
        ConfigError: unknown parameter or a bad config.
    """
    import papermill as pm

    if isinstance(stream, str) and stream == "stdout":
        stream = sys.stdout
    say = (lambda msg: print(msg, file=stream, flush=True)) if stream else (lambda msg: None)
    root = Path(root).resolve() if root is not None else project_root()
    books = list_notebooks(root, notebooks)
    params, declared = resolve_parameters(parameters, books)
    run = params["run_name"]
    run_dir = resolve(params.get("reports_dir", "reports"), root) / run
    ckpt_dir = _checkpoint_dir(params, root)
    config_hash = _sha256(resolve(params.get("config", DEFAULT_CONFIG), root))

    _check_weights_files(params, root)  # before --force deletes anything
    with RunLock(run_dir, "simdr pipeline"):
        state_path = run_dir / rpt.STATE_FILE
        state = rpt.read_json(state_path) if state_path.is_file() else None
        if force:
            _clear_run(run_dir, ckpt_dir, state, say, root)
            state = None
        elif state is not None:
            old = state.get("parameters", {})
            if old != rpt.to_jsonable(params) or state.get("config_sha256") != config_hash:
                diff = _param_diff(old, rpt.to_jsonable(params)) or "config file changed"
                completed = [
                    n
                    for n, e in state.get("notebooks", {}).items()
                    if e.get("status") == "completed"
                ]
                if completed or ckpt_dir.exists():
                    raise PipelineError(
                        f"{_rel(run_dir, root)} was run with other parameters ({diff}); add "
                        "--force to start it over (deletes its reports and checkpoints), or "
                        "choose another --run name"
                    )
                say(f"parameters changed ({diff}); nothing had completed: starting over")
                state = None
        names = [p.stem for p in books]
        if state is None or [*state.get("notebooks", {})] != names:
            state = {
                "version": STATE_VERSION,
                "run": run,
                "parameters": rpt.to_jsonable(params),
                "config_sha256": config_hash,
                "checkpoint_dir": str(ckpt_dir),
                "status": "new",
                "notebooks": {n: {"status": "pending"} for n in names},
                "wall_time_s": 0.0,
                "created": _now(),
            }
        status = [state["notebooks"][n].get("status") for n in names]
        first = next((i for i, s in enumerate(status) if s != "completed"), len(names))
        todo = names[first:]
        skipped = names[:first]
        last = ckpt_dir / "last.pdckpt"
        if TRAINING_NOTEBOOK in todo and params.get("resume", True) and last.is_file():
            from simdr_lib.weights import read_checkpoint

            read_checkpoint(last)  # a refused checkpoint stops the run before any notebook

        t_start = time.perf_counter()
        executed: list[str] = []
        if not todo:
            report_path = run_dir / rpt.REPORT_FILES[0]
            if state.get("status") == "completed" and report_path.is_file():
                say(
                    f"run '{run}': all {len(names)} notebooks completed; report "
                    f"{_rel(report_path, root)} (use --force to rerun)"
                )
                summary = (rpt.read_json(run_dir / rpt.REPORT_FILES[2]) or {}).get("summary")
                if summary:
                    say(summary)
                return PipelineResult(run_dir, [], skipped, None, 0.0)
        rpt.remove_report(run_dir)
        rpt.remove_stale_outputs(run_dir, todo, names)  # nothing of an earlier run survives
        for n in todo:
            state["notebooks"][n] = {"status": "pending"}
        state["status"] = "running"
        state["started"] = _now()
        _atomic_json(state_path, state)
        say(
            f"simdr pipeline: run '{run}' -> {_rel(run_dir, root)}/ "
            f"(config {params.get('config')}, kernel {Path(sys.executable)})"
        )
        if skipped:
            say(f"resuming: {len(skipped)} notebook(s) already completed ({', '.join(skipped)})")
        env_backup = {k: os.environ.get(k) for k in ("SIMDR_HEADLESS", "GLOG_minloglevel")}
        os.environ["SIMDR_HEADLESS"] = "1"
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            for i, name in enumerate(names):
                if name not in todo:
                    continue
                book = books[i]
                out_path = run_dir / book.name
                own = {k: v for k, v in params.items() if k in declared[name]}
                tag = f"[{i + 1}/{len(names)}] {name}"
                say(f"{tag} ...")
                entry = {"status": "running", "started": _now(), "output": book.name}
                state["notebooks"][name] = entry
                _atomic_json(state_path, state)
                out_stream = _Prefixed(stream) if (stream and show_output) else None
                kernel_log = open(run_dir / KERNEL_LOG, "a", encoding="utf-8")
                kernel_log.write(f"==== {name} {_now()}\n")
                kernel_log.flush()
                t0 = time.perf_counter()
                try:
                    pm.execute_notebook(
                        str(book),
                        str(out_path),
                        parameters=own,
                        kernel_name=kernel_name,
                        cwd=str(root),
                        progress_bar=False,
                        log_output=False,
                        stdout_file=out_stream,
                        start_timeout=start_timeout,
                        kernel_manager_class=_kernel_manager_class(kernel_log),
                    )
                except KeyboardInterrupt:
                    entry.update(status="interrupted", seconds=time.perf_counter() - t0)
                    state["status"] = "interrupted"
                    _finish_state(state, state_path, t_start)
                    rpt.remove_report(run_dir)
                    raise
                except Exception as exc:
                    message = describe_failure(name, exc, out_path)
                    if not _is_cell_error(exc):
                        message += f" (kernel output: {_rel(run_dir / KERNEL_LOG, root)})"
                    entry.update(status="failed", seconds=time.perf_counter() - t0, error=message)
                    state["status"] = "failed"
                    state["error"] = message
                    _finish_state(state, state_path, t_start)
                    rpt.remove_report(run_dir)
                    say(
                        f"{tag} FAILED after {entry['seconds']:.1f}s; executed notebook with "
                        f"the error: {_rel(out_path, root)}"
                    )
                    raise PipelineError(message) from None
                finally:
                    if out_stream:
                        out_stream.close()
                    kernel_log.close()
                entry.update(status="completed", seconds=time.perf_counter() - t0, finished=_now())
                _atomic_json(state_path, state)
                executed.append(name)
                say(f"{tag} done in {entry['seconds']:.1f}s")
        finally:
            for k, v in env_backup.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        state["status"] = "completed"
        state["finished"] = _now()
        _finish_state(state, state_path, t_start)
        try:
            report = rpt.build_report(run_dir)
        except Exception as exc:
            rpt.remove_report(run_dir)
            message = f"building the report failed: {type(exc).__name__}: {_first_line(exc)}"
            state.update(status="failed", error=message)
            _atomic_json(state_path, state)
            raise PipelineError(message) from exc
    wall = time.perf_counter() - t_start
    say(f"report: {_rel(report.html, root)} (and report.md, report.json)")
    say(report.summary)
    return PipelineResult(run_dir, executed, skipped, report, wall)


def _check_weights_files(params: dict[str, Any], root: Path) -> None:
    """Read the config's ``weights`` / ``model.pretrained`` safely before any notebook runs.

    A refused or unreadable file is one :class:`CheckpointError` line and nothing is written;
    a bad config is left to the first notebook (which keeps the error in its output).
    """
    try:
        cfg = notebook_config(
            params.get("config", DEFAULT_CONFIG),
            params["run_name"],
            overrides=params.get("overrides"),
            root=root,
        )
    except SimdrError:
        return
    from simdr_lib.weights import read_weights

    for path, what in ((cfg.weights, "weights file"), (cfg.model.pretrained, "pretrained weights")):
        if path:
            read_weights(resolve(path, root), what)


def _checkpoint_dir(params: dict[str, Any], root: Path) -> Path:
    """``<train.save_dir>/<run>`` of the run's config; the default when the config is bad.

    A bad config or data path is not refused here: the first notebook fails on it and keeps
    the error in its executed copy, like any other notebook failure.
    """
    try:
        cfg = load_config(
            resolve(params.get("config", DEFAULT_CONFIG), root),
            parse_overrides(params.get("overrides")),
        )
        save_dir = cfg.train.save_dir
    except SimdrError:
        save_dir = "checkpoints"
    return resolve(save_dir, root) / str(params["run_name"])


def _finish_state(state: dict[str, Any], path: Path, t_start: float) -> None:
    state["wall_time_s"] = float(state.get("wall_time_s") or 0.0) + (time.perf_counter() - t_start)
    state["updated"] = _now()
    _atomic_json(path, state)


def _clear_run(
    run_dir: Path, ckpt_dir: Path, state: dict[str, Any] | None, say: Any, root: Path
) -> None:
    """``--force``: remove a pipeline run folder and the checkpoints it recorded.

    Only folders this project made are removed: the run folder must look like a pipeline run
    (a state file, executed notebooks or the config copy) and a checkpoint folder must hold
    nothing but what training writes (:data:`~simdr_lib.engine.checkpoint.RUN_ENTRIES`) and
    must not be in use by a ``simdr train``; anything else is refused before deleting.
    """
    from simdr_lib.engine.checkpoint import foreign_entries
    from simdr_lib.run_lock import is_locked

    if run_dir.exists() and state is None and any(run_dir.iterdir()):
        if (
            not any(run_dir.glob("[0-9][0-9]_*.ipynb"))
            and not (run_dir / rpt.CONFIG_FILE).is_file()
        ):
            raise PipelineError(
                f"{run_dir}: not a pipeline run folder; refusing to delete it with --force"
            )
    recorded = Path(state["checkpoint_dir"]) if state and state.get("checkpoint_dir") else None
    folders = [f for f in dict.fromkeys([ckpt_dir, recorded]) if f is not None and f.is_dir()]
    for folder in folders:
        foreign = foreign_entries(folder)
        if foreign:
            raise PipelineError(
                f"{folder}: holds files simdr did not write (first: {foreign[0]}); refusing to "
                "delete it with --force (is train.save_dir right?)"
            )
        if is_locked(folder):
            raise PipelineError(f"{folder}: in use by a running `simdr train`; not deleted")
    if run_dir.exists():
        shutil.rmtree(run_dir)
        say(f"--force: removed {_rel(run_dir, root)}/")
    for folder in folders:
        shutil.rmtree(folder)
        say(f"--force: removed {_rel(folder, root)}/")


# ============================================================================ CLI
def add_cli(sub: argparse._SubParsersAction) -> None:
    """``simdr pipeline``."""
    p = sub.add_parser(
        "pipeline",
        help="run notebooks 01..07 with papermill and write reports/<run>/report.html",
        description=(
            "Execute notebooks/NN_*.ipynb in order on this Python's kernel. Executed notebooks "
            "go to reports/<run>/, progress to reports/<run>/pipeline_state.json; running "
            "again with the same run name resumes at the first notebook not completed."
        ),
        epilog=(
            "parameters (-p NAME VALUE): config, data_root, run_name, epochs (0 = config), "
            "device (auto|cpu|gpu), overrides ('{train.batch_size: 16}'), reports_dir, and "
            "per-notebook ones (num_samples, resume, num_crops, worst_k); --list shows them. "
            "Example: simdr pipeline -p epochs 3 --run quick"
        ),
    )
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="notebook parameter (VALUE parsed as YAML for non-text parameters)",
    )
    add_opt_arg(p, "config override passed to every notebook, e.g. -o train.batch_size=16")
    p.add_argument("--run", default=None, help=f"run name (default {DEFAULT_RUN!r})")
    p.add_argument("--config", default=None, help=f"config file (default {DEFAULT_CONFIG})")
    p.add_argument("--reports-dir", default=None, help="parent of run folders (reports)")
    p.add_argument(
        "--force",
        action="store_true",
        help="delete reports/<run>/ and checkpoints/<run>/ first and run every notebook",
    )
    p.add_argument(
        "--notebooks",
        nargs="+",
        metavar="NAME",
        help="run these notebooks only (default: 01..07; the low-resolution study "
        "08_lowres_study runs only when named: --run lowres --notebooks 08_lowres_study)",
    )
    p.add_argument("--list", action="store_true", help="list notebooks and parameters, then exit")
    p.add_argument("--quiet", action="store_true", help="only progress lines, no notebook output")
    p.set_defaults(func=cmd_pipeline)


def cmd_pipeline(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    for name, value in args.parameter:
        params[name] = value
    for flag, name in ((args.run, "run_name"), (args.config, "config")):
        if flag is not None:
            if name in params and params[name] != flag:
                raise ConfigError(f"--{name.split('_')[0]} {flag!r} conflicts with -p {name}")
            params[name] = flag
    if args.reports_dir is not None:
        params["reports_dir"] = args.reports_dir
    if args.opt:
        extra = parse_overrides(params.get("overrides") or {})
        extra.update(parse_overrides(list(args.opt)))
        params["overrides"] = extra
    if args.list:
        root = project_root()
        books = list_notebooks(root, args.notebooks)
        merged, declared = resolve_parameters(params, books)
        for book in books:
            print(f"{book.stem}: {', '.join(declared[book.stem])}")
        print("values: " + json.dumps(merged))
        return 0
    try:
        run_pipeline(params, notebooks=args.notebooks, force=args.force, show_output=not args.quiet)
    except KeyboardInterrupt:
        print(
            "interrupted: completed notebooks are kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    return 0
