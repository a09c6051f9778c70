"""``reports/<run>/pipeline_state.json``: what a run was started with and how far it got.

:class:`RunState` is the file's content as a dataclass; :meth:`RunState.to_json` writes the
same keys the file has always had (so run folders written before still resume), and keys
this version does not know are kept as they were.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from simdr_lib import report as rpt

STATE_VERSION = 1


def now() -> str:
    """Local time, ISO 8601 to the second (the state file's timestamps)."""
    return _dt.datetime.now().isoformat(timespec="seconds")


def sha256(path: Path) -> str:
    """Hex digest of the file's bytes; ``""`` when it does not exist."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else ""


@dataclass
class RunState:
    """One run's progress; ``notebooks`` maps each stem to its entry (``status``, ``seconds``).

    Fields are in the file's key order; a field that is None is not written (an older file
    without it stays without it).
    """

    version: int | None = None
    run: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    config_sha256: str | None = None
    checkpoint_dir: str | None = None
    status: str | None = None
    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    wall_time_s: float | None = None
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    updated: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        run: str,
        parameters: dict[str, Any],
        config_sha256: str,
        ckpt_dir: Path,
        names: list[str],
    ) -> RunState:
        """A fresh state: every notebook pending."""
        return cls(
            version=STATE_VERSION,
            run=run,
            parameters=rpt.to_jsonable(parameters),
            config_sha256=config_sha256,
            checkpoint_dir=str(ckpt_dir),
            status="new",
            notebooks={n: {"status": "pending"} for n in names},
            wall_time_s=0.0,
            created=now(),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        known = {f.name for f in fields(cls)} - {"extra"}
        state = cls(**{k: v for k, v in data.items() if k in known})
        state.extra = {k: v for k, v in data.items() if k not in known}
        return state

    def to_json(self) -> dict[str, Any]:
        """The file's mapping: set fields only, unknown keys of a loaded file kept."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out = {k: v for k, v in out.items() if v is not None}
        out.update(self.extra)
        return out

    @classmethod
    def read(cls, path: Path) -> RunState | None:
        data = rpt.read_json_or_none(path) if path.is_file() else None
        return cls.from_json(data) if data is not None else None

    def write(self, path: Path) -> None:
        """Write the state atomically."""
        rpt.write_json_atomic(path, self.to_json())

    def completed(self) -> list[str]:
        return [n for n, e in self.notebooks.items() if e.get("status") == "completed"]

    def first_not_completed(self, names: list[str]) -> int:
        """Index in ``names`` of the first notebook to run (``len(names)`` when all are done)."""
        status = [self.notebooks[n].get("status") for n in names]
        return next((i for i, s in enumerate(status) if s != "completed"), len(names))

    def finish(self, path: Path, t_start: float) -> None:
        """Add the time since ``t_start`` (``perf_counter``) to the wall time and write."""
        self.wall_time_s = float(self.wall_time_s or 0.0) + (time.perf_counter() - t_start)
        self.updated = now()
        self.write(path)
