"""The one registry of run-file names in ``reports/<run>/``, and reading / writing them.

Every notebook writes what it measured into the run folder under a name listed here (json
files in :data:`RUN_FILES` with the notebook that writes each, figures ``figures/<stem>.png``
named ``<notebook number>_<what>``); the report and the pipeline read them through these
constants, so a name is spelled once.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib import atomic_io
from simdr_lib.engine.prediction_file import PREDICTIONS_FILE

# ----------------------------------------------------------------------------- notebooks
DATA_PREP_NOTEBOOK = "01_data_prep"
MODEL_NOTEBOOK = "02_model"
TRAINING_NOTEBOOK = "03_training"
EVALUATION_NOTEBOOK = "04_evaluation"
EXPORT_NOTEBOOK = "05_export"
VISUALIZATION_NOTEBOOK = "06_visualization"
REPORT_NOTEBOOK = "07_report"
STUDY_NOTEBOOK = "08_lowres_study"

# ----------------------------------------------------------------------------- files
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
FIGURES_DIR = "figures"
REPORT_FILES = ("report.html", "report.md", "report.json")
#: json run file -> the notebook that writes it
RUN_FILES = {
    DATASET_FILE: DATA_PREP_NOTEBOOK,
    ENVIRONMENT_FILE: DATA_PREP_NOTEBOOK,
    MODEL_FILE: MODEL_NOTEBOOK,
    TRAINING_FILE: TRAINING_NOTEBOOK,
    METRICS_FILE: EVALUATION_NOTEBOOK,
    EXPORT_FILE: EXPORT_NOTEBOOK,
    VISUALIZATION_FILE: VISUALIZATION_NOTEBOOK,
    STUDY_FILE: STUDY_NOTEBOOK,
}
#: other run files (not json, not read by the report) -> the notebook that writes each
DATA_FILES = {
    PREDICTIONS_FILE: EVALUATION_NOTEBOOK,  # read by 06_visualization
}

# ----------------------------------------------------------------------------- figures
# stems of figures/<stem>.png the report places in its sections (others go to "Other figures")
FIG_SAMPLES = "01_samples"
FIG_TRAIN_STATS = "01_train_stats"
FIG_LABEL_VECTORS = "02_label_vectors"
FIG_LABEL_COMPARISON = "02_label_comparison"
FIG_LABELS_K_SIGMA = "02_labels_k_sigma"
FIG_TRAINING_CURVES = "03_training_curves"
FIG_PROTOCOLS = "04_protocols"
FIG_PER_JOINT = "04_per_joint"
FIG_PREDICTIONS = "06_predictions"
FIG_DISTRIBUTIONS_TYPICAL = "06_distributions_typical"
FIG_DISTRIBUTIONS_WORST = "06_distributions_worst"
FIG_WORST_CASES = "06_worst_cases"
FIG_AP_VS_SIZE = "08_ap_vs_size"
FIG_SIDE_BY_SIDE = "08_side_by_side"
FIGURES = (
    FIG_SAMPLES,
    FIG_TRAIN_STATS,
    FIG_LABEL_VECTORS,
    FIG_LABEL_COMPARISON,
    FIG_LABELS_K_SIGMA,
    FIG_TRAINING_CURVES,
    FIG_PROTOCOLS,
    FIG_PER_JOINT,
    FIG_PREDICTIONS,
    FIG_DISTRIBUTIONS_TYPICAL,
    FIG_DISTRIBUTIONS_WORST,
    FIG_WORST_CASES,
    FIG_AP_VS_SIZE,
    FIG_SIDE_BY_SIDE,
)


FIGURE_SUFFIX = ".png"


def figure_path(run_dir: str | os.PathLike, stem: str) -> Path:
    """``<run_dir>/figures/<stem>.png``."""
    return Path(run_dir) / FIGURES_DIR / f"{stem}{FIGURE_SUFFIX}"


# ----------------------------------------------------------------------------- reading / writing
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
    files (:data:`RUN_FILES`, :data:`DATA_FILES`), figures (named after their notebook's
    number, ``04_*.png``) and executed notebooks of those notebooks are removed, so a report
    never shows results of an earlier run (e.g. the metrics of a notebook that was deleted
    since). Returns the removed names.
    """
    root = Path(run_dir)
    gone = set(to_run) | {nb for nb in RUN_FILES.values() if nb not in notebooks}
    numbers = {nb.split("_", 1)[0] for nb in gone}
    kept = {nb.split("_", 1)[0] for nb in notebooks if nb not in gone}
    removed = []
    written = {**RUN_FILES, **DATA_FILES}
    candidates = [root / name for name, nb in written.items() if nb in gone]
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
