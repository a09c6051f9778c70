"""Atomic file writes: a unique temporary file in the target folder, fsync, ``os.replace``.

Readers never see a half-written file, an interrupted write leaves the old file (or none),
and the temporary file is removed on any error, Ctrl-C included. Files get the mode any
other tool would give them (``0o666`` minus the umask), not ``mkstemp``'s private 0600. A
failing write (disk full, file-size limit, read-only or missing permission) raises one
:class:`~simdr_lib.errors.OutputError` line naming the file. Every file the project writes
goes through here, Paddle's ``paddle.save`` files included (:func:`write_file_atomic`).

Temporary files are named ``.<name>.<random>.tmp``; :func:`remove_stale_temporaries` clears
the ones a killed process left (call it while holding the folder's run lock).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simdr_lib.errors import OutputError

__all__ = [
    "describe_os_error",
    "file_mode",
    "remove_stale_temporaries",
    "write_bytes_atomic",
    "write_file_atomic",
    "write_json_atomic",
    "write_text_atomic",
    "write_texts_atomic",
]


def file_mode() -> int:
    """``0o666`` minus this process's umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-and-restore
    os.umask(mask)
    return 0o666 & ~mask


def describe_os_error(exc: OSError) -> str:
    """``No space left on device`` / ``file too large`` / ``read-only file system`` ..."""
    names = {
        errno.ENOSPC: "disk full (no space left on device)",
        errno.EFBIG: "file too large (file-size limit)",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EDQUOT: "disk quota exceeded",
    }
    return names.get(exc.errno or 0, exc.strerror or str(exc))


def write_file_atomic(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Have ``write(tmp_path)`` write the file, then move it to ``path`` atomically.

    Raises:
        OutputError: the folder cannot be made or the file cannot be written; the previous
            file at ``path`` (if any) is untouched and the temporary file is gone.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({describe_os_error(exc)})") from None
    try:
        os.close(fd)
        write(tmp)
        with open(tmp, "rb+") as fh:  # the bytes are on disk before the rename
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write ({describe_os_error(exc)})") from None
        raise
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return write_file_atomic(path, write)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_texts_atomic(files: list[tuple[str | os.PathLike, str]]) -> list[Path]:
    """Write several UTF-8 files all or none: every one is staged (written, fsynced) before
    the first is renamed into place, in the order given (so put the one readers open first
    last). A failure while staging leaves every old file untouched and no temporary behind.

    Raises:
        OutputError: a file cannot be written (names it).
    """
    staged: list[tuple[str, Path]] = []
    try:
        for target, text in files:
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                staged.append((tmp, path))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(text.encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, file_mode())
            except OSError as exc:
                raise OutputError(f"{path}: cannot write ({describe_os_error(exc)})") from None
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return [path for _, path in staged]


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """``obj`` as JSON to ``path`` atomically (``indent=None`` for large, compact files)."""
    text = json.dumps(obj, indent=indent)
    return write_text_atomic(path, text + "\n" if indent is not None else text)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[tuple[str, int]]:
    """Delete the temporary files interrupted writes left in ``folder``: ``[(name, bytes)]``.

    Matches this module's ``.<name>.<random>.tmp`` and the ``<name>.tmp`` of older versions.
    """
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for item in root.iterdir():
        if item.is_file() and item.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                size = item.stat().st_size
                item.unlink()
                removed.append((item.name, size))
    return removed
