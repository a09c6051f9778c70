"""Compatibility re-exports; removed once callers move.

The code lives in :mod:`simdr_lib.deploy` (``infer_config``, ``export``, ``onnx``, ``runners``,
``predictor``); import from there.
"""

from __future__ import annotations

from simdr_lib.deploy.export import PROGRAM_FORMATS, _jit_save, export_model
from simdr_lib.deploy.infer_config import (
    SCHEMA_VERSION,
    InferConfig,
    codec_from_infer_config,
    expected_output_shapes,
    infer_config_from_cfg,
    read_infer_config,
)
from simdr_lib.deploy.layout import (
    INFER_CFG,
    INPUT_NAME,
    LEGACY_MODEL,
    MODEL_PREFIX,
    ONNX_MODEL,
    PARAMS,
    PIR_MODEL,
    paddle_major,
)
from simdr_lib.deploy.layout import first_line as _first_line
from simdr_lib.deploy.onnx import _P2O_SCRIPT, _pir_for_paddle2onnx
from simdr_lib.deploy.onnx import export_onnx as _export_onnx
from simdr_lib.deploy.onnx import import_paddle2onnx as _import_paddle2onnx
from simdr_lib.deploy.predictor import (
    Predictor,
    crop_people,
    evaluate_exported,
    load_predictor,
    predictor_from_config,
)
from simdr_lib.deploy.predictor import check_model_files as _check_model_files
from simdr_lib.deploy.runners import DynamicRunner as _DynamicRunner
from simdr_lib.deploy.runners import InputMismatch as _InputMismatch
from simdr_lib.deploy.runners import OnnxRunner as _OnnxRunner
from simdr_lib.deploy.runners import PaddleRunner as _PaddleRunner
from simdr_lib.deploy.runners import paddle_runner as _paddle_runner

__all__ = [
    "INFER_CFG",
    "INPUT_NAME",
    "LEGACY_MODEL",
    "MODEL_PREFIX",
    "ONNX_MODEL",
    "PARAMS",
    "PIR_MODEL",
    "PROGRAM_FORMATS",
    "SCHEMA_VERSION",
    "InferConfig",
    "Predictor",
    "_DynamicRunner",
    "_InputMismatch",
    "_OnnxRunner",
    "_P2O_SCRIPT",
    "_PaddleRunner",
    "_check_model_files",
    "_export_onnx",
    "_first_line",
    "_import_paddle2onnx",
    "_jit_save",
    "_paddle_runner",
    "_pir_for_paddle2onnx",
    "codec_from_infer_config",
    "crop_people",
    "evaluate_exported",
    "expected_output_shapes",
    "export_model",
    "infer_config_from_cfg",
    "load_predictor",
    "paddle_major",
    "predictor_from_config",
    "read_infer_config",
]
