"""Crafted weights files whose pickle runs a command (it creates a marker file) when unpickled.

The payload sits where the old loaders never looked: inside the name table that
``paddle.load`` drops (``StructuredToParameterName@@``), so ``paddle.load`` ran the command
*and* returned a real state dict; inside a training checkpoint's extra key; inside a
``.pth`` state dict. :func:`payload_is_live` shows that an unrestricted unpickle really runs it.
"""

from __future__ import annotations

import io
import operator
import os
import pickle
import shlex
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

PEERS = Path(__file__).parent / "fixtures" / "peer_weights"


class Payload:
    """Unpickles as ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.command = f"touch {shlex.quote(str(marker))}"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


class Then:
    """Unpickles as ``value`` after running ``first``: ``itemgetter(1)((first, value))``."""

    def __init__(self, first: Any, value: Any) -> None:
        self.first, self.value = first, value

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return (operator.itemgetter(1), ((self.first, self.value),))


def numpy_state(model: Any) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model.state_dict().items()}


def evil_paddle_weights(path: Path, marker: Path, state: dict[str, np.ndarray]) -> Path:
    """A ``.pdparams`` that ``paddle.load`` reads as ``state`` after running the payload."""
    table = Then(Payload(marker), {k: k for k in state})  # the name table paddle.load drops
    obj = {**state, "StructuredToParameterName@@": table}
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def evil_checkpoint(path: Path, marker: Path, checkpoint: dict[str, Any]) -> Path:
    """A resumable ``last.pdckpt`` (``checkpoint`` as read back) with one key carrying a payload."""
    notes = Then(Payload(marker), "resumable")
    path.write_bytes(pickle.dumps({**checkpoint, "notes": notes}, protocol=4))
    return path


def _torch_pickle(marker: Path) -> bytes:
    return pickle.dumps({"conv1.weight": Payload(marker)}, protocol=2)


def evil_pth_zip(path: Path, marker: Path) -> Path:
    """A zip-format ``.pth`` whose ``data.pkl`` runs the payload."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", _torch_pickle(marker))
        z.writestr("archive/version", "3\n")
    return path


def evil_pth_legacy(path: Path, marker: Path) -> Path:
    """A legacy ``.pth``: magic, protocol, sys info, then a state dict that runs the payload."""
    buf = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(obj, buf, protocol=2)
    buf.write(_torch_pickle(marker))
    pickle.dump([], buf, protocol=2)
    path.write_bytes(buf.getvalue())
    return path


def payload_is_live(path: Path, marker: Path) -> bool:
    """Unpickle ``path``'s payload with plain :mod:`pickle` (our own file): is the marker made?"""
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(path) as z:
            data = z.read("archive/data.pkl")
    stream = io.BytesIO(data)
    try:
        while True:
            pickle.load(stream)  # noqa: S301 - deliberately unsafe, on the test's own file
    except EOFError:
        pass
    live = marker.exists()
    if live:
        marker.unlink()
    return live


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to show that nothing was written)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
