"""Deployment: export a trained model, describe it in ``infer_cfg.yml``, run it anywhere.

==========================  ==========================================================
module                      its one job
==========================  ==========================================================
``deploy.layout``           the export folder's file names; Paddle's program format
``deploy.checks``           one-line checks of YAML values (file and key named)
``deploy.codec_section``    ``infer_cfg.yml``'s codec section <-> ``CodecConfig``
``deploy.infer_config``     the ``infer_cfg.yml`` schema: describe, write, read, validate
``deploy.export``           ``export_model``: weights -> static program + infer_cfg.yml
``deploy.onnx``             paddle2onnx conversion, checked against the Paddle model
``deploy.runners``          the ``Runner`` protocol: Paddle Inference, onnxruntime, dygraph
``deploy.predictor``        ``Predictor`` (crop, batch, flip test, decode), loading it
``deploy.compare``          notebook 05: export, then static vs dynamic outputs and AP
==========================  ==========================================================
"""

from __future__ import annotations

from simdr_lib.deploy.export import export_model
from simdr_lib.deploy.infer_config import InferConfig, read_infer_config
from simdr_lib.deploy.predictor import (
    Predictor,
    evaluate_exported,
    load_predictor,
    predictor_from_config,
)
from simdr_lib.deploy.runners import Runner

__all__ = [
    "InferConfig",
    "Predictor",
    "Runner",
    "evaluate_exported",
    "export_model",
    "load_predictor",
    "predictor_from_config",
    "read_infer_config",
]
