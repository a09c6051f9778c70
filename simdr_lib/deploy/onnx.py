"""ONNX conversion of an exported static model with paddle2onnx, checked against Paddle.

paddle2onnx runs in a child process (:data:`_P2O_SCRIPT`): on graphs it cannot convert it
terminates its process instead of raising, which becomes one :class:`ExportError` line here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.deploy.layout import paddle_major
from simdr_lib.errors import ExportError

_P2O_SCRIPT = """
import sys
import paddle2onnx
model, params, save, opset = sys.argv[1:5]
paddle2onnx.export(model, params, save_file=save, opset_version=int(opset),
                   enable_onnx_checker=True)
"""


def import_paddle2onnx() -> Any:
    """``paddle2onnx`` or a one-line ExportError saying what to install for this Paddle."""
    import paddle

    major = paddle_major()
    want = "paddle2onnx>=2" if major >= 3 else "'paddle2onnx<2' (1.x)"
    try:
        import paddle2onnx
    except ImportError:
        raise ExportError(
            f"ONNX export needs paddle2onnx: pip install {want} onnxruntime "
            f"(or pip install -e '.[onnx]'); PaddlePaddle {paddle.__version__} is installed"
        ) from None
    except Exception as exc:  # paddle2onnx 2.x raises ValueError on PaddlePaddle 2.x
        raise ExportError(
            f"paddle2onnx cannot run with PaddlePaddle {paddle.__version__} "
            f"({str(exc).split('. ')[0][:120]}); install {want}"
        ) from None
    return paddle2onnx


def _pir_for_paddle2onnx(model_json: Path, folder: Path) -> Path:
    """Copy of a PIR ``model.json`` whose interpolate ``scale`` arrays hold float32 values.

    PaddlePaddle 3.x serializes the ``scale`` of ``nearest_interp`` / ``bilinear_interp`` (HRNet's
    ``Upsample(scale_factor=2)``) as float64 attributes, which its own op verifier requires,
    while paddle2onnx 2.1's PIR parser accepts only float32 there ("the 0th elementwise MUST
    be ir::FloatAttribute") and then terminates the process. The values (powers of two) are
    exact in both; only the copy given to paddle2onnx is changed.
    """
    import json

    program = json.loads(model_json.read_text(encoding="utf-8"))
    changed = 0

    def walk(node: Any) -> None:
        nonlocal changed
        if isinstance(node, dict):
            if str(node.get("#", "")).endswith("_interp") and isinstance(node.get("A"), list):
                for attr in node["A"]:
                    at = attr.get("AT") if isinstance(attr, dict) else None
                    if attr.get("N") == "scale" and isinstance(at, dict):
                        for item in at.get("D") or []:
                            if isinstance(item, dict) and item.get("#") == "0.a_f64":
                                item["#"] = "0.a_f32"
                                changed += 1
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(program)
    if not changed:
        return model_json
    patched = folder / model_json.name
    patched.write_text(json.dumps(program, separators=(",", ":")), encoding="utf-8")
    return patched


def _p2o_reason(text: str) -> str:
    """The error line of paddle2onnx's output (ANSI colours and whitespace removed)."""
    import re

    clean = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [ln.strip() for ln in clean.splitlines() if ln.strip()]
    picked = next((ln.split("[ERROR]", 1)[1] for ln in lines if "[ERROR]" in ln), "")
    if not picked:
        picked = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
    return " ".join(picked.split())[:220]


def export_onnx(
    model_path: Path, params_path: Path, target: Path, opset_version: int, reference: Any = None
) -> float | None:
    """paddle2onnx ``model_path`` -> ``target``; returns the max abs difference checked.

    With ``reference`` (``x -> tuple of arrays``, the dygraph probability model) and
    onnxruntime installed, the ONNX outputs are compared on a random batch and an ONNX file
    that differs by more than 1e-4 is rejected (None is returned when
    onnxruntime is missing).
    """
    p2o = import_paddle2onnx()
    version = getattr(p2o, "__version__", "?")
    _run_paddle2onnx(model_path, params_path, target, opset_version, version)
    if reference is None:
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    h, w = (int(v) for v in inp.shape[2:])
    x = np.random.default_rng(0).standard_normal((2, 3, h, w)).astype(np.float32)
    got = session.run(None, {inp.name: x})
    want = reference(x)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want))
    if len(got) != len(want) or not diff <= 1e-4:
        target.unlink(missing_ok=True)
        raise ExportError(
            f"{target}: paddle2onnx {version} produced an ONNX model whose outputs differ "
            f"from the Paddle model by {diff:.3g} (> 1e-4); not written"
        )
    return diff


def _run_paddle2onnx(
    model_path: Path, params_path: Path, target: Path, opset_version: int, version: str
) -> None:
    """paddle2onnx in a child process; its crash or missing output is one ExportError."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="simdr_p2o_") as work:
        source = model_path
        if model_path.suffix == ".json":
            source = _pir_for_paddle2onnx(model_path, Path(work))
        cmd = [sys.executable, "-c", _P2O_SCRIPT, str(source), str(params_path)]
        cmd += [str(target), str(opset_version)]
        env = {**os.environ, "GLOG_minloglevel": "2"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not target.is_file():
        target.unlink(missing_ok=True)
        reason = _p2o_reason(proc.stdout + "\n" + proc.stderr)
        raise ExportError(
            f"{target}: paddle2onnx {version} cannot convert this model "
            f"(exit {proc.returncode}: {reason})"
        )
