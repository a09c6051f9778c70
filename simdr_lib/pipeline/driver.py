"""``run_pipeline``: execute one run's notebooks in order, resume, stop at the first failure.

Every step below is one function; :func:`run_pipeline` reads as the list of them. The state
file is written after every change (see :mod:`simdr_lib.pipeline.state`), so an interrupted
or failed run resumes at the first notebook that did not complete.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from simdr_lib import report as rpt
from simdr_lib.notebook_run import _rel
from simdr_lib.paths import project_root, resolve
from simdr_lib.pipeline.kernel import (
    KERNEL_LOG,
    KERNEL_NAME,
    _first_line,
    _is_cell_error,
    _kernel_manager_class,
    _Prefixed,
    describe_failure,
)
from simdr_lib.pipeline.params import PipelineError, list_notebooks, resolve_parameters
from simdr_lib.pipeline.run_folder import (
    check_weights_files,
    checkpoint_dir,
    clear_run,
    param_diff,
    run_config_file,
)
from simdr_lib.pipeline.state import RunState, now, sha256
from simdr_lib.report import run_files
from simdr_lib.run_lock import RunLock

# resumes from <save_dir>/<run>/last.pdckpt (parameter resume)
TRAINING_NOTEBOOK = run_files.TRAINING_NOTEBOOK


@dataclass
class PipelineResult:
    run_dir: Path
    executed: list[str]
    skipped: list[str]
    report: rpt.ReportFiles | None
    wall_time_s: float


@dataclass(frozen=True)
class _Job:
    """What one ``run_pipeline`` call runs, fixed before anything executes."""

    root: Path
    books: list[Path]
    params: dict[str, Any]
    declared: dict[str, dict[str, Any]]
    run_dir: Path
    ckpt_dir: Path
    config: Path
    config_hash: str
    say: Callable[[str], None]
    stream: IO[str] | None
    show_output: bool
    kernel_name: str
    start_timeout: float

    @property
    def names(self) -> list[str]:
        return [p.stem for p in self.books]

    @property
    def state_path(self) -> Path:
        return self.run_dir / rpt.STATE_FILE


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
    """Execute the numbered notebooks for one run; see :mod:`simdr_lib.pipeline`.

    Args:
        parameters: notebook parameters (``config``, ``dataset``, ``run_name``, ``data_root``,
            ``epochs``, ``device``, ``overrides``, ``reports_dir``, ...); unknown names are
            refused.
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
    stream = sys.stdout if isinstance(stream, str) and stream == "stdout" else stream
    job = _plan(parameters, notebooks, root, stream, show_output, kernel_name, start_timeout)
    check_weights_files(job.params, job.root)  # before --force deletes anything
    with RunLock(job.run_dir, "simdr pipeline"):
        state = _current_state(job, force)
        first = state.first_not_completed(job.names)
        todo, skipped = job.names[first:], job.names[:first]
        _check_resume_checkpoint(job, todo)
        t_start = time.perf_counter()
        if not todo:
            done = _already_complete(job, state, skipped)
            if done is not None:
                return done
        _start(job, state, todo, skipped)
        executed: list[str] = []
        with _headless_env():
            for index, name in enumerate(job.names):
                if name in todo:
                    _execute(job, state, index, t_start)
                    executed.append(name)
        state.status, state.finished = "completed", now()
        state.finish(job.state_path, t_start)
        report = _build_report(job, state)
    job.say(f"report: {_rel(report.html, job.root)} (and report.md, report.json)")
    job.say(report.summary)
    return PipelineResult(job.run_dir, executed, skipped, report, time.perf_counter() - t_start)


def _plan(
    parameters: dict[str, Any] | None,
    notebooks: Sequence[str] | None,
    root: str | os.PathLike | None,
    stream: IO[str] | None,
    show_output: bool,
    kernel_name: str,
    start_timeout: float,
) -> _Job:
    """The notebooks, their checked parameters and the run's folders."""
    root = Path(root).resolve() if root is not None else project_root()
    books = list_notebooks(root, notebooks)
    params, declared = resolve_parameters(parameters, books)
    config = run_config_file(params, root)
    return _Job(
        root=root,
        books=books,
        params=params,
        declared=declared,
        run_dir=resolve(params.get("reports_dir", "reports"), root) / params["run_name"],
        ckpt_dir=checkpoint_dir(params, root),
        config=config,
        config_hash=sha256(config),
        say=(lambda msg: print(msg, file=stream, flush=True)) if stream else (lambda msg: None),
        stream=stream,
        show_output=show_output,
        kernel_name=kernel_name,
        start_timeout=start_timeout,
    )


def _current_state(job: _Job, force: bool) -> RunState:
    """The state to continue: the stored one if it fits the request, else a fresh one.

    ``--force`` clears the run first. A run started with other parameters (or another config
    file) is refused once anything completed or checkpoints exist; otherwise it starts over.
    """
    state = RunState.read(job.state_path)
    if force:
        clear_run(job.run_dir, job.ckpt_dir, state, job.say, job.root)
        state = None
    elif state is not None:
        params = rpt.to_jsonable(job.params)
        # a run of other notebooks declares other parameters: compare the ones both know
        common = set(state.parameters) & set(params)
        old = {k: v for k, v in state.parameters.items() if k in common}
        new = {k: v for k, v in params.items() if k in common}
        if old != new or state.config_sha256 != job.config_hash:
            diff = param_diff(old, new) or "config file changed"
            if state.completed() or job.ckpt_dir.exists():
                raise PipelineError(
                    f"{_rel(job.run_dir, job.root)} was run with other parameters ({diff}); add "
                    "--force to start it over (deletes its reports and checkpoints), or "
                    "choose another --run name"
                )
            job.say(f"parameters changed ({diff}); nothing had completed: starting over")
            state = None
    if state is None or [*state.notebooks] != job.names:
        state = RunState.new(
            job.params["run_name"], job.params, job.config_hash, job.ckpt_dir, job.names
        )
    return state


def _check_resume_checkpoint(job: _Job, todo: list[str]) -> None:
    """Read ``last.pdckpt`` safely now: a refused checkpoint stops the run before any notebook."""
    last = job.ckpt_dir / "last.pdckpt"
    if TRAINING_NOTEBOOK in todo and job.params.get("resume", True) and last.is_file():
        from simdr_lib.weights import read_checkpoint

        read_checkpoint(last)


def _already_complete(job: _Job, state: RunState, skipped: list[str]) -> PipelineResult | None:
    """The finished run's result when every notebook completed and its report exists."""
    report_path = job.run_dir / rpt.REPORT_FILES[0]
    if state.status != "completed" or not report_path.is_file():
        return None
    job.say(
        f"run '{job.params['run_name']}': all {len(job.names)} notebooks completed; report "
        f"{_rel(report_path, job.root)} (use --force to rerun)"
    )
    summary = (rpt.read_json_or_none(job.run_dir / rpt.REPORT_FILES[2]) or {}).get("summary")
    if summary:
        job.say(summary)
    return PipelineResult(job.run_dir, [], skipped, None, 0.0)


def _start(job: _Job, state: RunState, todo: list[str], skipped: list[str]) -> None:
    """Remove the report and every output of the notebooks to run, mark the run running."""
    rpt.remove_report(job.run_dir)
    # nothing of an earlier run of these notebooks, or of deleted ones, survives; the outputs
    # of notebooks outside this selection (``--notebooks 05_export``) stay
    existing = [p.stem for p in list_notebooks(job.root, None, on_request=True)]
    rpt.remove_stale_outputs(job.run_dir, todo, existing)
    for name in todo:
        state.notebooks[name] = {"status": "pending"}
    state.status, state.started = "running", now()
    state.write(job.state_path)
    job.say(
        f"simdr pipeline: run '{job.params['run_name']}' -> {_rel(job.run_dir, job.root)}/ "
        f"(config {_rel(job.config, job.root)}, kernel {Path(sys.executable)})"
    )
    if skipped:
        job.say(f"resuming: {len(skipped)} notebook(s) already completed ({', '.join(skipped)})")


@contextlib.contextmanager
def _headless_env() -> Iterator[None]:
    """``SIMDR_HEADLESS=1`` (and quiet Paddle C++ logs) for the kernels, restored afterwards."""
    backup = {k: os.environ.get(k) for k in ("SIMDR_HEADLESS", "GLOG_minloglevel")}
    os.environ["SIMDR_HEADLESS"] = "1"
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        yield
    finally:
        for key, value in backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _execute(job: _Job, state: RunState, index: int, t_start: float) -> None:
    """Run notebook ``index`` with papermill and record the outcome in the state file.

    A failure is recorded, the report removed and one-line :class:`PipelineError` raised;
    Ctrl-C is recorded as ``interrupted`` and re-raised.
    """
    book = job.books[index]
    name, out_path = book.stem, job.run_dir / book.name
    tag = f"[{index + 1}/{len(job.names)}] {name}"
    job.say(f"{tag} ...")
    entry = {"status": "running", "started": now(), "output": book.name}
    state.notebooks[name] = entry
    state.write(job.state_path)
    t0 = time.perf_counter()
    try:
        _papermill(job, book, out_path)
    except KeyboardInterrupt:
        entry.update(status="interrupted", seconds=time.perf_counter() - t0)
        _stop(job, state, "interrupted", t_start)
        raise
    except Exception as exc:
        message = describe_failure(name, exc, out_path)
        if not _is_cell_error(exc):
            message += f" (kernel output: {_rel(job.run_dir / KERNEL_LOG, job.root)})"
        entry.update(status="failed", seconds=time.perf_counter() - t0, error=message)
        state.error = message
        _stop(job, state, "failed", t_start)
        job.say(
            f"{tag} FAILED after {entry['seconds']:.1f}s; executed notebook with "
            f"the error: {_rel(out_path, job.root)}"
        )
        raise PipelineError(message) from None
    entry.update(status="completed", seconds=time.perf_counter() - t0, finished=now())
    state.write(job.state_path)
    job.say(f"{tag} done in {entry['seconds']:.1f}s")


def _papermill(job: _Job, book: Path, out_path: Path) -> None:
    """Execute ``book`` into ``out_path``: its own parameters, kernel stderr to ``kernel.log``."""
    import papermill as pm

    own = {k: v for k, v in job.params.items() if k in job.declared[book.stem]}
    out_stream = _Prefixed(job.stream) if (job.stream and job.show_output) else None
    with open(job.run_dir / KERNEL_LOG, "a", encoding="utf-8") as kernel_log:
        kernel_log.write(f"==== {book.stem} {now()}\n")
        kernel_log.flush()
        try:
            pm.execute_notebook(
                str(book),
                str(out_path),
                parameters=own,
                kernel_name=job.kernel_name,
                cwd=str(job.root),
                progress_bar=False,
                log_output=False,
                stdout_file=out_stream,
                start_timeout=job.start_timeout,
                kernel_manager_class=_kernel_manager_class(kernel_log),
            )
        finally:
            if out_stream:
                out_stream.close()


def _stop(job: _Job, state: RunState, status: str, t_start: float) -> None:
    """Record a stopped run (``failed`` / ``interrupted``) and remove any report."""
    state.status = status
    state.finish(job.state_path, t_start)
    rpt.remove_report(job.run_dir)


def _build_report(job: _Job, state: RunState) -> rpt.ReportFiles:
    """``report.{html,md,json}``; a failure is recorded in the state and raised as one line."""
    try:
        return rpt.build_report(job.run_dir)
    except Exception as exc:
        rpt.remove_report(job.run_dir)
        message = f"building the report failed: {type(exc).__name__}: {_first_line(exc)}"
        state.status, state.error = "failed", message
        state.write(job.state_path)
        raise PipelineError(message) from exc
