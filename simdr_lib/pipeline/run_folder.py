"""The run's folders: where its checkpoints go, what its weights files are, ``--force``.

The pipeline never deletes what it did not make: :func:`clear_run` refuses a folder that does
not look like a pipeline run or a checkpoint folder that holds files training did not write.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from simdr_lib import report as rpt
from simdr_lib.config import load_config, parse_overrides
from simdr_lib.errors import SimdrError
from simdr_lib.notebook_run import DEFAULT_CONFIG, _rel, config_file, notebook_config
from simdr_lib.paths import resolve
from simdr_lib.pipeline.params import PipelineError
from simdr_lib.pipeline.state import RunState


def param_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``key: old -> new; ...`` for every key whose value differs."""
    keys = sorted(set(old) | set(new))
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(diffs)


def run_config_file(params: dict[str, Any], root: Path) -> Path:
    """The config file the run's notebooks read: :func:`config_file` of its parameters.

    ``dataset`` picks the dataset's demo config when ``config`` is the default. An unknown
    ``dataset`` raises ConfigError before anything runs.
    """
    return config_file(params.get("config", DEFAULT_CONFIG), params.get("dataset", ""), root)


def check_weights_files(params: dict[str, Any], root: Path) -> None:
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
            dataset=params.get("dataset", ""),
        )
    except SimdrError:
        return
    from simdr_lib.weights import read_weights

    for path, what in ((cfg.weights, "weights file"), (cfg.model.pretrained, "pretrained weights")):
        if path:
            read_weights(resolve(path, root), what)


def checkpoint_dir(params: dict[str, Any], root: Path) -> Path:
    """``<train.save_dir>/<run>`` of the run's config; the default when the config is bad.

    A bad config or data path is not refused here: the first notebook fails on it and keeps
    the error in its executed copy, like any other notebook failure.
    """
    try:
        cfg = load_config(run_config_file(params, root), parse_overrides(params.get("overrides")))
        save_dir = cfg.train.save_dir
    except SimdrError:
        save_dir = "checkpoints"
    return resolve(save_dir, root) / str(params["run_name"])


def clear_run(
    run_dir: Path, ckpt_dir: Path, state: RunState | None, say: Callable[[str], None], root: Path
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
    recorded = Path(state.checkpoint_dir) if state and state.checkpoint_dir else None
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
