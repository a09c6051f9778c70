"""The notebook run context: what the first cell of every notebook sets up, and its savers.

:func:`start_notebook` (the first code cell after the ``parameters`` cell) turns the
parameters into the run's :class:`~simdr_lib.config.Config`, moves to the project root (so the
same notebook runs from JupyterLab in ``notebooks/`` and from papermill in the root) and gives
the notebook its run folder ``reports/<run>/`` as a :class:`NotebookRun`, through which
notebooks pass results to each other as json files and figures (see :mod:`simdr_lib.report`).
:func:`save_dataset_stats` (01) and :func:`save_training` (03) write those notebooks' files.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib import report as rpt
from simdr_lib.atomic_io import write_bytes_atomic
from simdr_lib.config import Config, load_config, parse_overrides, save_config
from simdr_lib.errors import ConfigError, DataError
from simdr_lib.paths import chdir_to_project_root, project_root, resolve

DEFAULT_CONFIG = "configs/demo_tiny.yml"
DEFAULT_RUN = "demo"
#: ``data.dataset`` -> the CPU demo config the parameter ``dataset`` picks for it
DEMO_CONFIGS = {"coco": DEFAULT_CONFIG, "mpii": "configs/demo_tiny_mpii.yml"}
#: the parameters every notebook declares and :func:`start_notebook` reads, in its order
RUN_PARAMETERS = (
    "config",
    "run_name",
    "data_root",
    "epochs",
    "device",
    "overrides",
    "reports_dir",
    "dataset",
)


def run_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`RUN_PARAMETERS` taken from a notebook's namespace (``globals()``).

    Only those names are read; the notebook's own parameters and every other name are left
    alone. A missing one raises ConfigError naming it (the parameters cell must define all).
    """
    missing = [name for name in RUN_PARAMETERS if name not in namespace]
    if missing:
        raise ConfigError(
            f"notebook parameters {', '.join(missing)} not defined: the parameters cell "
            f"must assign all of {', '.join(RUN_PARAMETERS)}"
        )
    return {name: namespace[name] for name in RUN_PARAMETERS}


def config_file(
    config: str | os.PathLike = DEFAULT_CONFIG, dataset: str = "", root: Path | None = None
) -> Path:
    """The config file a run reads: ``config`` resolved against ``root`` (the project root).

    A non-empty ``dataset`` (``coco`` | ``mpii``) with ``config`` left at
    :data:`DEFAULT_CONFIG` picks that dataset's demo config (:data:`DEMO_CONFIGS`); an
    explicit ``config`` is kept (:func:`notebook_config` checks that it fits ``dataset``).
    An unknown ``dataset`` raises ConfigError.
    """
    root = Path(root) if root is not None else project_root()
    if dataset and dataset not in DEMO_CONFIGS:
        raise ConfigError(
            f"parameter dataset {dataset!r}: expected {' or '.join(DEMO_CONFIGS)} "
            "(or empty: the config's data.dataset)"
        )
    path = resolve(config, root)
    if dataset and path == resolve(DEFAULT_CONFIG, root):
        path = resolve(DEMO_CONFIGS[dataset], root)
    return path


def notebook_config(
    config: str | os.PathLike = DEFAULT_CONFIG,
    run_name: str = DEFAULT_RUN,
    data_root: str | os.PathLike = "",
    epochs: int = 0,
    device: str = "auto",
    overrides: dict[str, Any] | list[str] | str | None = None,
    root: Path | None = None,
    *,
    dataset: str = "",
) -> Config:
    """The run's config from notebook parameters.

    The file is :func:`config_file` of ``config`` and ``dataset``: ``dataset`` ``mpii``
    alone reads the MPII demo config; with any other config ``dataset`` must equal its
    ``data.dataset`` (ConfigError otherwise).
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
            raise DataError(
                f"data_root {folder}: no such folder (a COCO- or MPII-format dataset root)"
            )
        values["data.root"] = str(folder)
        values["data.synthetic"] = False
    if epochs:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ConfigError(f"parameter epochs must be an integer >= 0, got {epochs!r}")
        values["train.epochs"] = int(epochs)
    values.update(extra)
    path = config_file(config, dataset, root)
    cfg = load_config(path, values)
    if dataset and cfg.data.dataset != dataset:
        raise ConfigError(
            f"parameter dataset {dataset!r} but {_rel(path, root)} has data.dataset "
            f"{cfg.data.dataset}: give a config with data.dataset {dataset} or leave dataset empty"
        )
    return cfg


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
    def config_file(self) -> Path:
        """The YAML file the run's config was read from (before overrides)."""
        return Path(self.cfg.source.split(" (")[0])

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
        data = rpt.read_json_or_none(self.path(name))
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
    config: str | os.PathLike | Mapping[str, Any] = DEFAULT_CONFIG,
    run_name: str = DEFAULT_RUN,
    data_root: str | os.PathLike = "",
    epochs: int = 0,
    device: str = "auto",
    overrides: dict[str, Any] | list[str] | str | None = None,
    reports_dir: str | os.PathLike = "reports",
    dataset: str = "",
    *,
    quiet: bool = False,
) -> NotebookRun:
    """First cell of every notebook: project root as cwd, headless-safe plotting, the config.

    The parameters come one by one, or as one mapping in place of ``config``: the notebook's
    ``globals()``, from which :func:`run_parameters` reads the :data:`RUN_PARAMETERS` (so the
    setup cell is ``run = start_notebook("04_evaluation", globals())``); the other parameter
    arguments must then be left out. Writes ``reports/<run>/config.yml`` and returns the
    :class:`NotebookRun`.
    """
    from simdr_lib.viz import use_headless_backend

    if isinstance(config, Mapping):
        given = (run_name, data_root, epochs, device, overrides, reports_dir, dataset)
        if given != (DEFAULT_RUN, "", 0, "auto", None, "reports", ""):
            raise TypeError("start_notebook: give the parameters as one mapping or one by one")
        return start_notebook(notebook, **run_parameters(config), quiet=quiet)

    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"paddle\.")
    root = chdir_to_project_root()
    use_headless_backend()
    cfg = notebook_config(
        config, run_name, data_root, epochs, device, overrides, root, dataset=dataset
    )
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
            f"{notebook}: run '{cfg.name}', config {_rel(run.config_file, root)}, "
            f"data {cfg.data.root}, device {cfg.device}, epochs {cfg.train.epochs}; "
            f"outputs {_rel(report_dir, root)}/"
        )
    return run


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------- savers
def is_generated_dataset(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds the generated (synthetic) dataset (COCO, or MPII: ``root/coco``)."""
    from simdr_lib.data.synthetic import _META_NAME

    return any((Path(root) / sub / _META_NAME).is_file() for sub in ("", "coco"))


def save_dataset_stats(run: NotebookRun, train_data: Any, val_data: Any) -> dict[str, Any]:
    """``dataset_stats.json``: :func:`~simdr_lib.data.loaders.split_stats` of both splits.

    Returns ``{"train": ..., "val": ...}``; the file also records the root and whether it is
    the generated dataset (the report says so).
    """
    from simdr_lib.data.loaders import split_stats

    stats = {"train": split_stats(run.cfg, train_data), "val": split_stats(run.cfg, val_data)}
    root = run.cfg.data.root
    info = {"root": str(root), "generated": is_generated_dataset(root), "splits": stats}
    run.save_json(rpt.DATASET_FILE, info)
    return stats


def save_training(run: NotebookRun, result: Any) -> dict[str, Any]:
    """``training.json`` from a :class:`~simdr_lib.engine.train.TrainResult` (also on resume)."""
    history = [dict(r) for r in result.history]
    ckpt_summary = rpt.read_json_or_none(run.checkpoint_dir / "train_summary.json") or {}
    aps = [float(r["AP"]) for r in history if r.get("AP") is not None and np.isfinite(r["AP"])]
    seen = sum(float(r.get("images_per_s", 0.0)) * float(r.get("time_s", 0.0)) for r in history)
    train_time = sum(float(r.get("time_s", 0.0)) for r in history)
    from simdr_lib.data.dataset_kinds import metric_key

    summary = {
        "metric": metric_key(run.cfg.data.dataset),  # best_ap / final_ap hold this metric
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
