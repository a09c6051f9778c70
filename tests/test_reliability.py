"""Nothing a user gives the tools deletes data, and faults are one line that loses nothing:
run locks, ``--force`` and ``--overwrite``, stale temporary files, disk full, file-size limits,
read-only folders, file modes, undefined AP, stale report inputs."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, cli_overrides, tiny_overrides
from weights_helpers import tree

from simdr_lib.cli import main
from simdr_lib.run_lock import RunLock, RunLockError, lock_path

CONFIG = str(ROOT / "configs" / "demo_tiny.yml")


@pytest.fixture()
def opts(small_dataset: Path, tmp_path: Path) -> list[str]:
    values = tiny_overrides(small_dataset, tmp_path / "ckpt", **{"train.epochs": 1})
    return cli_overrides(values)


def _one_line(capsys: pytest.CaptureFixture, rc: int) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _train(opts: list[str], *extra: str) -> int:
    return main(["train", "-c", CONFIG, *opts, "--quiet", *extra])


# ----------------------------------------------------------------------------- runs and locks
def test_a_run_is_never_silently_replaced(opts, tmp_path, capsys) -> None:
    run_dir = tmp_path / "ckpt" / "demo_tiny"
    assert _train(opts) == 0
    (run_dir / "best.pdparams").write_bytes(b"a best checkpoint of an earlier --eval run")
    before = tree(run_dir)
    capsys.readouterr()
    err = _one_line(capsys, _train(opts))
    assert f"{run_dir}: already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert tree(run_dir) == before
    assert _train(opts, "--overwrite") == 0
    assert "--overwrite: removed last.pdckpt, best.pdparams" in capsys.readouterr().out
    assert not (run_dir / "best.pdparams").exists()  # no stale best of the replaced run


def test_a_second_process_on_the_same_run_is_refused_until_the_first_dies(opts, tmp_path, capsys):
    run_dir = tmp_path / "ckpt" / "demo_tiny"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom simdr_lib.run_lock import RunLock\n"
            f"with RunLock({str(run_dir)!r}, 'simdr train'):\n"
            "    print('held', flush=True)\n    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        err = _one_line(capsys, _train(opts))
        assert f"{run_dir}: in use by `simdr train` (pid {holder.pid})" in err
        assert not run_dir.exists()
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock; no stale lock to clear by hand
        holder.wait()
    assert _train(opts) == 0
    assert not lock_path(run_dir).exists()  # released and removed after a clean exit


def test_run_lock_is_exclusive_and_names_its_holder(tmp_path) -> None:
    folder = tmp_path / "reports" / "r"
    with RunLock(folder, "simdr pipeline"):
        assert "`simdr pipeline` (pid" in lock_path(folder).read_text()
        with pytest.raises(RunLockError, match=r"r: in use by `simdr pipeline` \(pid \d+\)"):
            with RunLock(folder, "simdr pipeline"):
                pass
    with RunLock(folder, "simdr pipeline"):  # free again
        pass
    assert not folder.exists()  # the lock never creates the run folder itself


def test_training_into_a_folder_simdr_did_not_make_is_refused(small_dataset, tmp_path, capsys):
    dataset = tmp_path / "data" / "r"
    (dataset / "annotations").mkdir(parents=True)
    (dataset / "annotations" / "train.json").write_text("{}")
    values = tiny_overrides(small_dataset, tmp_path / "data", **{"name": "r"})
    before = tree(tmp_path / "data")
    err = _one_line(capsys, _train(cli_overrides(values)))
    assert "holds files simdr did not write (first: annotations)" in err
    assert tree(tmp_path / "data") == before


def _completed_state(run_dir: Path, ckpt_dir: Path) -> None:
    run_dir.mkdir(parents=True)
    state = {"parameters": {}, "status": "completed", "checkpoint_dir": str(ckpt_dir)}
    state["notebooks"] = {"01_data_prep": {"status": "completed"}}
    (run_dir / "pipeline_state.json").write_text(json.dumps(state))
    (run_dir / "01_data_prep.ipynb").write_text("{}")


def test_force_never_deletes_a_folder_simdr_did_not_make(tmp_path) -> None:
    from simdr_lib.pipeline import PipelineError, run_pipeline

    dataset = tmp_path / "data" / "r"  # `-o train.save_dir=data`: <save_dir>/<run> is data
    (dataset / "images").mkdir(parents=True)
    (dataset / "images" / "0001.jpg").write_bytes(b"not really")
    reports = tmp_path / "reports"
    _completed_state(reports / "r", dataset)
    before = tree(tmp_path)
    params = {"run_name": "r", "reports_dir": str(reports)}
    params["overrides"] = {"train.save_dir": str(tmp_path / "data")}
    with pytest.raises(PipelineError, match=r"holds files simdr did not write \(first: images\)"):
        run_pipeline(params, force=True, stream=None)
    assert tree(tmp_path) == before  # neither the data nor the reports were touched


def test_force_takes_the_run_lock_and_spares_a_running_train(tmp_path) -> None:
    from simdr_lib.pipeline import PipelineError, run_pipeline

    ckpt = tmp_path / "checkpoints" / "r"
    ckpt.mkdir(parents=True)
    (ckpt / "last.pdckpt").write_bytes(b"checkpoint of a running training")
    reports = tmp_path / "reports"
    _completed_state(reports / "r", ckpt)
    params = {"run_name": "r", "reports_dir": str(reports)}
    params["overrides"] = {"train.save_dir": str(tmp_path / "checkpoints")}
    before = tree(tmp_path)
    with RunLock(reports / "r", "simdr pipeline"):
        with pytest.raises(RunLockError, match="in use by `simdr pipeline`"):
            run_pipeline(params, force=True, stream=None)
    with RunLock(ckpt, "simdr train"):
        with pytest.raises(PipelineError, match="in use by a running `simdr train`"):
            run_pipeline(params, force=True, stream=None)
    assert tree(tmp_path) == before


# ----------------------------------------------------------------------------- temporaries
def test_temporaries_of_a_killed_save_are_removed_by_the_next_run(opts, tmp_path, capsys):
    run_dir = tmp_path / "ckpt" / "demo_tiny"
    assert _train(opts) == 0
    (run_dir / ".last.pdckpt.k3x9q2.tmp").write_bytes(b"\0" * 600_000)  # this version's name
    (run_dir / "last.pdckpt.tmp").write_bytes(b"\0" * 400_000)  # the fixed name before
    capsys.readouterr()
    assert _train(opts, "--resume", "-o", "train.epochs=2") == 0
    assert (
        "removed 2 temporary file(s) (1.0 MB) left by an interrupted save"
        in capsys.readouterr().out
    )
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*.tmp"))


def test_an_interrupted_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    import paddle

    from simdr_lib.engine.checkpoint import atomic_paddle_save

    target = tmp_path / "last.pdckpt"
    atomic_paddle_save({"epoch": 1}, target)
    before = target.read_bytes()

    def dies_half_way(obj, path):
        Path(path).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(paddle, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        atomic_paddle_save({"epoch": 2}, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pdckpt"]


# ----------------------------------------------------------------------------- write faults
@contextlib.contextmanager
def _tmpfs(mount_point: Path, options: str):
    """A tmpfs at ``mount_point`` (root only); skips the test with the reason otherwise."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (not root here)")
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_is_one_line_and_keeps_the_last_checkpoint(opts, tmp_path, capsys) -> None:
    from simdr_lib.weights import read_checkpoint

    assert _train(opts) == 0
    size = (tmp_path / "ckpt" / "demo_tiny" / "last.pdckpt").stat().st_size
    # room for one checkpoint, not for its successor's temporary file next to it
    with _tmpfs(tmp_path / "full", f"size={int(size * 1.6)}") as full:
        capsys.readouterr()
        rc = _train(opts, "-o", f"train.save_dir={full}", "-o", "train.epochs=3")
        err = _one_line(capsys, rc)
        run_dir = full / "demo_tiny"
        assert f"{run_dir}/" in err and "disk full (no space left on device)" in err
        assert read_checkpoint(run_dir / "last.pdckpt")["epoch"] >= 1  # the previous one
        assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_file_size_limit_is_one_line(opts, tmp_path) -> None:
    assert _train(opts) == 0
    size = (tmp_path / "ckpt" / "demo_tiny" / "last.pdckpt").stat().st_size
    limit = size // 2

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    save_dir = tmp_path / "capped"
    cmd = [sys.executable, "-m", "simdr_lib", "train", "-c", CONFIG, *opts, "--quiet"]
    done = subprocess.run(
        [*cmd, "-o", f"train.save_dir={save_dir}"],
        capture_output=True,
        text=True,
        preexec_fn=cap,
        cwd=ROOT,
    )
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1, done.stderr
    assert "file too large (file-size limit)" in err[0] and str(save_dir) in err[0]
    assert not list(save_dir.rglob("*.tmp"))


def test_read_only_outputs_are_one_line_each(opts, small_dataset, tmp_path, capsys) -> None:
    assert _train(opts) == 0
    weights = tmp_path / "ckpt" / "demo_tiny" / "model_final.pdparams"
    image = sorted((small_dataset / "images" / "val").iterdir())[0]
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        commands = {
            "prepare": ["prepare", "--synthetic", "--root", str(ro / "syn"), "--num-train", "2"],
            "train": ["train", "-c", CONFIG, *opts, "-o", f"train.save_dir={ro}", "--quiet"],
            "eval": ["eval", "-c", CONFIG, *opts, "-o", f"weights={weights}", "--quiet"]
            + ["--output_dir", str(ro / "eval")],
            "export": ["export", "-c", CONFIG, *opts, "-o", f"weights={weights}"]
            + ["--output_dir", str(ro / "export")],
            "infer": ["infer", "-c", CONFIG, *opts, "-o", f"weights={weights}", "--quiet"]
            + ["--input", str(image), "--output_dir", str(ro / "infer")],
            "pipeline": ["pipeline", "--run", "r", "--reports-dir", str(ro / "reports")]
            + ["-p", "data_root", str(small_dataset), "--quiet"],
            "convert": ["convert", str(weights), str(ro / "w.pdparams")],
        }
        for name, args in commands.items():
            capsys.readouterr()
            err = _one_line(capsys, main(args))
            assert "read-only file system" in err and str(ro) in err, (name, err)


def test_files_respect_the_umask(tmp_path) -> None:
    from simdr_lib.atomic_io import write_json_atomic
    from simdr_lib.engine.checkpoint import atomic_paddle_save

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {})
        atomic_paddle_save({"x": 1}, tmp_path / "a.pdparams")
        assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o644}
        os.umask(0o077)
        write_json_atomic(tmp_path / "b.json", {})
        assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- results
def test_a_validation_set_without_people_has_no_ap(opts, small_dataset, tmp_path, capsys):
    data = json.loads((small_dataset / "annotations" / "person_keypoints_val.json").read_text())
    data["annotations"] = []
    empty = tmp_path / "empty_val.json"
    empty.write_text(json.dumps(data))
    no_people = [*opts, "-o", f"data.val_ann={empty}"]
    err = _one_line(capsys, _train(no_people, "--eval"))
    assert f"{empty}: no usable people to evaluate" in err and "AP is undefined" in err
    assert not (tmp_path / "ckpt" / "demo_tiny").exists()  # failed before training
    assert _train(opts) == 0
    weights = tmp_path / "ckpt" / "demo_tiny" / "model_final.pdparams"
    err = _one_line(capsys, main(["eval", "-c", CONFIG, *no_people, "-o", f"weights={weights}"]))
    assert "AP is undefined" in err


def _notebook(path: Path, writes: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'run_name = "demo"\nreports_dir = "reports"\nconfig = "configs/demo_tiny.yml"'
    )
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import json, pathlib\n"
        "folder = pathlib.Path(reports_dir) / run_name\n"
        f"(folder / {writes!r}).write_text(json.dumps({{}}))"
    )
    nb.cells = [params, body]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))


@pytest.mark.slow
def test_a_deleted_notebook_leaves_no_old_results_in_the_report(tmp_path) -> None:
    from simdr_lib.pipeline import run_pipeline

    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "configs").mkdir()
    (root / "configs" / "demo_tiny.yml").write_text(
        (ROOT / "configs" / "demo_tiny.yml").read_text()
    )
    _notebook(root / "notebooks" / "01_data_prep.ipynb", "dataset_stats.json")
    _notebook(root / "notebooks" / "04_evaluation.ipynb", "metrics.json")
    first = run_pipeline({}, root=root, stream=None)
    assert (first.run_dir / "metrics.json").is_file()
    (root / "notebooks" / "04_evaluation.ipynb").unlink()
    second = run_pipeline({}, root=root, stream=None)
    assert not (second.run_dir / "metrics.json").exists()
    assert not (second.run_dir / "04_evaluation.ipynb").exists()
    # no AP from the earlier run: the report says the evaluation did not run in this one
    assert second.report.ap is None and "04_evaluation has not run" in second.report.summary
