"""CPU parallelism defaults: the threads a training run starts, 1-core machines, the knob."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, tiny_overrides

from simdr_lib import device
from simdr_lib.config import load_config
from simdr_lib.errors import ConfigError

DEMO = ROOT / "configs" / "demo_tiny.yml"


@pytest.fixture()
def thread_calls(monkeypatch: pytest.MonkeyPatch):
    """Every ``set_cpu_threads`` call of the run (passed through to Paddle), reset after."""
    calls: list[int] = []
    real = device.set_cpu_threads

    def spy(n: int) -> None:
        calls.append(n)
        real(n)

    monkeypatch.setattr(device, "set_cpu_threads", spy)
    yield calls
    real(1)  # process-wide: leave the next test the single-thread state it expects


def test_auto_threads_rule() -> None:
    rule = device.training_cpu_threads
    assert rule(0, "hrnet_w32", ranks=1, cores=2) == 1  # 2 threads measured slower on 2 cores
    assert rule(0, "hrnet_w32", ranks=1, cores=4) == 4  # a share above 2 cores: all of it
    assert rule(0, "hrnet_w32", ranks=2, cores=8) == 4  # cores shared among ranks
    assert rule(0, "hrnet_w32", ranks=2, cores=2) == 1
    assert rule(0, "hrnet_w32", ranks=4, cores=2) == 1
    assert rule(0, "tiny", ranks=1, cores=8) == 1  # measured faster on one thread
    assert rule(3, "tiny", ranks=1, cores=2) == 3  # an explicit value is used as given
    assert rule(0, "hrnet_w32", ranks=1, cores=1) == 1


def _train_short(tmp_path: Path, small_dataset: Path, **extra: object) -> dict:
    from simdr_lib.engine.train import train

    over = tiny_overrides(small_dataset, tmp_path, **{"train.epochs": 1, **extra})
    result = train(load_config(DEMO, over), progress=False)
    return json.loads((result.run_dir / "train_summary.json").read_text())


@pytest.mark.parametrize(
    ("cores", "threads"),
    [
        (4, 4),  # a share above 2 cores: every core runs
        (2, 1),  # on 2 cores a second intra-op thread was measured slower
    ],
)
def test_cpu_default_threads_are_set_logged_recorded(
    cores: int,
    threads: int,
    small_dataset: Path,
    tmp_path: Path,
    thread_calls: list[int],
    monkeypatch,
    capsys,
) -> None:
    """Auto threads on a backbone that splits: the chosen count is set, logged and recorded."""
    monkeypatch.setattr(device, "available_cores", lambda: cores)
    monkeypatch.setattr(device, "SINGLE_THREAD_BACKBONES", ())
    summary = _train_short(tmp_path, small_dataset)
    assert thread_calls == [threads]
    assert (summary["cpu_cores"], summary["cpu_threads"], summary["ranks"]) == (cores, threads, 1)
    assert f"{cores} core(s), 1 rank(s) x {threads} intra-op thread(s)" in capsys.readouterr().out


def test_tiny_backbone_default_is_one_thread(
    small_dataset: Path, tmp_path: Path, thread_calls: list[int], monkeypatch
) -> None:
    monkeypatch.setattr(device, "available_cores", lambda: 2)
    summary = _train_short(tmp_path, small_dataset)
    assert thread_calls == [1]
    assert (summary["cpu_cores"], summary["cpu_threads"]) == (2, 1)


def test_one_core_machine_trains(
    small_dataset: Path, tmp_path: Path, thread_calls: list[int], monkeypatch
) -> None:
    """The auto-ranks default on 1 core: 1 rank, trained in this process."""
    monkeypatch.setattr(device, "available_cores", lambda: 1)
    monkeypatch.setattr(device, "SINGLE_THREAD_BACKBONES", ())
    summary = _train_short(tmp_path, small_dataset, **{"train.ranks": 0})
    assert thread_calls == [1]
    assert (summary["cpu_cores"], summary["cpu_threads"], summary["ranks"]) == (1, 1, 1)
    assert summary["epochs_done"] == 1


def test_explicit_threads_knob(
    small_dataset: Path, tmp_path: Path, thread_calls: list[int]
) -> None:
    summary = _train_short(tmp_path, small_dataset, **{"train.cpu_threads": 2})
    assert thread_calls == [2] and summary["cpu_threads"] == 2


def test_available_cores_is_positive() -> None:
    assert device.available_cores() >= 1


@pytest.mark.parametrize("value", ["-1", "2000", "two"])
def test_cpu_threads_knob_is_validated(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, [f"train.cpu_threads={value}"])
    message = str(err.value)
    assert "\n" not in message and "cpu_threads" in message


# ----------------------------------------------------------------------------- inference
@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny model (48x64) exported without ONNX."""
    import paddle

    from simdr_lib.deploy import export_model
    from simdr_lib.factory import model_from_config

    base = tmp_path_factory.mktemp("export")
    over = {"codec.input_size": [48, 64], "model.tiny_width": 16, "device": "cpu"}
    cfg = load_config(DEMO, over)
    paddle.seed(1)
    weights = base / "w.pdparams"
    paddle.save(model_from_config(cfg).state_dict(), str(weights))
    return export_model(cfg, weights, base / "model")


def test_paddle_inference_default_uses_all_cores(export_dir: Path, monkeypatch) -> None:
    """The old default was 1 thread; it is now every core the process may use."""
    from simdr_lib.deploy import predictor as predictor_module

    monkeypatch.setattr(predictor_module, "available_cores", lambda: 2)
    pred = predictor_module.load_predictor(export_dir)
    assert pred.backend.startswith("paddle-inference") and "threads=2" in pred.backend
    pred = predictor_module.load_predictor(export_dir, cpu_threads=1)
    assert "threads=1" in pred.backend


def test_auto_backend_rule(export_dir: Path, tmp_path: Path) -> None:
    """onnxruntime on CPU when installed and the folder has model.onnx, else Paddle."""
    import importlib.util
    import shutil

    from simdr_lib.deploy.infer_config import read_infer_config
    from simdr_lib.deploy.predictor import choose_backend

    info = read_infer_config(export_dir)
    assert choose_backend(export_dir, info) == "paddle"  # no model.onnx
    with_onnx = tmp_path / "with_onnx"
    shutil.copytree(export_dir, with_onnx)
    (with_onnx / "model.onnx").write_bytes(b"not read by the rule")
    ort = importlib.util.find_spec("onnxruntime") is not None
    assert choose_backend(with_onnx, info) == ("onnx" if ort else "paddle")
    assert choose_backend(with_onnx, info, "gpu") == "paddle"


def test_people_of_several_images_share_a_batch(
    export_dir: Path, small_dataset: Path, tmp_path: Path
) -> None:
    """12 images x 1 person at batch 8: 2 batches (x2 with the flip test), not 12; the same
    keypoints as one image at a time."""
    from simdr_lib.data.images import load_image
    from simdr_lib.deploy.predictor import load_predictor
    from simdr_lib.infer import jobs_from_paths, run_inference

    jobs, failed = jobs_from_paths(small_dataset / "images" / "val")
    assert len(jobs) == 12
    predictor = load_predictor(export_dir, batch_size=8)
    summary = run_inference(predictor, jobs, tmp_path / "out", draw=False, progress=False)
    assert summary.processed == 12 and summary.people == 12 and not failed
    assert predictor.runs == 2 * 2  # ceil(12 / 8) batches, each run plain and flipped
    one = load_predictor(export_dir, batch_size=1)
    kps, _ = one.predict_image(load_image(jobs[5].path), None, flip_test=True)
    got = np.array(summary.results[5]["keypoints"]).reshape(-1, 3)[:, :2]
    assert np.abs(got - kps[0]).max() < 1e-3


# ----------------------------------------------------------------------------- CPU ranks
def _train_cli(over: dict[str, object], *flags: str) -> str:
    """``python -m simdr_lib train`` with ``over``; its output (fails the test on an error)."""
    import subprocess
    import sys

    from conftest import cli_overrides

    cmd = [sys.executable, "-m", "simdr_lib", "train", "-c", str(DEMO), "--quiet"]
    proc = subprocess.run(
        [*cmd, *cli_overrides(over), *flags], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_auto_ranks_rule() -> None:
    rule = device.training_ranks
    assert rule(0, "cpu", cores=2, batch_size=32) == 2  # one rank per core
    assert rule(0, "cpu", cores=1, batch_size=32) == 1
    assert rule(0, "gpu", cores=8, batch_size=32) == 1  # GPUs: launched by the user
    assert rule(0, "cpu", cores=8, batch_size=32) == 4  # at least 8 images per rank
    assert rule(0, "cpu", cores=3, batch_size=32) == 2  # ranks divide the batch
    assert rule(0, "cpu", cores=4, batch_size=8) == 1
    assert rule(3, "cpu", cores=2, batch_size=33) == 3  # an explicit value is used as given


def test_cpu_ranks_reduce_the_whole_gradient_in_one_bucket() -> None:
    import paddle

    from simdr_lib.engine.train_setup import one_bucket_mb

    layer = paddle.nn.Linear(1000, 600)  # 600,600 float32 parameters: 2.29 MiB
    assert one_bucket_mb(layer) == 3
    assert one_bucket_mb(paddle.nn.Linear(4, 2)) == 1  # never 0 (Paddle's limit must be > 0)


def test_auto_ranks_only_on_linux(tiny_cfg, monkeypatch) -> None:
    from simdr_lib.engine import rank_launch

    auto = tiny_cfg.with_overrides({"train.ranks": 0})
    monkeypatch.setattr(device, "available_cores", lambda: 2)
    monkeypatch.setattr(rank_launch.sys, "platform", "linux")
    assert rank_launch.planned_ranks(auto) == 2
    monkeypatch.setattr(rank_launch.sys, "platform", "darwin")
    assert rank_launch.planned_ranks(auto) == 1
    assert rank_launch.planned_ranks(auto.with_overrides({"train.ranks": 2})) == 2  # as asked


def _auto_ranks_overrides(small_dataset: Path, save_dir: Path) -> dict[str, object]:
    """tiny_overrides with the default train.ranks (auto) and 2-step epochs."""
    over = tiny_overrides(small_dataset, save_dir, **{"train.max_steps_per_epoch": 2})
    del over["train.ranks"]
    return over


def test_cpu_default_starts_one_rank_per_core_and_resumes_exactly(
    small_dataset: Path, tmp_path: Path
) -> None:
    """``simdr train`` with no ranks setting runs one rank per core (here: 2 ranks x 1
    thread, 8 of the 16 images of a step each), says so in the run log and the summary; 1
    epoch + resume to 2 gives the weights of 2 epochs in one go."""
    import paddle

    ranks = device.training_ranks(0, "cpu", device.available_cores(), batch_size=16)
    over = _auto_ranks_overrides(small_dataset, tmp_path / "a")
    out = _train_cli(over)
    assert f"{ranks} rank(s) x 1 intra-op thread(s)" in out
    summary = json.loads((tmp_path / "a" / "demo_tiny" / "train_summary.json").read_text())
    got = (summary["ranks"], summary["batch_per_rank"], summary["epochs_done"])
    assert got == (ranks, 16 // ranks, 2)
    over_b = {**over, "train.save_dir": str(tmp_path / "b"), "train.epochs": 1}
    _train_cli(over_b)
    _train_cli({**over_b, "train.epochs": 2}, "--resume")
    ref = paddle.load(str(tmp_path / "a" / "demo_tiny" / "model_final.pdparams"))
    got = paddle.load(str(tmp_path / "b" / "demo_tiny" / "model_final.pdparams"))
    for key, value in ref.items():
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(value), atol=1e-6)


def test_nan_guard_stops_every_rank_and_keeps_the_checkpoint(
    small_dataset: Path, tmp_path: Path
) -> None:
    """In the multi-rank default, a loss that turns non-finite (an absurd LR from the 2nd step
    of epoch 2 on: its 3rd step's loss) stops every rank with one line naming epoch 2;
    last.pdckpt of epoch 1 stays as it was."""
    import subprocess
    import sys

    from conftest import cli_overrides

    over = {**_auto_ranks_overrides(small_dataset, tmp_path), "train.ranks": 2}
    over.update({"train.epochs": 1, "train.max_steps_per_epoch": 3})
    _train_cli(over)
    ckpt = tmp_path / "demo_tiny" / "last.pdckpt"
    before = ckpt.read_bytes()
    bad = {**over, "train.epochs": 2, "train.lr": "1.0e+30"}
    cmd = [sys.executable, "-m", "simdr_lib", "train", "-c", str(DEMO), "--quiet", "--resume"]
    proc = subprocess.run(
        [*cmd, *cli_overrides(bad)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: loss is"), proc.stderr
    assert "at epoch 2 step" in errors[0] and "kept at" in errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert ckpt.read_bytes() == before


def test_ranks_stop_when_their_starter_is_killed(small_dataset: Path, tmp_path: Path) -> None:
    """A killed notebook kernel (SIGKILL of the process that started the ranks) leaves no rank
    training on: the ranks stop within seconds, and the run resumes from its checkpoint."""
    import subprocess
    import sys
    import time

    from conftest import cli_overrides

    over = {**_auto_ranks_overrides(small_dataset, tmp_path), "train.ranks": 2}
    over.update({"train.epochs": 50, "train.max_steps_per_epoch": 0})
    cmd = [sys.executable, "-m", "simdr_lib", "train", "-c", str(DEMO), "--quiet"]
    proc = subprocess.Popen([*cmd, *cli_overrides(over)], cwd=ROOT, stdout=subprocess.DEVNULL)
    log = tmp_path / "demo_tiny" / "train_log.csv"
    deadline = time.monotonic() + 120
    while not log.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert log.exists() and proc.poll() is None
    proc.kill()
    proc.wait()

    def ranks_left() -> list[str]:
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        return [line for line in ps.splitlines() if "simdr_ranks_" in line and str(ROOT) in line]

    deadline = time.monotonic() + 30
    while ranks_left() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ranks_left() == []
    out = _train_cli({**over, "train.epochs": 2}, "--resume")
    assert "resumed from" in out


def test_in_process_call_reports_every_epoch_of_the_ranks(
    small_dataset: Path, tmp_path: Path
) -> None:
    """``train()`` as notebook 03 calls it, with 2 ranks: ``on_epoch_end`` sees each epoch and
    the result holds the model of ``model_final.pdparams``."""
    import paddle

    from simdr_lib.engine.train import train

    over = {**_auto_ranks_overrides(small_dataset, tmp_path), "train.ranks": 2}
    rows: list[dict] = []
    result = train(load_config(DEMO, over), do_eval=True, progress=False, on_epoch_end=rows.append)
    assert [int(r["epoch"]) for r in rows] == [1, 2] and all(np.isfinite(r["loss"]) for r in rows)
    assert [r["epoch"] for r in result.history] == [1, 2] and result.epochs_done == 2
    saved = paddle.load(str(result.final_weights))
    for key, value in result.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), np.asarray(saved[key]), err_msg=key)


def test_ranks_flag_is_validated(tiny_cfg, capsys) -> None:
    from simdr_lib.cli import main

    rc = main(["train", "-c", str(DEMO), "-o", "device=cpu", "--ranks", "100"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "train.ranks must be in [0, 64], got 100" in err and "\n" not in err
    rc = main(["train", "-c", str(DEMO), "-o", "device=cpu", "--ranks", "3"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "train.batch_size 32 must split evenly across train.ranks 3" in err
