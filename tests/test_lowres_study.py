"""The low-resolution study on a tiny setting: well-formed json, figures from it, the report."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from simdr_lib.lowres_study import (
    StudySettings,
    cell_overrides,
    plot_ap_vs_size,
    plot_side_by_side,
    summarize,
)


@pytest.fixture(scope="module")
def study_dir(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``benchmarks/lowres_study.py`` on one size, two heads, one seed, two steps."""
    out = tmp_path_factory.mktemp("lowres")
    argv = ["lowres_study.py", "--sizes", "24x32", "--heads", "heatmap", "simdr", "--seeds", "0"]
    argv += ["--epochs", "1", "--tiny-width", "8", "--data-root", str(small_dataset)]
    argv += ["--device", "cpu", "--out", str(out), "--quiet"]
    for opt in ("data.num_workers=0", "train.batch_size=8", "train.max_steps_per_epoch=2"):
        argv += ["-o", opt]
    old = sys.argv
    sys.argv = argv
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(ROOT / "benchmarks" / "lowres_study.py"), run_name="__main__")
    finally:
        sys.argv = old
    assert done.value.code == 0
    return out


def test_the_study_writes_well_formed_json_and_figures(study_dir: Path) -> None:
    study = json.loads((study_dir / "lowres_study.json").read_text())
    reps = [c["representation"] for c in study["cells"]]
    assert reps == ["heatmap", "heatmap+DARK", "SimDR"]
    for cell in study["cells"]:
        assert cell["size"] == [24, 32] and cell["seed"] == 0 and cell["people"] > 0
        assert 0.0 <= cell["AP"] <= 1.0 and 0.0 <= cell["AP75"] <= 1.0 and cell["err_px"] > 0
        assert len(cell["examples"]) == len(study["examples_gt"]) > 0
    assert [e["representation"] for e in study["summary"]] == reps
    assert study["summary"] == summarize(study["cells"])
    assert study["settings"]["sizes"] == [[24, 32]] and study["wall_time_s"] > 0
    for name in ("ap_vs_size.png", "side_by_side.png"):
        assert (study_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the figures are functions of the json alone
    assert plot_ap_vs_size(study).axes and plot_side_by_side(study).axes
    # cells are named after all that shapes them, so a rerun resumes only its own trainings
    runs = sorted(p.name for p in (study_dir / "checkpoints").iterdir() if p.is_dir())
    assert runs == ["heatmap_24x32_tiny8_e1_seed0", "simdr_24x32_tiny8_e1_seed0"]


def test_cell_settings_follow_the_official_low_resolution_configs() -> None:
    s = StudySettings()
    small = cell_overrides("simdr", (48, 64), 0, s)
    large = cell_overrides("sa_simdr", (96, 128), 1, s)
    heat = cell_overrides("heatmap", (24, 32), 0, s)
    assert small["codec.split_ratio"] == 3.0 and large["codec.split_ratio"] == 2.0
    assert large["codec.sigma"] == 2.0 and heat["codec.sigma"] == 1.0
    assert heat["model.head"] == "heatmap" and small["model.head"] == "simdr"
    assert small["train.lr_steps"] == [9, 11] and small["train.epochs"] == 12


def test_study_run_report_shows_the_study_only(study_dir: Path, tmp_path: Path) -> None:
    import shutil

    from simdr_lib.report import build_report

    run = tmp_path / "lowres"
    (run / "figures").mkdir(parents=True)
    shutil.copy(study_dir / "lowres_study.json", run / "lowres_study.json")
    shutil.copy(study_dir / "ap_vs_size.png", run / "figures" / "08_ap_vs_size.png")
    state = {"status": "completed", "notebooks": {"08_lowres_study": {"status": "completed"}}}
    (run / "pipeline_state.json").write_text(json.dumps(state))
    report = build_report(run)
    assert report.complete, report.missing
    html = report.html.read_text()
    assert "Low-resolution study (COCO AP on GT boxes, mean of 1 seed) at 24x32: heatmap" in html
    assert "Low-resolution study: heatmap vs SimDR" in html and "data:image/png;base64" in html
    assert "not available: run notebook 04_evaluation" not in html


def test_the_default_pipeline_leaves_the_study_out() -> None:
    from simdr_lib.errors import ConfigError
    from simdr_lib.pipeline import list_notebooks

    default = [p.stem for p in list_notebooks(ROOT)]
    assert "08_lowres_study" not in default and default[-1] == "07_report"
    assert [p.stem for p in list_notebooks(ROOT, ["08_lowres_study"])] == ["08_lowres_study"]
    with pytest.raises(ConfigError, match="unknown notebook '09_x'"):
        list_notebooks(ROOT, ["09_x"])


@pytest.mark.slow
def test_notebook_08_runs_headless_through_the_pipeline(small_dataset: Path, tmp_path: Path):
    from simdr_lib.pipeline import run_pipeline

    params = {
        "run_name": "lowres",
        "reports_dir": str(tmp_path / "reports"),
        "data_root": str(small_dataset),
        "device": "cpu",
        "sizes": [[24, 32]],
        "heads": ["heatmap", "sa_simdr"],
        "seeds": [0],
        "study_epochs": 1,
        "tiny_width": 8,
        "overrides": {
            "data.num_workers": 0,
            "train.batch_size": 8,
            "train.max_steps_per_epoch": 2,
            "train.save_dir": str(tmp_path / "checkpoints"),
        },
    }
    result = run_pipeline(params, notebooks=["08_lowres_study"], root=ROOT, stream=None)
    assert result.executed == ["08_lowres_study"] and result.report.complete
    run = tmp_path / "reports" / "lowres"
    study = json.loads((run / "lowres_study.json").read_text())
    assert [c["representation"] for c in study["cells"]] == ["heatmap", "heatmap+DARK", "SA-SimDR"]
    for name in ("08_ap_vs_size.png", "08_side_by_side.png"):
        assert (run / "figures" / name).is_file()
    assert (tmp_path / "checkpoints" / "lowres" / "study").is_dir()
    assert "Low-resolution study" in result.report.summary
