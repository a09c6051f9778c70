"""``reports/<run>/report.{html,md,json}`` from the run's files: :func:`build_report`.

The three files are rendered first and then renamed into place together (``report.html``, the
page users open, last), so a reader never sees a half-written report.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simdr_lib import atomic_io
from simdr_lib.report import run_files as rf
from simdr_lib.report import sections as sec
from simdr_lib.report.blocks import Block, render_html, render_markdown
from simdr_lib.report.run_data import JsonDict, RunData, load_run


@dataclass
class ReportFiles:
    """The written report files, the headline and whether every run file was there."""

    html: Path
    markdown: Path
    json: Path
    summary: str
    ap: float | None
    complete: bool
    missing: list[str] = field(default_factory=list)

    def _repr_markdown_(self) -> str:
        state = (
            "complete" if self.complete else "INCOMPLETE (missing " + ", ".join(self.missing) + ")"
        )
        return f"{self.summary}\n\nReport ({state}): `{self.html}` (also `{self.markdown.name}`)"


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _pipeline(run: RunData) -> JsonDict | None:
    return {k: v for k, v in (run.state or {}).items() if k != "parameters"} or None


def run_blocks(run: RunData, missing: list[str]) -> list[Block]:
    """All sections of a training run's report, in page order."""
    blocks = sec.header_section(run, missing)
    for section in (
        sec.evaluation_section,
        sec.study_section,
        sec.training_section,
        sec.predictions_section,
        sec.dataset_section,
        sec.model_section,
        sec.export_section,
    ):
        blocks += section(run)
    blocks += sec.other_figures_section(run, blocks)
    blocks += sec.timing_section(run) + sec.environment_section(run)
    return blocks + sec.configuration_section(run)


def run_payload(run: RunData, missing: list[str]) -> dict[str, Any]:
    """``report.json`` of a training run: the metrics and summaries of every run file."""
    metrics = run.metrics or {}
    return {
        "run": run.run_name,
        "complete": not missing,
        "missing": missing,
        "summary": sec.headline(run),
        "metric": metrics.get("metric", "AP"),
        "AP": metrics.get("AP"),  # COCO AP (fraction); MPII runs have PCKh (percent) instead
        "PCKh": metrics.get("PCKh"),
        "stats": metrics.get("stats"),
        "main_protocol": metrics.get("main_protocol"),
        "protocols": {
            k: {kk: v for kk, v in p.items() if kk != "results_file"}
            for k, p in metrics.get("protocols", {}).items()
        },
        "per_joint": metrics.get("per_joint"),
        "training": {k: v for k, v in (run.training or {}).items() if k != "history"},
        "dataset": run.dataset,
        "model": run.model,
        "export": run.export,
        "visualization": run.visualization,
        "lowres_study": (run.study or {}).get("summary"),
        "environment": run.environment,
        "pipeline": _pipeline(run),
        "generated": _now(),
    }


def study_blocks(run: RunData) -> list[Block]:
    """The report of a run that is only the low-resolution study."""
    head = sec.study_sentence(run.study) if run.study else _NO_STUDY
    blocks = [Block("p", f"**{head}**")]
    blocks += sec.study_section(run) or [sec.not_run(rf.STUDY_NOTEBOOK)]
    return blocks + sec.configuration_section(
        run, "Configuration (base of every cell)", parameters=False
    )


_NO_STUDY = "The low-resolution study has no results."


def study_payload(run: RunData, missing: list[str]) -> dict[str, Any]:
    """``report.json`` of a study-only run (no single model: its APs are in lowres_study)."""
    return {
        "run": run.run_dir.name,
        "complete": not missing,
        "missing": missing,
        "summary": sec.study_sentence(run.study) if run.study else _NO_STUDY,
        "AP": None,
        "lowres_study": {k: v for k, v in (run.study or {}).items() if k != "cells"},
        "pipeline": _pipeline(run),
        "generated": _now(),
    }


def build_report(run_dir: str | os.PathLike) -> ReportFiles:
    """Write ``report.html``, ``report.md`` and ``report.json`` for the run in ``run_dir``.

    Uses whatever run files exist; missing ones are listed in the report (and
    ``report.json["complete"]`` is False). Files are renamed into place only after all three
    are rendered.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        from simdr_lib.errors import ConfigError

        raise ConfigError(f"{run_dir}: no such run folder")
    run = load_run(run_dir)
    missing = run.missing()
    if run.study_only():
        blocks, payload = study_blocks(run), study_payload(run, missing)
    else:
        blocks, payload = run_blocks(run, missing), run_payload(run, missing)
    title = f"SimDR run report: {payload['run']}"
    html_text = render_html(title, blocks)
    md_text = render_markdown(title, blocks, run_dir)
    json_text = json.dumps(rf.to_jsonable(payload), indent=2) + "\n"
    texts = list(zip((run_dir / n for n in rf.REPORT_FILES), (html_text, md_text, json_text)))
    atomic_io.write_texts_atomic(texts[::-1])  # all or none; report.html lands last
    return ReportFiles(
        html=run_dir / rf.REPORT_FILES[0],
        markdown=run_dir / rf.REPORT_FILES[1],
        json=run_dir / rf.REPORT_FILES[2],
        summary=payload["summary"],
        ap=payload["AP"],
        complete=not missing,
        missing=missing,
    )
