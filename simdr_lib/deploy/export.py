"""``export_model``: a trained model and its weights -> a self-contained deployment folder.

The exported graph is :func:`~simdr_lib.engine.predict.probability_model` of the trained model,
so it outputs distributions (softmax over bins for SimDR / SA-SimDR, heatmaps for the heatmap
baseline) for a float32 batch ``image (N, 3, H, W)`` with a dynamic batch axis N. The folder's
files are listed in :mod:`simdr_lib.deploy.layout`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from simdr_lib.deploy.infer_config import infer_config_from_cfg, infer_config_yaml
from simdr_lib.deploy.layout import (
    EXPORT_FILES,
    INFER_CFG,
    INPUT_NAME,
    LEGACY_MODEL,
    MODEL_PREFIX,
    ONNX_MODEL,
    PARAMS,
    PIR_MODEL,
    paddle_major,
)
from simdr_lib.deploy.onnx import export_onnx, import_paddle2onnx
from simdr_lib.errors import ExportError

PROGRAM_FORMATS = ("auto", "json", "pdmodel")


def export_model(
    cfg: Any,
    weights: str | os.PathLike | None = None,
    output_dir: str | os.PathLike = "output_inference",
    onnx: bool = False,
    opset_version: int = 11,
    program_format: str = "auto",
) -> Path:
    """Export ``cfg``'s model with ``weights`` to ``output_dir``; returns the folder.

    Needs only the config and the weights (never the dataset). The graph is the probability
    model (softmax included) with input ``image`` ``[None, 3, H, W]`` float32 (dynamic batch).
    Files of an earlier export in ``output_dir`` are replaced together (the new files are
    written to a temporary sibling first), so the folder never mixes two exports.

    Args:
        program_format: ``auto`` (what this Paddle writes: PIR ``model.json`` on 3.x,
            ``model.pdmodel`` on 2.x), ``json`` (PIR; PaddlePaddle 3.x only) or ``pdmodel``
            (ProgramDesc; on 3.x written under ``paddle.pir_utils.OldIrGuard``), the format
            a PaddlePaddle 2.6 Inference runtime (e.g. the 2.6 GPU wheel) can read.
        onnx: also write ``model.onnx`` with paddle2onnx, checked against the Paddle model.

    Raises:
        ExportError: no weights given, unknown / unsupported format, ONNX requested but
            unavailable or failing; CheckpointError for weights that do not fit the model.
    """
    import paddle

    weights = str(weights or cfg.weights or "")
    if not weights:
        raise ExportError(f"{cfg.source}: no weights given; pass -o weights=PATH.pdparams")
    legacy = _wants_legacy_program(program_format)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: output path exists and is not a directory")
    if onnx:
        import_paddle2onnx()  # fail before the (slow) export when it cannot work

    previous = paddle.get_device()
    paddle.set_device("cpu")
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        _export_to(tmp, cfg, weights, legacy, opset_version if onnx else None)
        _move_export(tmp, out)
    except ExportError as exc:  # name the user's folder, not the temporary one
        raise ExportError(str(exc).replace(str(tmp), str(out))) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        paddle.set_device(previous)
    return out


def _wants_legacy_program(program_format: str) -> bool:
    """Whether ``program_format`` asks PaddlePaddle 3.x for a ProgramDesc ``.pdmodel``."""
    import paddle

    if program_format not in PROGRAM_FORMATS:
        raise ExportError(f"export format must be one of {'|'.join(PROGRAM_FORMATS)}")
    major = paddle_major()
    if program_format == "json" and major < 3:
        raise ExportError(
            f"PaddlePaddle {paddle.__version__} cannot write the PIR model.json "
            "(PaddlePaddle >= 3.0 does); use --format pdmodel"
        )
    return program_format == "pdmodel" and major >= 3


def _export_to(
    folder: Path, cfg: Any, weights: str, legacy: bool, opset_version: int | None
) -> None:
    """Write every export file to the new ``folder`` (ONNX too unless ``opset_version`` None)."""
    import paddle

    from simdr_lib.atomic_io import write_text_atomic
    from simdr_lib.engine.predict import probability_model
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    model = model_from_config(cfg)
    loaded = load_model_weights(model, weights, cfg=cfg)
    prob_model = probability_model(model, cfg.model.head)
    prob_model.eval()
    w, h = (int(v) for v in cfg.codec.input_size)
    spec = [paddle.static.InputSpec([None, 3, h, w], "float32", INPUT_NAME)]
    folder.mkdir(parents=True)
    model_file = _save_program(prob_model, folder, spec, legacy)
    extra = _weights_source(weights, loaded)
    onnx_file = ""
    if opset_version is not None:
        diff = _save_onnx(prob_model, folder / model_file, spec, legacy, opset_version)
        onnx_file = ONNX_MODEL
        extra["onnx_max_abs_diff"] = None if diff is None else float(f"{diff:.3g}")
    info = infer_config_from_cfg(cfg, model_file, onnx_file)
    info = replace(info, extra={**info.extra, **extra})
    write_text_atomic(folder / INFER_CFG, infer_config_yaml(info))


def _jit_save(prob_model: Any, prefix: Path, spec: list, legacy: bool) -> None:
    """``paddle.jit.save``; ``legacy`` writes a ProgramDesc ``.pdmodel`` on PaddlePaddle 3.x."""
    import paddle

    guard = paddle.pir_utils.OldIrGuard() if legacy else contextlib.nullcontext()
    with guard:
        paddle.jit.save(prob_model, str(prefix), input_spec=spec)


def _save_program(prob_model: Any, folder: Path, spec: list, legacy: bool) -> str:
    """The static program and its weights in ``folder``; returns the program's file name."""
    _jit_save(prob_model, folder / MODEL_PREFIX, spec, legacy)
    model_file = PIR_MODEL if (folder / PIR_MODEL).is_file() else LEGACY_MODEL
    if not (folder / model_file).is_file() or not (folder / PARAMS).is_file():
        found = sorted(p.name for p in folder.iterdir())
        raise ExportError(f"{folder}: paddle.jit.save wrote no model file (found {found})")
    return model_file


def _save_onnx(
    prob_model: Any, program: Path, spec: list, legacy: bool, opset_version: int
) -> float | None:
    """``model.onnx`` next to ``program``, checked against the dygraph model (max abs diff)."""
    import tempfile

    from simdr_lib.engine.predict import dynamic_prob_fn

    reference = dynamic_prob_fn(prob_model)
    with tempfile.TemporaryDirectory(prefix="simdr_pir_") as pir_dir:
        source = program
        if legacy:  # paddle2onnx 2.x converts from PIR: give it the PIR program
            _jit_save(prob_model, Path(pir_dir) / MODEL_PREFIX, spec, False)
            source = Path(pir_dir) / PIR_MODEL
        target = program.with_name(ONNX_MODEL)
        return export_onnx(source, source.with_name(PARAMS), target, opset_version, reference)


def _weights_source(weights: str, loaded: Any) -> dict[str, Any]:
    """Where the weights came from (``infer_cfg.yml``'s ``source``)."""
    extra: dict[str, Any] = {"weights": weights, "weights_layout": loaded.layout}
    if loaded.meta.get("source_file"):  # a `simdr convert` file: where it came from
        extra["converted_from"] = str(loaded.meta["source_file"])
    extra["weights_conventions"] = loaded.conventions
    return extra


def _move_export(tmp: Path, out: Path) -> None:
    """Replace the previous export's files in ``out`` by the new ones of ``tmp``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in EXPORT_FILES:  # drop the previous export's files, then move ours in
        if (out / name).exists():
            (out / name).unlink()
    for item in tmp.iterdir():
        os.replace(item, out / item.name)
