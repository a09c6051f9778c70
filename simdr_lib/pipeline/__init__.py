"""The notebook pipeline: ``simdr pipeline`` runs ``notebooks/NN_*.ipynb`` in order with papermill.

:func:`run_pipeline` executes the notebooks headlessly on the current Python interpreter's
kernel, saves each executed notebook as ``reports/<run>/NN_name.ipynb``, records progress in
``reports/<run>/pipeline_state.json`` (written atomically after every notebook), resumes from
the first notebook that has not completed when started again with the same run name and
parameters, stops at the first failure with a one-line ``notebook X failed in cell N (...):
Type: message`` error, and writes ``report.{html,md,json}`` only after every notebook
succeeded (a stale report is removed before anything reruns).

==================  ==========================================================
``params``          which notebooks run and their parameters
``state``           ``pipeline_state.json`` as a dataclass
``kernel``          the kernel on this interpreter, output and failure lines
``run_folder``      checkpoint folder, weights files, ``--force``
``driver``          :func:`run_pipeline` and its steps
``cli``             ``simdr pipeline``
==================  ==========================================================

The notebook side lives in :mod:`simdr_lib.notebook_run` (run context),
:mod:`simdr_lib.engine.protocols`, :mod:`simdr_lib.deploy.compare` and
:mod:`simdr_lib.viz_examples`. Their names, and the driver's, are imported here from
``simdr_lib.pipeline`` by notebooks, widgets and tests (compatibility re-exports; removed
once callers move).
"""

from __future__ import annotations

from simdr_lib.config import parse_overrides
from simdr_lib.deploy.compare import export_and_compare, export_available
from simdr_lib.engine.protocols import (
    PROTOCOLS,
    ProtocolResults,
    crop_items,
    evaluate_protocols,
    gt_box_result,
    gt_eval_records,
    protocol_name,
    save_metrics,
)
from simdr_lib.notebook_run import (
    DEFAULT_CONFIG,
    DEFAULT_RUN,
    NotebookRun,
    is_generated_dataset,
    notebook_config,
    save_dataset_stats,
    save_training,
    start_notebook,
)
from simdr_lib.pipeline.cli import add_cli, cmd_pipeline
from simdr_lib.pipeline.driver import TRAINING_NOTEBOOK, PipelineResult, run_pipeline
from simdr_lib.pipeline.kernel import (
    KERNEL_LOG,
    KERNEL_NAME,
    describe_failure,
)
from simdr_lib.pipeline.params import (
    ON_REQUEST_NOTEBOOKS,
    PipelineError,
    coerce_parameter,
    list_notebooks,
    notebook_parameters,
    resolve_parameters,
)
from simdr_lib.pipeline.state import STATE_VERSION, RunState
from simdr_lib.viz_examples import (
    distribution_example,
    prediction_examples,
    save_visualization,
    worst_case_examples,
)

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_RUN",
    "KERNEL_LOG",
    "KERNEL_NAME",
    "ON_REQUEST_NOTEBOOKS",
    "PROTOCOLS",
    "STATE_VERSION",
    "TRAINING_NOTEBOOK",
    "NotebookRun",
    "PipelineError",
    "PipelineResult",
    "ProtocolResults",
    "RunState",
    "add_cli",
    "cmd_pipeline",
    "coerce_parameter",
    "crop_items",
    "describe_failure",
    "distribution_example",
    "evaluate_protocols",
    "export_and_compare",
    "export_available",
    "gt_box_result",
    "gt_eval_records",
    "is_generated_dataset",
    "list_notebooks",
    "notebook_config",
    "notebook_parameters",
    "parse_overrides",
    "prediction_examples",
    "protocol_name",
    "resolve_parameters",
    "run_pipeline",
    "save_dataset_stats",
    "save_metrics",
    "save_training",
    "save_visualization",
    "start_notebook",
    "worst_case_examples",
]
