"""The ``simdr`` command line: help, model-info, prepare, validate, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from simdr_lib.cli import main
from simdr_lib.engine.evaluate import TABLE_COLUMNS

CONFIGS = ROOT / "configs"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simdr_lib", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_help_lists_commands(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("prepare", "validate", "model-info", "train", "eval"):
        assert command in out


@pytest.mark.parametrize(
    "config,expected_m",
    [
        ("heatmap_hrnet_w32_256x192.yml", 28.5),
        ("heatmap_hrnet_w48_384x288.yml", 63.6),
        ("simdr_hrnet_w32_256x192.yml", 31.3),
        # the paper's low-resolution configs (official SimDR table: W32 28.6M / 29.1M)
        ("simdr_hrnet_w32_64x64.yml", 28.6),
        ("simdr_hrnet_w32_128x128.yml", 29.1),
        ("heatmap_hrnet_w32_64x64.yml", 28.5),
        ("heatmap_hrnet_w32_128x128.yml", 28.5),
        ("simdr_hrnet_w48_64x64.yml", 63.7),
        ("simdr_hrnet_w48_128x128.yml", 64.1),
        ("heatmap_hrnet_w48_64x64.yml", 63.6),
        ("heatmap_hrnet_w48_128x128.yml", 63.6),
    ],
)
def test_model_info_counts(config: str, expected_m: float, capsys: pytest.CaptureFixture) -> None:
    assert main(["model-info", "-c", str(CONFIGS / config)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("params_total"))
    total = int(line.split()[1].replace(",", ""))
    assert abs(total / 1e6 - expected_m) / expected_m < 0.01, line


def test_model_info_low_resolution_simdr(capsys: pytest.CaptureFixture) -> None:
    cfg = str(CONFIGS / "simdr_hrnet_w32_256x192.yml")
    for size, expected in (("[128, 128]", 29.1), ("[64, 64]", 28.6)):
        assert main(["model-info", "-c", cfg, "-o", f"codec.input_size={size}"]) == 0
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("params_total"))
        assert abs(int(line.split()[1].replace(",", "")) / 1e6 - expected) / expected < 0.01


def test_prepare_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "syn"
    assert (
        main(["prepare", "--synthetic", "--root", str(root), "--num-train", "4", "--num-val", "3"])
        == 0
    )
    assert (root / "annotations" / "person_keypoints_val.json").is_file()
    capsys.readouterr()
    assert (
        main(
            [
                "validate",
                "-c",
                str(CONFIGS / "demo_tiny.yml"),
                "-o",
                f"data.root={root}",
                "-o",
                "data.synthetic=false",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "[train]" in out and "usable_people" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "-c", "configs/nope.yml"], "nope.yml: config file not found"),
        (["train", "-c", "configs/demo_tiny.yml", "-o", "train.epoch=3"], "train.epoch"),
        (["train", "-c", "configs/demo_tiny.yml", "-o", "train.epochs=ten"], "train.epochs"),
        (["eval", "-c", "configs/demo_tiny.yml"], "no weights given"),
        (["train", "-c", "configs/demo_tiny.yml", "-o", "device=gpu"], "device=gpu"),
    ],
)
def test_user_errors_are_one_line(args: list[str], needle: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr


def test_missing_dataset_is_one_line(tmp_path: Path) -> None:
    proc = run_cli(
        "validate",
        "-c",
        "configs/demo_tiny.yml",
        "-o",
        f"data.root={tmp_path}",
        "-o",
        "data.synthetic=false",
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "person_keypoints_train.json" in lines[0]


def train_cli(root: Path, save: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``simdr train`` of demo_tiny on the dataset at ``root`` (CPU, no progress bars)."""
    opts = ["data.synthetic=false", f"data.root={root}", f"train.save_dir={save}", "device=cpu"]
    args = [a for o in (*opts, *overrides) for a in ("-o", o)]
    return run_cli("train", "-c", "configs/demo_tiny.yml", *args, "--quiet")


def _small_copy(tmp_path: Path) -> Path:
    root = tmp_path / "syn"
    assert (
        main(["prepare", "--synthetic", "--root", str(root), "--num-train", "6", "--num-val", "3"])
        == 0
    )
    return root


def test_malformed_annotation_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    import json

    root = _small_copy(tmp_path)
    ann = root / "annotations" / "person_keypoints_train.json"
    data = json.loads(ann.read_text())
    bad_id = data["annotations"][1]["id"]
    data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:-3]
    ann.write_text(json.dumps(data))
    save = tmp_path / "ckpt"
    proc = train_cli(root, save)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "person_keypoints_train.json" in lines[0], proc.stderr
    assert str(bad_id) in lines[0] and "keypoints" in lines[0]
    assert not list(save.rglob("*.pd*"))  # no checkpoint or weights were written


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_image_during_training_is_one_line(tmp_path: Path, workers: int) -> None:
    root = _small_copy(tmp_path)
    victim = sorted((root / "images" / "train").glob("*.jpg"))[2]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated JPEG
    save = tmp_path / "ckpt"
    proc = train_cli(root, save, f"data.num_workers={workers}", "train.batch_size=4")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert victim.name in lines[0] and "truncated JPEG" in lines[0]
    assert not list(save.rglob("*.pdparams")) and not list(save.rglob("*.pdckpt"))


def test_train_eval_then_eval_cli(small_dataset: Path, tmp_path: Path) -> None:
    """The seed's workflow: tools/train.py --eval, then tools/eval.py -o weights=..."""
    common = [
        "-c",
        "configs/demo_tiny.yml",
        "-o",
        f"data.root={small_dataset}",
        "-o",
        "data.synthetic=false",
        "-o",
        f"train.save_dir={tmp_path}",
        "-o",
        "device=cpu",
        "-o",
        "codec.input_size=[48, 64]",
        "-o",
        "model.tiny_width=16",
        "-o",
        "data.num_workers=0",
    ]
    proc = run_cli(
        "train", *common, "-o", "train.epochs=2", "-o", "train.eval_every=1", "--eval", "--quiet"
    )
    assert proc.returncode == 0, proc.stderr
    assert "best AP" in proc.stdout
    best = tmp_path / "demo_tiny" / "best.pdparams"
    assert best.is_file()
    for boxes in ("--gt-boxes", "--det-boxes"):
        proc = run_cli("eval", *common, "-o", f"weights={best}", boxes, "--quiet")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        i = next(n for n, ln in enumerate(lines) if "AP50" in ln)
        assert [c.strip() for c in lines[i].split("|")] == list(TABLE_COLUMNS)
        values = [float(c) for c in lines[i + 2].split("|")]  # percent, -100 = no GT in range
        assert len(values) == 6 and all(-100.0 <= v <= 100.0 for v in values)
        assert ("GT boxes" if boxes == "--gt-boxes" else "detected boxes") in proc.stdout
    assert (tmp_path / "demo_tiny" / "keypoints_val_results.json").is_file()


def test_a_command_whose_module_cannot_be_imported_reports_the_missing_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import simdr_lib

    # simdr_lib.pipeline (not yet imported) needs a module that is not installed
    before = set(sys.modules)
    for name in [m for m in sys.modules if m.split(".")[:2] == ["simdr_lib", "pipeline"]]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(simdr_lib, "pipeline", raising=False)
    monkeypatch.setitem(sys.modules, "yaml", None)
    try:
        with pytest.raises(SystemExit):
            main(["--help"])
        assert "pipeline" in capsys.readouterr().out  # still listed
        rc = main(["pipeline", "-p", "epochs", "3", "--run", "x"])
    finally:  # drop the half-imported copies; monkeypatch puts the real modules back
        for name in set(sys.modules) - before:
            if name.startswith("simdr_lib.pipeline"):
                del sys.modules[name]
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "invalid choice" not in err[0]
    assert err[0].startswith("error: simdr pipeline is unavailable: module 'yaml' cannot be")
    assert "simdr_lib.pipeline" in err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "-c", "x.yml", "--no_flip", "--gt_boxes"],
        ["eval", "-c", "x.yml", "--no-flip", "--gt-boxes"],
        ["infer", "--no_flip", "--input", "x.jpg"],
        ["infer", "--no-flip", "--input", "x.jpg"],
    ],
)
def test_flip_and_box_options_take_both_spellings(argv: list[str]) -> None:
    """eval and infer share one spelling (underscores, as the seed's tools); hyphens still work."""
    from simdr_lib.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.no_flip is True
    if argv[0] == "eval":
        assert args.gt_boxes is True and args.det_boxes is False
