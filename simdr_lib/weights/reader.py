"""The one reader for every weights file: Paddle pickles and PyTorch ``.pth``, no code runs.

:func:`read_weights` recognizes the container by its first bytes, reads it through
:mod:`simdr_lib.weights.unpickle` and returns plain Python containers of numpy arrays. Any
problem is one :class:`~simdr_lib.errors.CheckpointError` line naming the file:
missing, empty, truncated, a global outside the allow-list (with its name), or a format this
reader does not know. No file ever reaches ``pickle.load``, ``paddle.load`` or ``torch.load``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simdr_lib.errors import CheckpointError
from simdr_lib.weights.torch_files import (
    LEGACY_PROTOCOL,
    is_torch_legacy_magic,
    read_torch_legacy,
    read_torch_zip,
)
from simdr_lib.weights.unpickle import RefusedGlobal, UnpickleError, resolve, restricted_load

__all__ = ["CONTAINERS", "WeightsFile", "read_weights", "sniff_container"]

#: container -> what it is, for messages
CONTAINERS = {
    "paddle": "Paddle pickle (paddle.save: .pdparams / .pdckpt / .pdopt)",
    "pytorch-zip": "PyTorch zip (torch.save)",
    "pytorch-legacy": "PyTorch legacy (torch.save, _use_new_zipfile_serialization=False)",
}


@dataclass(frozen=True)
class WeightsFile:
    """A weights file's contents: ``obj`` holds dicts / lists / numbers and numpy arrays."""

    path: Path
    container: str  # a key of CONTAINERS
    obj: Any


def sniff_container(head: bytes) -> str:
    """``"pytorch-zip"``, ``"pickle"`` (Paddle or legacy PyTorch), or a reason it is neither."""
    if head.startswith(b"PK\x03\x04"):
        return "pytorch-zip"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive (PyTorch < 0.4 checkpoints are not supported; re-save it with torch)"
    if head[:1] == b"{" or head[:3] == b"\xef\xbb\xbf":
        return "a text file, not a weights file"
    return "not a Paddle (.pdparams / .pdckpt) or PyTorch (.pth) weights file"


def read_weights(path: str | os.PathLike, what: str = "weights file") -> WeightsFile:
    """Read ``path`` safely; see the module docstring. ``what`` names the file in messages."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: {what} not found")
    try:
        with open(p, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise CheckpointError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None
    if not head:
        raise CheckpointError(f"{p}: {what} is empty")
    kind = sniff_container(head)
    try:
        if kind == "pytorch-zip":
            return WeightsFile(p, kind, read_torch_zip(p))
        if kind != "pickle":
            raise CheckpointError(f"{p}: {kind}")
        with open(p, "rb") as fh:
            first = restricted_load(fh)
            if is_torch_legacy_magic(first) and restricted_load(fh) == LEGACY_PROTOCOL:
                return WeightsFile(p, "pytorch-legacy", read_torch_legacy(p))
            if fh.read(1):
                raise UnpickleError("extra data after the pickle (not a Paddle file)")
        return WeightsFile(p, "paddle", resolve(first, paddle_tensors=True))
    except RefusedGlobal as exc:
        raise CheckpointError(
            f"{p}: refused to load: the file asks to call {exc.name}, which is not a tensor, "
            "number or container; nothing from the file was run"
        ) from None
    except UnpickleError as exc:
        raise CheckpointError(f"{p}: cannot read {what}: {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None
