"""Atomic file writes: a unique temporary file in the target folder, fsync, ``os.replace``.

Readers never see a half-written file, an interrupted write leaves the old file (or none),
and the temporary file is removed on any error. Every text/JSON/image file the project writes
goes through here (Paddle's own ``paddle.save`` files through ``checkpoint.atomic_paddle_save``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """``obj`` as JSON to ``path`` atomically (``indent=None`` for large, compact files)."""
    text = json.dumps(obj, indent=indent)
    return write_text_atomic(path, text + "\n" if indent is not None else text)
