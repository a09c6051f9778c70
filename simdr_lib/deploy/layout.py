"""The files of an export folder, which program format this Paddle writes, file errors.

An export folder (written by :func:`simdr_lib.deploy.export.export_model`)::

    model.json | model.pdmodel   static graph (PaddlePaddle 3.x writes PIR json, 2.6 writes a
                                 ProgramDesc .pdmodel; the predictor detects which exists)
    model.pdiparams              weights
    model.onnx                   with onnx=True (paddle2onnx)
    infer_cfg.yml                everything deployment needs (no training config, no dataset)
"""

from __future__ import annotations

from pathlib import Path

from simdr_lib.errors import ExportError

INFER_CFG = "infer_cfg.yml"
MODEL_PREFIX = "model"
PIR_MODEL = "model.json"  # PaddlePaddle >= 3.0 (PIR)
LEGACY_MODEL = "model.pdmodel"  # PaddlePaddle 2.x (ProgramDesc)
PARAMS = "model.pdiparams"
ONNX_MODEL = "model.onnx"
INPUT_NAME = "image"
#: every file an export writes; a new export replaces all of them together
EXPORT_FILES = (PIR_MODEL, LEGACY_MODEL, PARAMS, "model.pdiparams.info", ONNX_MODEL, INFER_CFG)


def paddle_major() -> int:
    """The installed PaddlePaddle's major version (3 for develop builds, which say 0.0.0)."""
    import paddle

    try:
        return int(str(paddle.__version__).split(".")[0])
    except ValueError:  # develop builds report "0.0.0"
        return 3


def file_error(path: Path, msg: str) -> ExportError:
    """``ExportError("<path>: <msg>")``: every deployment error names the file at fault."""
    return ExportError(f"{path}: {msg}")


def first_line(exc: BaseException) -> str:
    """The most telling line of an exception message, whitespace-collapsed (one line)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = next((ln for ln in lines if "Error" in ln or "error" in ln), lines[0] if lines else "")
    return " ".join(text.split())[:200]
