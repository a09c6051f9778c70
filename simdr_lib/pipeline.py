"""The notebook pipeline: ``simdr pipeline`` runs ``notebooks/NN_*.ipynb`` in order with papermill.

:func:`run_pipeline` executes the notebooks headlessly on the current Python interpreter's
kernel, saves each executed notebook as ``reports/<run>/NN_name.ipynb``, records progress in
``reports/<run>/pipeline_state.json`` (written atomically after every notebook), resumes from
the first notebook that has not completed when started again with the same run name and
parameters, stops at the first failure with a one-line ``notebook X failed in cell N (...):
Type: message`` error, and writes ``report.{html,md,json}`` only after every notebook
succeeded (a stale report is removed before anything reruns).

The notebook side lives in :mod:`simdr_lib.notebook_run` (run context),
:mod:`simdr_lib.engine.protocols`, :mod:`simdr_lib.deploy.compare` and
:mod:`simdr_lib.viz_examples`; their names are re-exported here (compatibility re-exports;
removed once callers move).
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from simdr_lib import report as rpt
from simdr_lib.cli_args import add_opt_arg
from simdr_lib.config import load_config, parse_overrides

# The notebook-side helpers moved to their own modules; re-exported here because the
# notebooks, widgets and tests import them from simdr_lib.pipeline.
from simdr_lib.deploy.compare import export_and_compare, export_available
from simdr_lib.engine.protocols import (
    PROTOCOLS,
    ProtocolResults,
    crop_items,
    evaluate_protocols,
    gt_box_result,
    gt_eval_records,
    protocol_name,
    save_metrics,
)
from simdr_lib.errors import ConfigError, SimdrError
from simdr_lib.notebook_run import (
    DEFAULT_CONFIG,
    DEFAULT_RUN,
    NotebookRun,
    _rel,
    is_generated_dataset,
    notebook_config,
    save_dataset_stats,
    save_training,
    start_notebook,
)
from simdr_lib.paths import project_root, resolve
from simdr_lib.run_lock import RunLock
from simdr_lib.viz_examples import (
    distribution_example,
    prediction_examples,
    save_visualization,
    worst_case_examples,
)

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_RUN",
    "KERNEL_LOG",
    "KERNEL_NAME",
    "NotebookRun",
    "ON_REQUEST_NOTEBOOKS",
    "PROTOCOLS",
    "PipelineError",
    "PipelineResult",
    "ProtocolResults",
    "STATE_VERSION",
    "TRAINING_NOTEBOOK",
    "add_cli",
    "cmd_pipeline",
    "coerce_parameter",
    "crop_items",
    "describe_failure",
    "distribution_example",
    "evaluate_protocols",
    "export_and_compare",
    "export_available",
    "gt_box_result",
    "gt_eval_records",
    "is_generated_dataset",
    "list_notebooks",
    "notebook_config",
    "notebook_parameters",
    "parse_overrides",
    "prediction_examples",
    "protocol_name",
    "resolve_parameters",
    "run_pipeline",
    "save_dataset_stats",
    "save_metrics",
    "save_training",
    "save_visualization",
    "start_notebook",
    "worst_case_examples",
]

KERNEL_NAME = "python3"
STATE_VERSION = 1
KERNEL_LOG = "kernel.log"
#: notebooks the pipeline runs only when named (``--notebooks``): long studies
ON_REQUEST_NOTEBOOKS = ("08_lowres_study",)
TRAINING_NOTEBOOK = "03_training"  # resumes from <save_dir>/<run>/last.pdckpt (parameter resume)
# Tags that name no step (papermill's own and the parameters cells).
_PAPERMILL_TAGS = {"parameters", "injected-parameters", "papermill-error-cell-tag"}


class PipelineError(SimdrError):
    """A notebook failed, or the run folder does not fit the request (one line)."""


# ============================================================================ driver side
def list_notebooks(root: Path | None = None, names: Sequence[str] | None = None) -> list[Path]:
    """``notebooks/NN_*.ipynb`` in order: ``names`` (stems) if given, else the default set.

    The default set leaves out :data:`ON_REQUEST_NOTEBOOKS` (long studies).
    """
    folder = (root or project_root()) / "notebooks"
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())
    if not books:
        raise PipelineError(f"{folder}: no numbered notebooks (NN_name.ipynb)")
    if not names:
        return [p for p in books if p.stem not in ON_REQUEST_NOTEBOOKS]
    by_stem = {p.stem: p for p in books}
    unknown = [n for n in names if n not in by_stem]
    if unknown:
        raise ConfigError(
            f"unknown notebook {unknown[0]!r}; the notebooks are {', '.join(by_stem)}"
        )
    return [by_stem[n] for n in sorted(dict.fromkeys(names))]


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Declared parameters of a notebook (name -> default value) from its ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise PipelineError(f"{path}: no cell tagged 'parameters'")
    out: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                out[target.id] = ast.literal_eval(node.value)
    return out


def coerce_parameter(name: str, value: Any, default: Any) -> Any:
    """``value`` (often a CLI string) converted to the type of the notebook's default."""
    if isinstance(value, str) and not isinstance(default, str):
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        value = parsed
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        value = str(value) if ok else value
    elif isinstance(default, (dict, list)):
        ok = isinstance(value, (dict, list))
    else:
        ok = True
    if not ok:
        want = type(default).__name__
        raise ConfigError(f"parameter {name}: expected {want}, got {value!r}")
    return value


def _atomic_json(path: Path, obj: Any) -> None:
    rpt.write_json_atomic(path, obj)


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else ""


@dataclass
class PipelineResult:
    run_dir: Path
    executed: list[str]
    skipped: list[str]
    report: rpt.ReportFiles | None
    wall_time_s: float


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
    ``stderr`` (the run's ``kernel.log``) instead of the terminal.
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

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if stderr is not None:
                kw.setdefault("stderr", stderr)
            await super()._async_launch_kernel(kernel_cmd, **kw)

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


def _param_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(diffs)


def resolve_parameters(
    parameters: dict[str, Any] | None, books: Sequence[Path]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Merged parameters (notebook defaults + given) and each notebook's declared ones."""
    declared = {p.stem: notebook_parameters(p) for p in books}
    defaults: dict[str, Any] = {}
    for params in declared.values():
        for k, v in params.items():
            defaults.setdefault(k, v)
    merged = dict(defaults)
    for name, value in (parameters or {}).items():
        if name not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"unknown notebook parameter '{name}' (known: {known})")
        merged[name] = coerce_parameter(name, value, defaults[name])
    run = str(merged.get("run_name", DEFAULT_RUN))
    if not run or any(c in run for c in "/\\") or run in (".", ".."):
        raise ConfigError(f"run name must be a plain folder name, got {run!r}")
    return merged, declared


def run_pipeline(
    parameters: dict[str, Any] | None = None,
    *,
    notebooks: Sequence[str] | None = None,
    force: bool = False,
    root: str | os.PathLike | None = None,
    stream: IO[str] | None | Any = "stdout",
    show_output: bool = True,
    kernel_name: str = KERNEL_NAME,
    start_timeout: float = 180.0,
) -> PipelineResult:
    """Execute the numbered notebooks for one run; see the module docstring.

    Args:
        parameters: notebook parameters (``config``, ``run_name``, ``data_root``, ``epochs``,
            ``device``, ``overrides``, ``reports_dir``, ...); unknown names are refused.
        notebooks: the notebook stems to run (default: 01..07, not the on-request studies).
        force: delete the run's report folder and its checkpoints and run every notebook.
        root: project root (default: found from the cwd).
        stream: where progress lines go (default ``sys.stdout`` at call time; None: silent);
            ``show_output`` also copies the notebooks' printed output there, indented.

    Raises:
        PipelineError: a notebook failed (one line: notebook, cell, exception), the run was
            started with other parameters, or another pipeline holds the run.
        ConfigError: unknown parameter or a bad config.
    """
    import papermill as pm

    if isinstance(stream, str) and stream == "stdout":
        stream = sys.stdout
    say = (lambda msg: print(msg, file=stream, flush=True)) if stream else (lambda msg: None)
    root = Path(root).resolve() if root is not None else project_root()
    books = list_notebooks(root, notebooks)
    params, declared = resolve_parameters(parameters, books)
    run = params["run_name"]
    run_dir = resolve(params.get("reports_dir", "reports"), root) / run
    ckpt_dir = _checkpoint_dir(params, root)
    config_hash = _sha256(resolve(params.get("config", DEFAULT_CONFIG), root))

    _check_weights_files(params, root)  # before --force deletes anything
    with RunLock(run_dir, "simdr pipeline"):
        state_path = run_dir / rpt.STATE_FILE
        state = rpt.read_json(state_path) if state_path.is_file() else None
        if force:
            _clear_run(run_dir, ckpt_dir, state, say, root)
            state = None
        elif state is not None:
            old = state.get("parameters", {})
            if old != rpt.to_jsonable(params) or state.get("config_sha256") != config_hash:
                diff = _param_diff(old, rpt.to_jsonable(params)) or "config file changed"
                completed = [
                    n
                    for n, e in state.get("notebooks", {}).items()
                    if e.get("status") == "completed"
                ]
                if completed or ckpt_dir.exists():
                    raise PipelineError(
                        f"{_rel(run_dir, root)} was run with other parameters ({diff}); add "
                        "--force to start it over (deletes its reports and checkpoints), or "
                        "choose another --run name"
                    )
                say(f"parameters changed ({diff}); nothing had completed: starting over")
                state = None
        names = [p.stem for p in books]
        if state is None or [*state.get("notebooks", {})] != names:
            state = {
                "version": STATE_VERSION,
                "run": run,
                "parameters": rpt.to_jsonable(params),
                "config_sha256": config_hash,
                "checkpoint_dir": str(ckpt_dir),
                "status": "new",
                "notebooks": {n: {"status": "pending"} for n in names},
                "wall_time_s": 0.0,
                "created": _now(),
            }
        status = [state["notebooks"][n].get("status") for n in names]
        first = next((i for i, s in enumerate(status) if s != "completed"), len(names))
        todo = names[first:]
        skipped = names[:first]
        last = ckpt_dir / "last.pdckpt"
        if TRAINING_NOTEBOOK in todo and params.get("resume", True) and last.is_file():
            from simdr_lib.weights import read_checkpoint

            read_checkpoint(last)  # a refused checkpoint stops the run before any notebook

        t_start = time.perf_counter()
        executed: list[str] = []
        if not todo:
            report_path = run_dir / rpt.REPORT_FILES[0]
            if state.get("status") == "completed" and report_path.is_file():
                say(
                    f"run '{run}': all {len(names)} notebooks completed; report "
                    f"{_rel(report_path, root)} (use --force to rerun)"
                )
                summary = (rpt.read_json(run_dir / rpt.REPORT_FILES[2]) or {}).get("summary")
                if summary:
                    say(summary)
                return PipelineResult(run_dir, [], skipped, None, 0.0)
        rpt.remove_report(run_dir)
        rpt.remove_stale_outputs(run_dir, todo, names)  # nothing of an earlier run survives
        for n in todo:
            state["notebooks"][n] = {"status": "pending"}
        state["status"] = "running"
        state["started"] = _now()
        _atomic_json(state_path, state)
        say(
            f"simdr pipeline: run '{run}' -> {_rel(run_dir, root)}/ "
            f"(config {params.get('config')}, kernel {Path(sys.executable)})"
        )
        if skipped:
            say(f"resuming: {len(skipped)} notebook(s) already completed ({', '.join(skipped)})")
        env_backup = {k: os.environ.get(k) for k in ("SIMDR_HEADLESS", "GLOG_minloglevel")}
        os.environ["SIMDR_HEADLESS"] = "1"
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            for i, name in enumerate(names):
                if name not in todo:
                    continue
                book = books[i]
                out_path = run_dir / book.name
                own = {k: v for k, v in params.items() if k in declared[name]}
                tag = f"[{i + 1}/{len(names)}] {name}"
                say(f"{tag} ...")
                entry = {"status": "running", "started": _now(), "output": book.name}
                state["notebooks"][name] = entry
                _atomic_json(state_path, state)
                out_stream = _Prefixed(stream) if (stream and show_output) else None
                kernel_log = open(run_dir / KERNEL_LOG, "a", encoding="utf-8")
                kernel_log.write(f"==== {name} {_now()}\n")
                kernel_log.flush()
                t0 = time.perf_counter()
                try:
                    pm.execute_notebook(
                        str(book),
                        str(out_path),
                        parameters=own,
                        kernel_name=kernel_name,
                        cwd=str(root),
                        progress_bar=False,
                        log_output=False,
                        stdout_file=out_stream,
                        start_timeout=start_timeout,
                        kernel_manager_class=_kernel_manager_class(kernel_log),
                    )
                except KeyboardInterrupt:
                    entry.update(status="interrupted", seconds=time.perf_counter() - t0)
                    state["status"] = "interrupted"
                    _finish_state(state, state_path, t_start)
                    rpt.remove_report(run_dir)
                    raise
                except Exception as exc:
                    message = describe_failure(name, exc, out_path)
                    if not _is_cell_error(exc):
                        message += f" (kernel output: {_rel(run_dir / KERNEL_LOG, root)})"
                    entry.update(status="failed", seconds=time.perf_counter() - t0, error=message)
                    state["status"] = "failed"
                    state["error"] = message
                    _finish_state(state, state_path, t_start)
                    rpt.remove_report(run_dir)
                    say(
                        f"{tag} FAILED after {entry['seconds']:.1f}s; executed notebook with "
                        f"the error: {_rel(out_path, root)}"
                    )
                    raise PipelineError(message) from None
                finally:
                    if out_stream:
                        out_stream.close()
                    kernel_log.close()
                entry.update(status="completed", seconds=time.perf_counter() - t0, finished=_now())
                _atomic_json(state_path, state)
                executed.append(name)
                say(f"{tag} done in {entry['seconds']:.1f}s")
        finally:
            for k, v in env_backup.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        state["status"] = "completed"
        state["finished"] = _now()
        _finish_state(state, state_path, t_start)
        try:
            report = rpt.build_report(run_dir)
        except Exception as exc:
            rpt.remove_report(run_dir)
            message = f"building the report failed: {type(exc).__name__}: {_first_line(exc)}"
            state.update(status="failed", error=message)
            _atomic_json(state_path, state)
            raise PipelineError(message) from exc
    wall = time.perf_counter() - t_start
    say(f"report: {_rel(report.html, root)} (and report.md, report.json)")
    say(report.summary)
    return PipelineResult(run_dir, executed, skipped, report, wall)


def _check_weights_files(params: dict[str, Any], root: Path) -> None:
    """Read the config's ``weights`` / ``model.pretrained`` safely before any notebook runs.

    A refused or unreadable file is one :class:`CheckpointError` line and nothing is written;
    a bad config is left to the first notebook (which keeps the error in its output).
    """
    try:
        cfg = notebook_config(
            params.get("config", DEFAULT_CONFIG),
            params["run_name"],
            overrides=params.get("overrides"),
            root=root,
        )
    except SimdrError:
        return
    from simdr_lib.weights import read_weights

    for path, what in ((cfg.weights, "weights file"), (cfg.model.pretrained, "pretrained weights")):
        if path:
            read_weights(resolve(path, root), what)


def _checkpoint_dir(params: dict[str, Any], root: Path) -> Path:
    """``<train.save_dir>/<run>`` of the run's config; the default when the config is bad.

    A bad config or data path is not refused here: the first notebook fails on it and keeps
    the error in its executed copy, like any other notebook failure.
    """
    try:
        cfg = load_config(
            resolve(params.get("config", DEFAULT_CONFIG), root),
            parse_overrides(params.get("overrides")),
        )
        save_dir = cfg.train.save_dir
    except SimdrError:
        save_dir = "checkpoints"
    return resolve(save_dir, root) / str(params["run_name"])


def _finish_state(state: dict[str, Any], path: Path, t_start: float) -> None:
    state["wall_time_s"] = float(state.get("wall_time_s") or 0.0) + (time.perf_counter() - t_start)
    state["updated"] = _now()
    _atomic_json(path, state)


def _clear_run(
    run_dir: Path, ckpt_dir: Path, state: dict[str, Any] | None, say: Any, root: Path
) -> None:
    """``--force``: remove a pipeline run folder and the checkpoints it recorded.

    Only folders this project made are removed: the run folder must look like a pipeline run
    (a state file, executed notebooks or the config copy) and a checkpoint folder must hold
    nothing but what training writes (:data:`~simdr_lib.engine.checkpoint.RUN_ENTRIES`) and
    must not be in use by a ``simdr train``; anything else is refused before deleting.
    """
    from simdr_lib.engine.checkpoint import foreign_entries
    from simdr_lib.run_lock import is_locked

    if run_dir.exists() and state is None and any(run_dir.iterdir()):
        if (
            not any(run_dir.glob("[0-9][0-9]_*.ipynb"))
            and not (run_dir / rpt.CONFIG_FILE).is_file()
        ):
            raise PipelineError(
                f"{run_dir}: not a pipeline run folder; refusing to delete it with --force"
            )
    recorded = Path(state["checkpoint_dir"]) if state and state.get("checkpoint_dir") else None
    folders = [f for f in dict.fromkeys([ckpt_dir, recorded]) if f is not None and f.is_dir()]
    for folder in folders:
        foreign = foreign_entries(folder)
        if foreign:
            raise PipelineError(
                f"{folder}: holds files simdr did not write (first: {foreign[0]}); refusing to "
                "delete it with --force (is train.save_dir right?)"
            )
        if is_locked(folder):
            raise PipelineError(f"{folder}: in use by a running `simdr train`; not deleted")
    if run_dir.exists():
        shutil.rmtree(run_dir)
        say(f"--force: removed {_rel(run_dir, root)}/")
    for folder in folders:
        shutil.rmtree(folder)
        say(f"--force: removed {_rel(folder, root)}/")


# ============================================================================ CLI
def add_cli(sub: argparse._SubParsersAction) -> None:
    """``simdr pipeline``."""
    p = sub.add_parser(
        "pipeline",
        help="run notebooks 01..07 with papermill and write reports/<run>/report.html",
        description=(
            "Execute notebooks/NN_*.ipynb in order on this Python's kernel. Executed notebooks "
            "go to reports/<run>/, progress to reports/<run>/pipeline_state.json; running "
            "again with the same run name resumes at the first notebook not completed."
        ),
        epilog=(
            "parameters (-p NAME VALUE): config, data_root, run_name, epochs (0 = config), "
            "device (auto|cpu|gpu), overrides ('{train.batch_size: 16}'), reports_dir, and "
            "per-notebook ones (num_samples, resume, num_crops, worst_k); --list shows them. "
            "Example: simdr pipeline -p epochs 3 --run quick"
        ),
    )
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="notebook parameter (VALUE parsed as YAML for non-text parameters)",
    )
    add_opt_arg(p, "config override passed to every notebook, e.g. -o train.batch_size=16")
    p.add_argument("--run", default=None, help=f"run name (default {DEFAULT_RUN!r})")
    p.add_argument("--config", default=None, help=f"config file (default {DEFAULT_CONFIG})")
    p.add_argument("--reports-dir", default=None, help="parent of run folders (reports)")
    p.add_argument(
        "--force",
        action="store_true",
        help="delete reports/<run>/ and checkpoints/<run>/ first and run every notebook",
    )
    p.add_argument(
        "--notebooks",
        nargs="+",
        metavar="NAME",
        help="run these notebooks only (default: 01..07; the low-resolution study "
        "08_lowres_study runs only when named: --run lowres --notebooks 08_lowres_study)",
    )
    p.add_argument("--list", action="store_true", help="list notebooks and parameters, then exit")
    p.add_argument("--quiet", action="store_true", help="only progress lines, no notebook output")
    p.set_defaults(func=cmd_pipeline)


def cmd_pipeline(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    for name, value in args.parameter:
        params[name] = value
    for flag, name in ((args.run, "run_name"), (args.config, "config")):
        if flag is not None:
            if name in params and params[name] != flag:
                raise ConfigError(f"--{name.split('_')[0]} {flag!r} conflicts with -p {name}")
            params[name] = flag
    if args.reports_dir is not None:
        params["reports_dir"] = args.reports_dir
    if args.opt:
        extra = parse_overrides(params.get("overrides") or {})
        extra.update(parse_overrides(list(args.opt)))
        params["overrides"] = extra
    if args.list:
        root = project_root()
        books = list_notebooks(root, args.notebooks)
        merged, declared = resolve_parameters(params, books)
        for book in books:
            print(f"{book.stem}: {', '.join(declared[book.stem])}")
        print("values: " + json.dumps(merged))
        return 0
    try:
        run_pipeline(params, notebooks=args.notebooks, force=args.force, show_output=not args.quiet)
    except KeyboardInterrupt:
        print(
            "interrupted: completed notebooks are kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    return 0
