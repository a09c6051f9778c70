"""Run reports: summary tables and ``reports/<run>/report.{html,md,json}``.

The notebooks write what they measured into ``reports/<run>/`` (json files and figures named in
:mod:`~simdr_lib.report.run_files`); :func:`~simdr_lib.report.build.build_report` reads that
folder (:func:`~simdr_lib.report.run_data.load_run`) and renders one section per run file
(:mod:`~simdr_lib.report.sections`) as a self-contained HTML page, a Markdown page and
``report.json`` with the metrics.

Modules: ``run_files`` (the registry of run-file names, reading / writing them), ``run_data``
(:class:`RunData`), ``tables`` (the tables notebooks display), ``environment``, ``sections``,
``blocks`` (HTML / Markdown rendering) and ``build``. The OKS metrics the report shows are
computed in :mod:`simdr_lib.engine.oks`.
"""

from __future__ import annotations

from simdr_lib.report.blocks import Block
from simdr_lib.report.build import ReportFiles, build_report
from simdr_lib.report.environment import environment_info
from simdr_lib.report.run_data import RunData, load_run
from simdr_lib.report.run_files import (
    CONFIG_FILE,
    DATASET_FILE,
    ENVIRONMENT_FILE,
    EXPORT_FILE,
    FIGURES_DIR,
    METRICS_FILE,
    MODEL_FILE,
    REPORT_FILES,
    RUN_FILES,
    STATE_FILE,
    STUDY_FILE,
    STUDY_NOTEBOOK,
    TRAINING_FILE,
    VISUALIZATION_FILE,
    read_json_or_none,
    remove_report,
    remove_stale_outputs,
    to_jsonable,
    write_json_atomic,
)
from simdr_lib.report.sections import ap_sentence, study_sentence
from simdr_lib.report.tables import (
    COCO_COLUMNS,
    Table,
    coco_table,
    dataset_table,
    environment_table,
    export_table,
    model_table,
    per_joint_table,
    protocols_table,
    timing_table,
    training_table,
)

__all__ = [
    "COCO_COLUMNS",
    "CONFIG_FILE",
    "DATASET_FILE",
    "ENVIRONMENT_FILE",
    "EXPORT_FILE",
    "FIGURES_DIR",
    "METRICS_FILE",
    "MODEL_FILE",
    "REPORT_FILES",
    "RUN_FILES",
    "STATE_FILE",
    "STUDY_FILE",
    "STUDY_NOTEBOOK",
    "TRAINING_FILE",
    "VISUALIZATION_FILE",
    "Block",
    "ReportFiles",
    "RunData",
    "Table",
    "ap_sentence",
    "build_report",
    "coco_table",
    "dataset_table",
    "environment_info",
    "environment_table",
    "export_table",
    "load_run",
    "model_table",
    "per_joint_table",
    "protocols_table",
    "read_json_or_none",
    "remove_report",
    "remove_stale_outputs",
    "study_sentence",
    "timing_table",
    "to_jsonable",
    "training_table",
    "write_json_atomic",
]
