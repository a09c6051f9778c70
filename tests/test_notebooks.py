"""The numbered notebooks: stored clean, thin, and executed end to end by the pipeline.

The end-to-end test runs every notebook headlessly (papermill, this interpreter's kernel) on a
tiny generated dataset and a tiny model, then checks what they wrote: executed notebooks,
metrics in range, the report (embedded images only) and the per-run state, and that a second
run resumes instead of starting over.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from helpers.pipeline_run import tiny_parameters

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: what `simdr pipeline` runs by default (the long studies run only when named)
PIPELINE = [p for p in NOTEBOOKS if p.stem != "08_lowres_study"]
COMMON_PARAMETERS = {"config", "dataset", "data_root", "run_name", "epochs", "device", "overrides"}
MAX_CELL_LINES = 15


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]


def test_the_numbered_notebooks_exist() -> None:
    names = [p.stem for p in NOTEBOOKS]
    for expected in (
        "01_data_prep",
        "02_model",
        "03_training",
        "04_evaluation",
        "05_export",
        "06_visualization",
    ):
        assert expected in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "papermill" not in cell.metadata, f"{path.name} cell {i}: papermill metadata"
    assert "papermill" not in nb.metadata, f"{path.name}: executed copy committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_one_parameters_cell_with_the_common_parameters(path: Path) -> None:
    from simdr_lib.pipeline import notebook_parameters

    cells = _code_cells(path)
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    declared = notebook_parameters(path)
    assert COMMON_PARAMETERS <= set(declared), f"{path.name}: missing parameters"
    assert declared["config"] == "configs/demo_tiny.yml" and declared["epochs"] == 0
    assert declared["dataset"] == ""  # the config's data.dataset


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_assignment_in_the_parameters_cell_is_a_parameter(path: Path) -> None:
    """papermill reads the cell line by line: each assignment must be one it understands."""
    import ast

    from simdr_lib.pipeline import notebook_parameters

    cell = next(c for c in _code_cells(path) if "parameters" in c.metadata.get("tags", []))
    assigned = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert notebook_parameters(path) == assigned


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_and_starts_with_start_notebook(path: Path) -> None:
    cells = _code_cells(path)
    after = cells[1].source
    assert "start_notebook(" in after and f'"{path.stem}"' in after, path.name
    for i, cell in enumerate(cells):
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        assert len(lines) <= MAX_CELL_LINES, f"{path.name} code cell {i}: {len(lines)} lines"
    assert any("simdr_lib" in c.source for c in cells)
    kernel = nbformat.read(str(path), as_version=4).metadata.get("kernelspec", {})
    assert kernel.get("language") == "python"


def test_start_notebook_works_from_the_notebooks_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """JupyterLab starts kernels in notebooks/: relative paths must still resolve."""
    from simdr_lib.notebook_run import start_notebook

    monkeypatch.chdir(ROOT / "notebooks")
    run = start_notebook(
        "02_model",
        "configs/demo_tiny.yml",
        "nbcwd",
        overrides={"train.save_dir": str(tmp_path / "ckpt")},
        reports_dir=str(tmp_path / "reports"),
        quiet=True,
    )
    assert Path.cwd() == ROOT
    assert run.cfg.name == "nbcwd"
    assert run.report_dir == tmp_path / "reports" / "nbcwd"
    assert (run.report_dir / "config.yml").is_file()
    assert run.checkpoint_dir == tmp_path / "ckpt" / "nbcwd"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_passes_the_parameters_as_one_mapping(path: Path) -> None:
    setup = _code_cells(path)[1].source
    assert f'start_notebook("{path.stem}", globals())' in setup, path.name
    assert len([ln for ln in setup.splitlines() if ln.strip()]) <= 3, path.name


def test_start_notebook_reads_only_the_run_parameters_from_a_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from simdr_lib.notebook_run import RUN_PARAMETERS, run_parameters, start_notebook

    monkeypatch.chdir(ROOT / "notebooks")
    namespace = {
        "config": "configs/demo_tiny.yml",
        "data_root": "",
        "run_name": "nbns",
        "epochs": 3,
        "device": "cpu",
        "overrides": {"train.save_dir": str(tmp_path / "ckpt")},
        "reports_dir": str(tmp_path / "reports"),
        "dataset": "",
        "num_samples": 4,  # a notebook's own parameter: not read
        "In": [],  # IPython's names: not read
    }
    assert set(run_parameters(namespace)) == set(RUN_PARAMETERS)
    run = start_notebook("02_model", namespace, quiet=True)
    assert run.cfg.name == "nbns" and run.cfg.train.epochs == 3 and run.cfg.device == "cpu"
    assert run.report_dir == tmp_path / "reports" / "nbns"
    assert run.checkpoint_dir == tmp_path / "ckpt" / "nbns"


def test_start_notebook_names_a_missing_parameter_and_refuses_mixed_arguments() -> None:
    from simdr_lib.errors import ConfigError
    from simdr_lib.notebook_run import start_notebook

    namespace = {"config": "configs/demo_tiny.yml", "run_name": "x", "data_root": ""}
    with pytest.raises(
        ConfigError, match=r"parameters epochs, device, overrides, reports_dir, dataset not"
    ):
        start_notebook("02_model", namespace, quiet=True)
    with pytest.raises(TypeError, match="one mapping or one by one"):
        start_notebook("02_model", dict(namespace, epochs=0), run_name="y", quiet=True)
    with pytest.raises(TypeError, match="one mapping or one by one"):
        start_notebook("02_model", dict(namespace, epochs=0), dataset="mpii", quiet=True)


def test_dataset_parameter_picks_the_demo_config_of_that_dataset() -> None:
    from simdr_lib.notebook_run import DEFAULT_CONFIG, config_file

    assert config_file(DEFAULT_CONFIG, "", ROOT) == ROOT / "configs/demo_tiny.yml"
    assert config_file(DEFAULT_CONFIG, "coco", ROOT) == ROOT / "configs/demo_tiny.yml"
    assert config_file(DEFAULT_CONFIG, "mpii", ROOT) == ROOT / "configs/demo_tiny_mpii.yml"
    assert config_file(ROOT / DEFAULT_CONFIG, "mpii", ROOT) == ROOT / "configs/demo_tiny_mpii.yml"
    explicit = "configs/simdr_hrnet_w32_256x256_mpii.yml"
    assert config_file(explicit, "mpii", ROOT) == ROOT / explicit
    assert config_file(explicit, "", ROOT) == ROOT / explicit


def test_dataset_parameter_that_contradicts_the_config_or_is_unknown_is_refused() -> None:
    from simdr_lib.errors import ConfigError
    from simdr_lib.notebook_run import config_file, notebook_config

    with pytest.raises(
        ConfigError,
        match=r"^parameter dataset 'mpii' but configs/simdr_hrnet_w32_256x192.yml has "
        r"data.dataset coco: ",
    ):
        notebook_config("configs/simdr_hrnet_w32_256x192.yml", dataset="mpii", root=ROOT)
    with pytest.raises(ConfigError, match=r"'coco' but configs/demo_tiny_mpii.yml .* mpii"):
        notebook_config("configs/demo_tiny_mpii.yml", dataset="coco", root=ROOT)
    assert notebook_config("configs/demo_tiny_mpii.yml", dataset="mpii", root=ROOT).name
    for bad in ("MPII", "lsp"):
        with pytest.raises(ConfigError, match=rf"dataset '{bad}': expected coco or mpii"):
            config_file("configs/demo_tiny.yml", bad, ROOT)
        with pytest.raises(ConfigError, match="expected coco or mpii"):
            notebook_config(dataset=bad, root=ROOT)


def test_start_notebook_with_dataset_mpii_runs_the_mpii_demo_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from simdr_lib.notebook_run import start_notebook

    monkeypatch.chdir(ROOT / "notebooks")
    run = start_notebook(
        "02_model",
        run_name="nbmpii",
        overrides={"train.save_dir": str(tmp_path / "ckpt")},
        reports_dir=str(tmp_path / "reports"),
        dataset="mpii",
        quiet=True,
    )
    assert run.cfg.data.dataset == "mpii" and run.cfg.model.num_joints == 16
    assert Path(run.cfg.source.split(" (")[0]).name == "demo_tiny_mpii.yml"
    assert "dataset: mpii" in (run.report_dir / "config.yml").read_text()


def _markdown(path: Path) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_relative_link_in_the_markdown_exists(path: Path) -> None:
    links = [
        link
        for text in _markdown(path)
        for link in re.findall(r"\]\(([^)\s]+)\)", text)
        if not re.match(r"[a-z]+:|#", link)
    ]
    assert links, f"{path.name}: no links to the library"
    for link in links:
        target = (path.parent / link.split("#")[0]).resolve()
        assert target.exists(), f"{path.name}: link {link} points to nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_library_name_a_notebook_imports_is_linked_to_its_module(path: Path) -> None:
    import ast
    import importlib

    text = "\n".join(_markdown(path))
    for cell in _code_cells(path):
        for node in ast.walk(ast.parse(cell.source)):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("simdr")):
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(module, alias.name)
                if callable(obj) and not isinstance(obj, type(module)):
                    assert f"[`{alias.name}`](" in text, f"{path.name}: {alias.name} not linked"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_ends_with_exercises(path: Path) -> None:
    last = nbformat.read(str(path), as_version=4).cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Exercises"), path.name
    items = re.findall(r"^\d+\. ", last.source, flags=re.M)
    assert 2 <= len(items) <= 4, f"{path.name}: {len(items)} exercises"


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_run(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """One full pipeline run (all notebooks) on the session's small generated dataset."""
    import io

    from simdr_lib.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("pipeline")
    log = io.StringIO()
    result = run_pipeline(tiny_parameters(small_dataset, tmp), stream=log)
    return result, tmp, log.getvalue()


@pytest.mark.slow
def test_pipeline_executes_every_notebook(tiny_run) -> None:
    result, tmp, log = tiny_run
    run_dir = tmp / "reports" / "tiny"
    assert result.run_dir == run_dir
    assert result.executed == [p.stem for p in PIPELINE]
    for book in PIPELINE:
        executed = nbformat.read(str(run_dir / book.name), as_version=4)
        errors = [
            o
            for c in executed.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert not errors, f"{book.name}: {errors[:1]}"
        assert executed.metadata["papermill"]["parameters"]["run_name"] == "tiny"
    state = json.loads((run_dir / "pipeline_state.json").read_text())
    assert state["status"] == "completed"
    assert all(e["status"] == "completed" for e in state["notebooks"].values())
    assert "[3/7] 03_training done" in log and "epoch 2/2" in log


@pytest.mark.slow
def test_notebooks_write_their_results(tiny_run) -> None:
    _, tmp, _ = tiny_run
    run_dir = tmp / "reports" / "tiny"
    stats = json.loads((run_dir / "dataset_stats.json").read_text())
    assert stats["generated"] is True
    assert stats["splits"]["train"]["images"] == 48 and stats["splits"]["val"]["images"] == 12
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["device"] == "cpu" and env["paddle"] != "not installed"
    info = json.loads((run_dir / "model_info.json").read_text())
    assert info["output_shapes"] == {"x_logits": [17, 96], "y_logits": [17, 128]}
    training = json.loads((run_dir / "training.json").read_text())
    assert training["epochs_done"] == 2 and len(training["history"]) == 2
    assert all(0.0 <= r["AP"] <= 1.0 for r in training["history"])
    assert (tmp / "checkpoints" / "tiny" / "model_final.pdparams").is_file()

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["AP"] <= 1.0
    assert metrics["main_protocol"] == "GT boxes + flip"
    assert set(metrics["protocols"]) == {
        "GT boxes + flip",
        "GT boxes, no flip",
        "detected boxes + flip",
    }
    for p in metrics["protocols"].values():
        assert all(-1.0 <= v <= 1.0 for v in p["stats"].values())
    assert [r["joint"] for r in metrics["per_joint"]][:2] == ["nose", "left_eye"]
    assert all(r["accuracy"] is None or 0 <= r["accuracy"] <= 1 for r in metrics["per_joint"])

    export = json.loads((run_dir / "export.json").read_text())
    if export["status"] == "ok":
        assert export["parity_ok"] and export["max_abs_diff"] < 1e-3
    else:
        assert export["status"] == "skipped"
    vis = json.loads((run_dir / "visualization.json").read_text())
    assert vis["num_people"] == metrics["num_people"] and len(vis["worst"]) == 3
    for name in ("01_samples", "03_training_curves", "04_per_joint", "06_distributions_typical"):
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 1000


@pytest.mark.slow
def test_pipeline_report_is_complete_and_self_contained(tiny_run) -> None:
    _, tmp, _ = tiny_run
    run_dir = tmp / "reports" / "tiny"
    page = (run_dir / "report.html").read_text()
    sources = re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", page)
    assert len(sources) >= 8
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(?!data:|#)", page), "external reference in report"
    assert "<link" not in page and "<script" not in page
    assert "generated validation set" in page and "COCO keypoint AP" in page
    report = json.loads((run_dir / "report.json").read_text())
    assert report["complete"] is True and not report["missing"]
    assert 0.0 <= report["AP"] <= 1.0
    assert report["AP"] == json.loads((run_dir / "metrics.json").read_text())["AP"]
    assert all(0.0 <= report["stats"][k] <= 1.0 for k in ("AP", "AP50", "AR"))
    md = (run_dir / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (run_dir / link).is_file(), link
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*.tmp"))


@pytest.mark.slow
def test_second_run_resumes_from_the_first_notebook_not_completed(tiny_run, small_dataset) -> None:
    from simdr_lib.pipeline import run_pipeline

    _, tmp, _ = tiny_run
    run_dir = tmp / "reports" / "tiny"
    params = tiny_parameters(small_dataset, tmp)

    again = run_pipeline(params, stream=None)  # everything done: nothing runs
    assert again.executed == [] and len(again.skipped) == len(PIPELINE)

    # As if the previous run had been killed during 06: 06 and 07 not completed, no report.
    state_path = run_dir / "pipeline_state.json"
    state = json.loads(state_path.read_text())
    state["notebooks"]["06_visualization"] = {"status": "running"}
    state["notebooks"]["07_report"] = {"status": "pending"}
    state["status"] = "running"
    state_path.write_text(json.dumps(state))
    (run_dir / "report.html").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.glob("0[1-5]_*.ipynb")}

    resumed = run_pipeline(params, stream=None)
    assert resumed.executed == ["06_visualization", "07_report"]
    assert resumed.skipped == [p.stem for p in PIPELINE][:5]
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.glob("0[1-5]_*.ipynb")} == before
    assert (run_dir / "report.html").is_file()
    assert json.loads(state_path.read_text())["status"] == "completed"


@pytest.mark.slow
def test_running_one_notebook_of_a_finished_run_keeps_the_others_results(
    tiny_run, small_dataset
) -> None:
    """``--notebooks 05_export`` on a completed run: 05 reruns, every other result stays."""
    from simdr_lib.pipeline import run_pipeline

    _, tmp, _ = tiny_run
    run_dir = tmp / "reports" / "tiny"
    params = tiny_parameters(small_dataset, tmp)
    others = sorted(
        p.relative_to(run_dir).as_posix()
        for p in [*run_dir.glob("*.json"), *run_dir.glob("figures/0[1-46]_*.png")]
        if p.name not in ("export.json", "pipeline_state.json", "report.json")
    )
    assert "metrics.json" in others and "figures/04_per_joint.png" in others
    before = {name: (run_dir / name).stat().st_mtime_ns for name in others}

    from simdr_lib.pipeline.params import notebook_parameters

    declared = notebook_parameters(ROOT / "notebooks" / "05_export.ipynb")
    common = {k: v for k, v in params.items() if k in declared}  # 05 refuses the others
    one = run_pipeline(common, notebooks=["05_export"], stream=None)
    assert one.executed == ["05_export"]
    assert {name: (run_dir / name).stat().st_mtime_ns for name in others} == before
    report = json.loads((run_dir / "report.json").read_text())
    assert report["complete"] is True and report["AP"] is not None
