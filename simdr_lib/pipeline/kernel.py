"""The notebooks' kernel and what it prints: ipykernel on this interpreter, failures in one line.

:func:`_kernel_manager_class` makes papermill start the kernel with ``sys.executable`` and
send the kernel process's stderr to the run's ``kernel.log``; :class:`_Prefixed` indents the
notebooks' printed output; :func:`describe_failure` turns papermill's exception into the
one-line ``notebook X failed in cell N (label): Type: message``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

KERNEL_NAME = "python3"
KERNEL_LOG = "kernel.log"
# Tags that name no step (papermill's own and the parameters cells).
_PAPERMILL_TAGS = {"parameters", "injected-parameters", "papermill-error-cell-tag"}


class _Prefixed:
    """A text stream that indents every line written to ``stream`` (notebook stdout)."""

    def __init__(self, stream: IO[str], prefix: str = "    | ") -> None:
        self.stream = stream
        self.prefix = prefix
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text.replace("\r", "\n")
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if line.strip():
                self.stream.write(f"{self.prefix}{line}\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        if self.buffer.strip():
            self.stream.write(f"{self.prefix}{self.buffer}\n")
        self.buffer = ""
        self.stream.flush()


def _kernel_manager_class(stderr: IO[str] | None = None) -> type:
    """An AsyncKernelManager that always starts ipykernel on *this* interpreter.

    The ``python3`` kernelspec found first may belong to another Python (a user-level
    kernelspec); the pipeline must run the notebooks with the packages it runs with. The
    kernel process's own stderr (ipykernel's log lines, C++ warnings, crash messages) goes to
    ``stderr`` (the run's ``kernel.log``) instead of the terminal: ``start_kernel`` passes its
    keyword arguments on to ``subprocess.Popen`` (papermill gives it none of its own), and a
    restarted kernel is launched with the same ones.
    """
    from jupyter_client import AsyncKernelManager

    class CurrentPythonKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            if "-f" in cmd:
                tail = cmd[cmd.index("-f") :]
            else:  # pragma: no cover - every ipykernel spec passes -f {connection_file}
                tail = ["-f", self.connection_file]
            return [sys.executable, "-m", "ipykernel_launcher", *tail]

        async def start_kernel(self, **kw: Any) -> None:
            if stderr is not None:
                kw.setdefault("stderr", stderr)
            await super().start_kernel(**kw)

    return CurrentPythonKernelManager


def _first_line(text: Any, limit: int = 300) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _cell_label(output_path: Path, error: Any) -> str:
    """The failing cell's tag (if it has one) or its first non-empty source line."""
    try:
        import nbformat

        nb = nbformat.read(str(output_path), as_version=4)
        for cell in nb.cells:
            outs = cell.get("outputs", [])
            if cell.get("execution_count") == error.exec_count and any(
                o.get("output_type") == "error" for o in outs
            ):
                tags = [
                    t for t in cell.get("metadata", {}).get("tags", []) if t not in _PAPERMILL_TAGS
                ]
                if tags:
                    return tags[0]
                break
    except Exception:  # the label is a nicety; never hide the real error behind this
        pass
    line = _first_line(getattr(error, "source", ""), limit=60)
    return line or "?"


def _is_cell_error(exc: BaseException) -> bool:
    try:
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, PapermillExecutionError)


def describe_failure(notebook: str, exc: BaseException, output_path: Path) -> str:
    """``notebook X failed in cell N (label): Type: message`` (one line)."""
    try:
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover
        PapermillExecutionError = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, PapermillExecutionError):
        cell = exc.exec_count if exc.exec_count is not None else exc.cell_index
        label = _cell_label(output_path, exc)
        message = _first_line(exc.evalue) or "(no message)"
        return f"notebook {notebook} failed in cell {cell} ({label}): {exc.ename}: {message}"
    return f"notebook {notebook} failed: {type(exc).__name__}: {_first_line(exc) or '(no message)'}"
