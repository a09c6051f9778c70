"""``simdr pipeline``: parameters, failure reporting, run state, refusal cases, CLI."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from simdr_lib.config import parse_overrides
from simdr_lib.errors import ConfigError, DataError
from simdr_lib.notebook_run import notebook_config
from simdr_lib.pipeline import (
    PipelineError,
    coerce_parameter,
    describe_failure,
    resolve_parameters,
    run_pipeline,
)

BOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# ----------------------------------------------------------------------------- parameters
def test_parse_overrides_accepts_dict_list_and_yaml_mapping() -> None:
    assert parse_overrides(None) == {}
    assert parse_overrides({"train.lr": 0.1}) == {"train.lr": 0.1}
    assert parse_overrides(["codec.input_size=[48, 64]", "name=x"]) == {
        "codec.input_size": [48, 64],
        "name": "x",
    }
    assert parse_overrides("{train.batch_size: 16}") == {"train.batch_size": 16}
    with pytest.raises(ConfigError, match="overrides"):
        parse_overrides("train.batch_size")
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_overrides(["novalue"])


def test_cli_strings_are_coerced_to_the_notebook_default_type() -> None:
    assert coerce_parameter("epochs", "3", 0) == 3
    assert coerce_parameter("resume", "false", True) is False
    assert coerce_parameter("run_name", "2024", "demo") == "2024"
    assert coerce_parameter("overrides", "{a.b: 1}", {}) == {"a.b": 1}
    assert coerce_parameter("epochs", 5, 0) == 5
    with pytest.raises(ConfigError, match="parameter epochs: expected int"):
        coerce_parameter("epochs", "three", 0)
    with pytest.raises(ConfigError, match="parameter resume"):
        coerce_parameter("resume", "3", True)


def test_unknown_or_bad_parameters_are_refused_before_anything_runs() -> None:
    merged, declared = resolve_parameters({"epochs": "4"}, BOOKS)
    assert merged["epochs"] == 4 and merged["run_name"] == "demo"
    assert "resume" in declared["03_training"] and "resume" not in declared["04_evaluation"]
    with pytest.raises(ConfigError, match="unknown notebook parameter 'epoch'"):
        resolve_parameters({"epoch": 4}, BOOKS)
    with pytest.raises(ConfigError, match="plain folder name"):
        resolve_parameters({"run_name": "a/b"}, BOOKS)


def test_notebook_config_maps_parameters_onto_the_config(small_dataset: Path) -> None:
    cfg = notebook_config(
        "configs/demo_tiny.yml",
        "r1",
        data_root=small_dataset,
        epochs=3,
        device="cpu",
        overrides={"train.batch_size": 8},
        root=ROOT,
    )
    assert cfg.name == "r1" and cfg.device == "cpu"
    assert cfg.data.root == str(small_dataset) and cfg.data.synthetic is False
    assert cfg.train.epochs == 3 and cfg.train.batch_size == 8
    default = notebook_config(root=ROOT)
    assert default.data.root == "data/synthetic" and default.data.synthetic is True
    kept = notebook_config(data_root=small_dataset, overrides={"data.synthetic": True}, root=ROOT)
    assert kept.data.synthetic is True
    with pytest.raises(DataError, match="no such folder"):
        notebook_config(data_root=small_dataset / "missing", root=ROOT)
    with pytest.raises(ConfigError, match="epochs"):
        notebook_config(epochs=-1, root=ROOT)


# ----------------------------------------------------------------------------- failures
def _failed_notebook(path: Path, tags: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("x = 1")
    ok.execution_count = 4
    bad = nbformat.v4.new_code_cell("train_data = load_split(cfg)\nmore()")
    bad.execution_count = 5
    bad.metadata["tags"] = tags
    bad.outputs = [nbformat.v4.new_output("error", ename="DataError", evalue="x", traceback=[])]
    nb.cells = [ok, bad]
    nbformat.write(nb, str(path))


def test_failure_message_names_notebook_cell_tag_and_exception(tmp_path: Path) -> None:
    from papermill.exceptions import PapermillExecutionError

    error = PapermillExecutionError(
        cell_index=1,
        exec_count=5,
        source="train_data = load_split(cfg)\nmore()",
        ename="DataError",
        evalue="data/x.json: annotation file not found\nsecond line",
        traceback=["..."],
    )
    out = tmp_path / "03_training.ipynb"
    _failed_notebook(out, ["load-data"])
    msg = describe_failure("03_training", error, out)
    assert msg == (
        "notebook 03_training failed in cell 5 (load-data): "
        "DataError: data/x.json: annotation file not found"
    )
    _failed_notebook(out, [])
    msg = describe_failure("03_training", error, out)
    assert "failed in cell 5 (train_data = load_split(cfg)): DataError:" in msg
    other = describe_failure("03_training", RuntimeError("Kernel died\nmore"), out)
    assert other == "notebook 03_training failed: RuntimeError: Kernel died"


def _run_args(tmp_path: Path, data_root: Path, run: str) -> list[str]:
    return [
        "pipeline",
        "-p",
        "data_root",
        str(data_root),
        "--run",
        run,
        "--reports-dir",
        str(tmp_path / "reports"),
        "-o",
        f"train.save_dir={tmp_path / 'checkpoints'}",
        "--quiet",
    ]


@pytest.mark.slow
def test_failing_notebook_gives_one_line_error_and_keeps_the_executed_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simdr_lib.cli import main

    run_dir = tmp_path / "reports" / "broken"
    rc = main(_run_args(tmp_path, tmp_path / "no_such_dataset", "broken"))
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err_lines) == 1, err_lines
    line = err_lines[0]
    assert line.startswith("error: notebook 01_data_prep failed in cell ")
    assert "(setup): DataError: data_root " in line and "no_such_dataset" in line
    executed = nbformat.read(str(run_dir / "01_data_prep.ipynb"), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].ename == "DataError"
    assert not (run_dir / "02_model.ipynb").exists()
    state = json.loads((run_dir / "pipeline_state.json").read_text())
    assert state["status"] == "failed"
    assert state["notebooks"]["01_data_prep"]["status"] == "failed"
    assert state["error"] == line.removeprefix("error: ")
    assert not (run_dir / "report.html").exists() and not (run_dir / "report.json").exists()

    # A stale report is removed, never left looking complete, when the rerun fails again;
    # changed parameters after a run where nothing completed start it over.
    (run_dir / "report.html").write_text("<html>stale</html>")
    rc = main(_run_args(tmp_path, tmp_path / "still_missing", "broken"))
    captured = capsys.readouterr()
    assert rc != 0 and "starting over" in captured.out
    assert "still_missing" in captured.err and not (run_dir / "report.html").exists()


def _completed_state(run_dir: Path, parameters: dict) -> None:
    run_dir.mkdir(parents=True)
    state = {
        "parameters": parameters,
        "config_sha256": "x",
        "status": "completed",
        "notebooks": {p.stem: {"status": "completed"} for p in BOOKS},
    }
    (run_dir / "pipeline_state.json").write_text(json.dumps(state))


def test_changed_parameters_are_refused_with_a_hint(tmp_path: Path) -> None:
    _completed_state(tmp_path / "reports" / "r", {"epochs": 1})
    with pytest.raises(PipelineError, match=r"other parameters \(.*epochs: 1 -> 7.*--force"):
        run_pipeline(
            {"run_name": "r", "epochs": 7, "reports_dir": str(tmp_path / "reports")}, stream=None
        )


def test_force_refuses_to_delete_a_folder_the_pipeline_did_not_make(tmp_path: Path) -> None:
    other = tmp_path / "reports" / "bench"
    other.mkdir(parents=True)
    (other / "speed.json").write_text("{}")
    with pytest.raises(PipelineError, match="not a pipeline run folder"):
        run_pipeline(
            {"run_name": "bench", "reports_dir": str(tmp_path / "reports")}, force=True, stream=None
        )
    assert (other / "speed.json").is_file()


def test_a_run_held_by_a_live_pipeline_is_refused(tmp_path: Path) -> None:
    from simdr_lib.run_lock import RunLock, RunLockError

    run_dir = tmp_path / "reports" / "busy"
    with RunLock(run_dir, "simdr pipeline"):  # a flock on another descriptor, as another process
        with pytest.raises(RunLockError, match=r"busy: in use by `simdr pipeline` \(pid \d+\)"):
            run_pipeline(
                {"run_name": "busy", "reports_dir": str(tmp_path / "reports")}, stream=None
            )
    assert not run_dir.exists()


# ----------------------------------------------------------------------------- plumbing
def test_kernel_runs_on_this_interpreter(tmp_path: Path) -> None:
    from simdr_lib.pipeline.kernel import _kernel_manager_class

    km = _kernel_manager_class()(kernel_name="python3")
    km.connection_file = str(tmp_path / "kernel.json")
    cmd = km.format_kernel_cmd()
    assert cmd[:3] == [sys.executable, "-m", "ipykernel_launcher"]
    assert cmd[-2:] == ["-f", str(tmp_path / "kernel.json")]


def test_kernel_stderr_goes_to_the_given_file_not_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import papermill as pm

    from simdr_lib.pipeline.kernel import _kernel_manager_class

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "py"}
    nb.cells = [nbformat.v4.new_code_cell("import os\nos.write(2, b'kernel-stderr-marker\\n')")]
    book = tmp_path / "book.ipynb"
    nbformat.write(nb, str(book))
    log_path = tmp_path / "kernel.log"
    with open(log_path, "w", encoding="utf-8") as log:
        pm.execute_notebook(
            str(book),
            str(tmp_path / "out.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            kernel_manager_class=_kernel_manager_class(log),
        )
    assert "kernel-stderr-marker" in log_path.read_text(encoding="utf-8")
    out, err = capfd.readouterr()
    assert "kernel-stderr-marker" not in out + err


def test_notebook_output_is_indented_line_by_line() -> None:
    from simdr_lib.pipeline.kernel import _Prefixed

    buf = io.StringIO()
    out = _Prefixed(buf, "  > ")
    out.write("epoch 1\nepo")
    out.write("ch 2\r\n\npartial")
    out.close()
    assert buf.getvalue() == "  > epoch 1\n  > epoch 2\n  > partial\n"


def test_cli_pipeline_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from simdr_lib.cli import build_parser, main

    args = build_parser().parse_args(
        ["pipeline", "-p", "epochs", "3", "--run", "x", "-o", "train.lr=0.1", "--force"]
    )
    assert callable(args.func) and args.force and args.run == "x"
    assert args.parameter == [["epochs", "3"]] and args.opt == ["train.lr=0.1"]
    assert main(["pipeline", "--list", "-p", "epochs", "3", "-o", "train.lr=0.1"]) == 0
    out = capsys.readouterr().out
    assert "03_training:" in out and '"epochs": 3' in out and '"train.lr": 0.1' in out
    assert main(["pipeline", "--list", "-p", "epoch", "3"]) == 2
    assert "unknown notebook parameter 'epoch'" in capsys.readouterr().err


def test_dataset_mpii_alone_runs_and_fingerprints_the_mpii_demo_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simdr_lib.cli import main
    from simdr_lib.pipeline.driver import _plan, _start
    from simdr_lib.pipeline.state import RunState, sha256

    out = io.StringIO()
    params = {"dataset": "mpii", "run_name": "m", "reports_dir": str(tmp_path / "reports")}
    job = _plan(params, ["01_data_prep"], ROOT, out, False, "python3", 1.0)
    assert job.config == ROOT / "configs" / "demo_tiny_mpii.yml"
    assert job.config_hash == sha256(job.config) != sha256(ROOT / "configs" / "demo_tiny.yml")
    state = RunState.new("m", job.params, job.config_hash, job.ckpt_dir, job.names)
    _start(job, state, job.names, [])
    assert "(config configs/demo_tiny_mpii.yml, kernel " in out.getvalue()
    assert main(["pipeline", "--list", "-p", "dataset", "mpii"]) == 0
    assert "config file: configs/demo_tiny_mpii.yml" in capsys.readouterr().out
    explicit = dict(params, config="configs/simdr_hrnet_w32_256x256_mpii.yml")
    job = _plan(explicit, ["01_data_prep"], ROOT, None, False, "python3", 1.0)
    assert job.config == ROOT / "configs" / "simdr_hrnet_w32_256x256_mpii.yml"
    with pytest.raises(ConfigError, match="dataset 'lsp': expected coco or mpii"):
        run_pipeline(dict(params, dataset="lsp"), stream=None)
    assert not (tmp_path / "reports" / "m" / "01_data_prep.ipynb").exists()


def test_run_state_file_round_trips_unchanged(tmp_path: Path) -> None:
    from simdr_lib.pipeline.state import RunState

    stored = {  # a state file as earlier versions wrote it, plus a key this one does not know
        "version": 1,
        "run": "r",
        "parameters": {"epochs": 1},
        "config_sha256": "abc",
        "checkpoint_dir": "checkpoints/r",
        "status": "failed",
        "notebooks": {"01_data_prep": {"status": "failed", "seconds": 1.5, "error": "x"}},
        "wall_time_s": 3.0,
        "created": "2026-01-01T00:00:00",
        "error": "x",
        "future_key": [1, 2],
    }
    path = tmp_path / "pipeline_state.json"
    path.write_text(json.dumps(stored))
    state = RunState.read(path)
    assert state is not None and state.completed() == [] and state.checkpoint_dir == "checkpoints/r"
    assert state.first_not_completed(["01_data_prep"]) == 0
    state.write(path)
    assert json.loads(path.read_text()) == stored
    assert RunState.read(tmp_path / "missing.json") is None
