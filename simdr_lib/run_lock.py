"""One process per run folder: a kernel lock (``flock``) on a small file beside the folder.

``with RunLock(folder, "simdr train"):`` holds ``<parent>/.<folder name>.lock`` exclusively
for the block. The file sits beside the folder, not in it, so the folder itself can be
deleted and made again under the lock, and no lock file is left in a folder that turns out
not to be a run. A second process asking for the same folder gets :class:`RunLockError` at
once, naming the holder's pid and command. The lock is the kernel's, not the file's
existence: it is released when the holder exits, however it exits (kill -9 included), so
there is no stale lock to take over and no window in which two processes both believe they
hold it (a pid file written after ``O_EXCL`` creation has one: another process can read it
empty). A holder unlinks the file before it lets go, and a taker checks that the file it
locked is still the one at the path, so nothing is left behind after a clean exit (a killed
holder leaves the empty file, which the next taker reuses). The pid in the file is only
information for the message. Linux and macOS (``fcntl``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Any

from simdr_lib.errors import SimdrError

__all__ = ["RunLock", "RunLockError", "is_locked", "lock_path"]


class RunLockError(SimdrError):
    """Another process holds the run folder."""


def lock_path(folder: str | os.PathLike) -> Path:
    """``<parent>/.<name>.lock``, the lock file of run folder ``folder``."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return "another process"
    return text or "another process"


class RunLock:
    """Exclusive lock of run folder ``folder`` for one ``command`` (named in messages).

    The folder's parent is created if missing; the folder itself is not.
    """

    def __init__(self, folder: str | os.PathLike, command: str) -> None:
        self.folder = Path(folder)
        self.path = lock_path(self.folder)
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunLockError(
                        f"{self.folder}: in use by {_holder(self.path)}; wait for it to finish "
                        "or choose another run name"
                    ) from None
                raise
            if _same_file(fd, self.path):  # not a file its holder unlinked meanwhile
                os.ftruncate(fd, 0)
                os.write(fd, f"`{self.command}` (pid {os.getpid()})".encode())
                self._fd = fd
                return self
            os.close(fd)
        raise RunLockError(f"{self.path}: cannot take the run lock")

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # while still held: see _same_file
            os.close(self._fd)  # releases the flock
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (a released lock is unlinked)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def is_locked(folder: str | os.PathLike) -> bool:
    """Whether some process holds ``folder``'s lock now (used before deleting a folder)."""
    path = lock_path(folder)
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
