"""Every entry point that reads weights refuses a file whose pickle would run code: one line,
the payload never runs (no marker file), and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, cli_overrides, tiny_overrides
from weights_helpers import (
    evil_checkpoint,
    evil_paddle_weights,
    evil_pth_legacy,
    evil_pth_zip,
    numpy_state,
    payload_is_live,
    tree,
)

from simdr_lib.cli import main

CONFIG = str(ROOT / "configs" / "demo_tiny.yml")


@pytest.fixture()
def setup(small_dataset: Path, tmp_path: Path) -> dict:
    """A tiny config's CLI options, a crafted .pdparams for its model, and the marker."""
    from simdr_lib.config import load_config
    from simdr_lib.factory import model_from_config

    values = tiny_overrides(small_dataset, tmp_path / "ckpt")
    cfg = load_config(CONFIG, tiny_overrides(small_dataset, tmp_path / "ckpt"))
    marker = tmp_path / "pwned"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    evil = evil_paddle_weights(
        downloads / "model.pdparams", marker, numpy_state(model_from_config(cfg))
    )
    assert payload_is_live(evil, marker)  # an unrestricted load would run it
    return {
        "opts": cli_overrides(values),
        "evil": evil,
        "marker": marker,
        "base": tmp_path,
        "cfg": cfg,
    }


def _refused(capsys: pytest.CaptureFixture, rc: int, marker: Path) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert "refused to load: the file asks to call " in err and "nothing from the file" in err
    assert not marker.exists(), "the payload ran"
    return err


@pytest.mark.parametrize("kind", ["pdparams", "pth-zip", "pth-legacy"])
def test_eval(kind: str, setup: dict, capsys) -> None:
    evil = setup["evil"]
    if kind != "pdparams":
        evil.unlink()
        writer = evil_pth_zip if kind == "pth-zip" else evil_pth_legacy
        evil = writer(evil.with_suffix(".pth"), setup["marker"])
    before = tree(evil.parent)
    rc = main(["eval", "-c", CONFIG, *setup["opts"], "-o", f"weights={evil}", "--quiet"])
    _refused(capsys, rc, setup["marker"])
    assert tree(evil.parent) == before  # no results json next to the weights


def test_export(setup: dict, capsys) -> None:
    out = setup["base"] / "export"
    rc = main(
        ["export", "-c", CONFIG, *setup["opts"], "-o", f"weights={setup['evil']}"]
        + ["--output_dir", str(out)]
    )
    _refused(capsys, rc, setup["marker"])
    assert not out.exists() and not list(out.parent.glob(".export.tmp-*"))


def test_infer(setup: dict, small_dataset: Path, capsys) -> None:
    out = setup["base"] / "infer"
    image = sorted((small_dataset / "images" / "val").iterdir())[0]
    rc = main(
        ["infer", "-c", CONFIG, *setup["opts"], "-o", f"weights={setup['evil']}"]
        + ["--input", str(image), "--output_dir", str(out), "--quiet"]
    )
    _refused(capsys, rc, setup["marker"])
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--weights", "--pretrained"])
def test_train_initial_weights(flag: str, setup: dict, capsys) -> None:
    rc = main(["train", "-c", CONFIG, *setup["opts"], flag, str(setup["evil"]), "--quiet"])
    _refused(capsys, rc, setup["marker"])
    assert tree(setup["base"] / "ckpt") == {}  # no run folder, no lock file


def test_train_resume(setup: dict, capsys) -> None:
    from simdr_lib.weights import read_checkpoint

    base = ["train", "-c", CONFIG, *setup["opts"], "-o", "train.epochs=1", "--quiet"]
    assert main(base) == 0
    run_dir = setup["base"] / "ckpt" / setup["cfg"].name
    ckpt = read_checkpoint(run_dir / "last.pdckpt")
    evil_checkpoint(run_dir / "last.pdckpt", setup["marker"], ckpt)
    assert payload_is_live(run_dir / "last.pdckpt", setup["marker"])
    before = tree(run_dir)
    capsys.readouterr()
    rc = main([*base[:-3], "-o", "train.epochs=2", "--resume", "--quiet"])
    _refused(capsys, rc, setup["marker"])
    assert tree(run_dir) == before


def test_convert(setup: dict, capsys) -> None:
    out = setup["base"] / "converted.pdparams"
    rc = main(["convert", str(setup["evil"]), str(out)])
    _refused(capsys, rc, setup["marker"])
    assert not out.exists()


@pytest.mark.parametrize("route", ["resume", "weights", "pretrained"])
def test_pipeline(route: str, setup: dict, small_dataset: Path, capsys) -> None:
    """The pipeline reads its weights before any notebook: 03_training resumes from
    ``<save_dir>/<run>/last.pdckpt`` by default; ``weights`` / ``model.pretrained`` overrides."""
    base = setup["base"]
    ckpt_dir = base / "checkpoints" / "evil"
    args = ["pipeline", "-p", "data_root", str(small_dataset), "--run", "evil"]
    args += ["--reports-dir", str(base / "reports"), "-o", f"train.save_dir={base / 'checkpoints'}"]
    if route == "resume":
        ckpt_dir.mkdir(parents=True)
        (ckpt_dir / "last.pdckpt").write_bytes(setup["evil"].read_bytes())
    else:
        key = "weights" if route == "weights" else "model.pretrained"
        args += ["-o", f"{key}={setup['evil']}"]
    before = tree(base / "checkpoints")
    rc = main([*args, "--quiet"])
    err = _refused(capsys, rc, setup["marker"])
    assert str(setup["evil"].name) in err or "last.pdckpt" in err
    assert tree(base / "reports") == {}  # no run folder, no report, no lock file
    assert tree(base / "checkpoints") == before


def test_infer_checks_its_input_before_any_weights(setup: dict, capsys) -> None:
    missing = setup["base"] / "no_such_folder"
    rc = main(
        ["infer", "-c", CONFIG, *setup["opts"], "-o", f"weights={setup['evil']}"]
        + ["--input", str(missing)]
    )
    err = capsys.readouterr().err.strip()
    assert (
        rc == 2 and err == f"error: {missing}: input not found (an image, a folder or a COCO json)"
    )
