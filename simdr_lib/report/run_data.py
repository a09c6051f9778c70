"""Everything a run folder holds that the report shows, read once into :class:`RunData`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simdr_lib.report import run_files as rf

#: the content of one json run file
JsonDict = dict[str, Any]


@dataclass
class RunData:
    """The run files of ``run_dir``; each field is None when its file is missing or unreadable.

    ``figures`` maps the stem of every ``figures/*.png`` to its path (sorted by name).
    """

    run_dir: Path
    config_text: str | None = None
    config: JsonDict | None = None
    state: JsonDict | None = None
    dataset: JsonDict | None = None
    environment: JsonDict | None = None
    model: JsonDict | None = None
    training: JsonDict | None = None
    metrics: JsonDict | None = None
    export: JsonDict | None = None
    visualization: JsonDict | None = None
    study: JsonDict | None = None
    figures: dict[str, Path] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        """``name`` of the run's config, else the folder name."""
        return str((self.config or {}).get("name", self.run_dir.name))

    def file(self, name: str) -> JsonDict | None:
        """The content of json run file ``name`` (one of :data:`~run_files.RUN_FILES`)."""
        return getattr(self, _FIELDS[name])

    def notebooks_ran(self) -> set[str]:
        """The notebooks of this run (all but the on-request study when run interactively)."""
        ran = (self.state or {}).get("notebooks")
        return set(ran or set(rf.RUN_FILES.values()) - {rf.STUDY_NOTEBOOK})

    def missing(self) -> list[str]:
        """``"<file> (<notebook>)"`` for each run file a notebook of this run should write."""
        ran = self.notebooks_ran()
        return [
            f"{n} ({nb})" for n, nb in rf.RUN_FILES.items() if nb in ran and self.file(n) is None
        ]

    def study_only(self) -> bool:
        """True when the run is only the low-resolution study."""
        return self.notebooks_ran() == {rf.STUDY_NOTEBOOK}


# json run file -> RunData field
_FIELDS = {
    rf.DATASET_FILE: "dataset",
    rf.ENVIRONMENT_FILE: "environment",
    rf.MODEL_FILE: "model",
    rf.TRAINING_FILE: "training",
    rf.METRICS_FILE: "metrics",
    rf.EXPORT_FILE: "export",
    rf.VISUALIZATION_FILE: "visualization",
    rf.STUDY_FILE: "study",
}


def _json_dict(path: Path) -> JsonDict | None:
    data = rf.read_json_or_none(path)
    return data if isinstance(data, dict) else None


def load_run(report_dir: str | os.PathLike) -> RunData:
    """Read the config, pipeline state, json run files and figure list of ``report_dir``."""
    import yaml

    run_dir = Path(report_dir)
    cfg_path = run_dir / rf.CONFIG_FILE
    cfg_text = cfg_path.read_text() if cfg_path.is_file() else None
    config = (yaml.safe_load(cfg_text) or {}) if cfg_text else None
    figures_dir = run_dir / rf.FIGURES_DIR
    figures = (
        {p.stem: p for p in sorted(figures_dir.glob("*" + rf.FIGURE_SUFFIX)) if p.is_file()}
        if figures_dir.is_dir()
        else {}
    )
    files = {field_: _json_dict(run_dir / name) for name, field_ in _FIELDS.items()}
    return RunData(
        run_dir=run_dir,
        config_text=cfg_text,
        config=config,
        state=_json_dict(run_dir / rf.STATE_FILE),
        figures=figures,
        **files,
    )
