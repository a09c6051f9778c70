"""Training as several CPU ranks: ``train.ranks`` (auto: one per core) decides, this runs them.

:func:`planned_ranks` says how many ranks a run of a config starts on this machine;
:func:`train_in_ranks` runs ``simdr train`` as that many ranks of ``python -m
paddle.distributed.launch`` (gloo), shows rank 0's output as it comes (the launcher's own
chatter left out), hands each finished epoch to ``on_epoch_end`` (from the run's
``train_log.csv``) and returns what rank 0 wrote, with the trained model loaded back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from simdr_lib.config import Config, save_config
from simdr_lib.errors import ConfigError, TrainingError

__all__ = ["LaunchOutput", "planned_ranks", "train_in_ranks", "watch_parent"]

#: lines of paddle.distributed.launch itself (not of a rank): left out of what is shown
_LAUNCHER_PREFIXES = ("LAUNCH INFO", "LAUNCH WARNING", "LAUNCH DEBUG")


#: the environment variable that names, in a rank simdr started, the process that started it
PARENT_ENV = "SIMDR_RANKS_PARENT"
#: seconds between a rank's checks that its starter still runs; a stopped rank gets as long
#: again to finish its step before it exits
_WATCH_S = 2.0


#: a warning each rank's ``import paddle`` prints (about compiling C++ extensions, unused here)
_CCACHE_WARNING = "ignore:No ccache found"


def planned_ranks(cfg: Config) -> int:
    """Ranks a training run of ``cfg`` starts here: 1 inside a launched rank (or a GPU run),
    else ``train.ranks`` (auto: :func:`simdr_lib.device.training_ranks`, on Linux only: CPU
    ranks of paddle.distributed.launch were not tried on macOS or Windows)."""
    from simdr_lib.device import available_cores, resolve_device, training_ranks

    if "PADDLE_TRAINERS_NUM" in os.environ:
        return 1
    if cfg.train.ranks == 0 and not sys.platform.startswith("linux"):
        return 1
    device = resolve_device(cfg.device)
    if device != "cpu" and cfg.train.ranks > 1:
        raise ConfigError(
            f"{cfg.source}: train.ranks {cfg.train.ranks} starts CPU ranks only; for GPUs use "
            "python -m paddle.distributed.launch --gpus 0,1,... -m simdr_lib train ..."
        )
    return training_ranks(cfg.train.ranks, device, available_cores(), cfg.train.batch_size)


def watch_parent() -> None:
    """In a rank simdr started: stop the rank when the process that started the ranks is gone
    (a killed or restarted notebook kernel), so no rank trains on, holding the run folder.

    The rank gets a KeyboardInterrupt (the run stops as on Ctrl-C: the last checkpoint is the
    previous epoch's) and exits after another :data:`_WATCH_S` x 5 seconds if a step blocked
    in the all-reduce keeps it from seeing that.
    """
    import _thread

    pid = int(os.environ.get(PARENT_ENV, "0") or 0)
    if pid <= 0:
        return

    def watch() -> None:
        while _alive(pid):
            time.sleep(_WATCH_S)
        _thread.interrupt_main()
        time.sleep(5 * _WATCH_S)
        os._exit(130)

    threading.Thread(target=watch, name="simdr-watch-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, owned by someone else
        return True
    return True


def train_in_ranks(
    cfg: Config,
    ranks: int,
    *,
    resume: bool,
    overwrite: bool,
    do_eval: bool,
    use_vdl: bool,
    progress: bool,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> Any:
    """Run ``cfg`` as ``ranks`` CPU ranks (``train.batch_size`` split across them); returns
    the :class:`~simdr_lib.engine.train.TrainResult` of rank 0's run folder.

    Raises:
        TrainingError: with the rank's own one-line error when the run stopped (the NaN
            guard, a refused folder, bad data), or the launcher's status.
    """
    from simdr_lib.data.loaders import ensure_dataset
    from simdr_lib.engine.train import run_dir_for

    run_dir = run_dir_for(cfg)
    ensure_dataset(cfg, progress=progress)  # here, where its progress shows
    with tempfile.TemporaryDirectory(prefix="simdr_ranks_") as tmp:
        config = Path(tmp) / "config.yml"
        save_config(cfg.with_overrides({"train.ranks": ranks, "device": "cpu"}), config)
        # the ranks draw no progress bars (the launcher would print every redraw as a line):
        # the bar and the epoch lines are drawn here, from the run's train_log.csv
        argv = ["train", "-c", str(config), "--quiet"]
        flags = {"eval": do_eval, "resume": resume, "overwrite": overwrite, "use_vdl": use_vdl}
        argv += [f"--{name}" for name, on in flags.items() if on]
        cmd = _launch_command(ranks, Path(tmp) / "logs", argv)
        if progress:
            print(f"training as {ranks} CPU ranks (paddle.distributed.launch)", flush=True)
        log = LogFollower(run_dir / "train_log.csv", resume)
        with EpochProgress(cfg, log.seen, enabled=progress, on_epoch_end=on_epoch_end) as bar:
            rc, error = _run_streaming(cmd, log, bar.report)
    if rc != 0:
        raise TrainingError(error or f"training in {ranks} ranks stopped (launcher status {rc})")
    return _result_from_run_dir(cfg, run_dir)


def _launch_command(ranks: int, log_dir: Path, argv: list[str]) -> list[str]:
    """``python -m paddle.distributed.launch`` for ``ranks`` local CPU ranks on free ports (two
    runs at once do not collide on the default ones); failed ranks are not restarted."""
    script = str(Path(__file__).resolve().parents[1] / "__main__.py")
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(ranks)]
    cmd += ["--max_restart", "0", "--log_dir", str(log_dir)]
    cmd += ["--gloo_port", str(_free_port()), "--start_port", str(_free_port())]
    return [*cmd, script, *argv]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LaunchOutput:
    """Filters the launcher's merged output into ``out``: rank 0's text passes as it comes
    (progress bars redraw with ``\\r``), the launcher's INFO lines and, once a rank failed,
    its log dump are dropped; a rank's ``error: ...`` line is kept back for the caller."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.error = ""
        self._buf = ""
        self._dropping = False

    def feed(self, text: str) -> None:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self._line(line)
        cut = self._buf.rfind("\r")
        if cut > 0 and not self._dropping:  # a redrawn progress bar: show all but the newest
            self.out.write(self._buf[:cut])
            self._buf = self._buf[cut:]
        self.out.flush()

    def close(self) -> None:
        if self._buf:
            self._line(self._buf)
            self._buf = ""
        self.out.flush()

    def _line(self, line: str) -> None:
        text = line.strip("\r").strip()
        if text.startswith("error: "):
            self.error = self.error or text[len("error: ") :]
            return
        if text.startswith("done: "):  # simdr train's last line: the caller reports the run
            return
        if "LAUNCH ERROR" in text or "ERROR LOG DETAIL" in text:
            self._dropping = True  # the launcher repeats a rank's log: already shown or kept
        if self._dropping or text.startswith(_LAUNCHER_PREFIXES) or _is_flags_banner(text):
            return
        self.out.write(line + "\n")


class EpochProgress:
    """Progress of a multi-rank run, drawn from its log rows: one bar over the epochs
    (``tqdm.auto``: a widget in notebooks), the run log's line per epoch, ``on_epoch_end``."""

    def __init__(
        self,
        cfg: Config,
        done: int,
        *,
        enabled: bool,
        on_epoch_end: Callable[[dict[str, float]], None] | None,
    ) -> None:
        self.cfg = cfg
        self.done = done
        self.enabled = enabled
        self.on_epoch_end = on_epoch_end
        self.bar: Any = None

    def __enter__(self) -> EpochProgress:
        from tqdm.auto import tqdm

        if self.enabled:
            total = self.cfg.train.epochs
            self.bar = tqdm(total=total, initial=min(self.done, total), unit="epoch")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def report(self, row: dict[str, float]) -> None:
        from simdr_lib.engine.train import epoch_line

        if self.bar is not None:
            self.bar.write(epoch_line(row, self.cfg.train.epochs, self.cfg.data.dataset))
            self.bar.update(1)
        if self.on_epoch_end is not None:
            self.on_epoch_end(row)


def _is_flags_banner(text: str) -> bool:
    """Paddle's "Modified FLAGS detected" box, which every rank prints at start."""
    return (
        "Modified FLAGS detected" in text
        or text.startswith("FLAGS(name=")
        or (len(text) > 10 and set(text) == {"="})
    )


class LogFollower:
    """New rows of a run's ``train_log.csv`` as the run writes them (atomically, each epoch).

    Resuming, the rows already there were reported by the earlier run; otherwise a log that is
    already there belongs to a run about to be replaced (``--overwrite``) and is not read
    until it has been rewritten.
    """

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        self.seen = len(_read_log(path)) if resume else 0
        self._stale = None if resume else _mtime(path)

    def new_rows(self) -> list[dict[str, float]]:
        if self._stale is not None and _mtime(self.path) == self._stale:
            return []
        rows = _read_log(self.path)[self.seen :]
        self.seen += len(rows)
        return rows


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _run_streaming(
    cmd: list[str], log: LogFollower, on_row: Callable[[dict[str, float]], None]
) -> tuple[int, str]:
    """Run ``cmd``, pass its output through :class:`LaunchOutput`, hand each new row of the
    run's log to ``on_row``; ``(status, a rank's error line or '')``. Interrupting (Ctrl-C,
    a notebook's stop button) stops every rank."""
    root = str(Path(__file__).resolve().parents[2])  # importable without an install
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    quiet = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), _CCACHE_WARNING) if w)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": quiet}
    env[PARENT_ENV] = str(os.getpid())
    out = LaunchOutput(sys.stdout)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    reader = threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True)
    reader.start()
    try:
        while True:
            done = proc.poll() is not None
            for row in log.new_rows():
                on_row(row)
            if done:
                break
            time.sleep(0.5)
    except BaseException:
        _stop(proc)
        raise
    finally:
        reader.join(timeout=5)
        out.close()
    return proc.returncode, out.error


def _pump(stream: IO[bytes], out: LaunchOutput) -> None:
    fd = stream.fileno()
    while chunk := os.read(fd, 65536):
        out.feed(chunk.decode("utf-8", errors="replace"))


def _stop(proc: subprocess.Popen) -> None:
    """Stop the launcher and every rank (their own session), SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _read_log(path: Path) -> list[dict[str, float]]:
    """Rows of a ``train_log.csv`` (:func:`~simdr_lib.engine.train.write_log`) as floats."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [{k: float(v) for k, v in row.items()} for row in rows]
    except (OSError, ValueError, TypeError):  # not written yet
        return []


def _result_from_run_dir(cfg: Config, run_dir: Path) -> Any:
    """The run's :class:`TrainResult` from ``train_summary.json``, its model loaded back from
    ``model_final.pdparams`` (as in-process training returns it)."""
    import json

    from simdr_lib.engine.train import TrainResult
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    summary = json.loads((run_dir / "train_summary.json").read_text(encoding="utf-8"))
    final = run_dir / "model_final.pdparams"
    model = model_from_config(cfg)
    load_model_weights(model, str(final), cfg=cfg, log=None)
    return TrainResult(
        run_dir=run_dir,
        epochs_done=int(summary["epochs_done"]),
        best_ap=float(summary["best_ap"]),
        best_epoch=int(summary["best_epoch"]),
        history=list(summary["history"]),
        final_weights=final,
        wall_time_s=float(summary["wall_time_s"]),
        images_per_s=float(summary["images_per_s"]),
        model=model,
    )
