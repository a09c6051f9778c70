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

The notebook side is not here: the run context of a notebook is
:mod:`simdr_lib.notebook_run`; each notebook's helpers sit next to the step they serve
(:mod:`simdr_lib.engine.protocols`, :mod:`simdr_lib.engine.prediction_file`,
:mod:`simdr_lib.deploy.compare`, :mod:`simdr_lib.viz_examples`).
"""

from __future__ import annotations

from simdr_lib.pipeline.cli import add_cli, cmd_pipeline
from simdr_lib.pipeline.driver import TRAINING_NOTEBOOK, PipelineResult, run_pipeline
from simdr_lib.pipeline.kernel import KERNEL_LOG, KERNEL_NAME, describe_failure
from simdr_lib.pipeline.params import (
    ON_REQUEST_NOTEBOOKS,
    PipelineError,
    coerce_parameter,
    list_notebooks,
    notebook_parameters,
    resolve_parameters,
)
from simdr_lib.pipeline.state import STATE_VERSION, RunState

__all__ = [
    "KERNEL_LOG",
    "KERNEL_NAME",
    "ON_REQUEST_NOTEBOOKS",
    "STATE_VERSION",
    "TRAINING_NOTEBOOK",
    "PipelineError",
    "PipelineResult",
    "RunState",
    "add_cli",
    "cmd_pipeline",
    "coerce_parameter",
    "describe_failure",
    "list_notebooks",
    "notebook_parameters",
    "resolve_parameters",
    "run_pipeline",
]
