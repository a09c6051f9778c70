"""Run reports: per-joint metrics against hand computations, tables, the report files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from simdr_lib import report as rpt
from simdr_lib.engine import oks as oks_metrics
from simdr_lib.keypoints import COCO_OKS_SIGMAS


# ----------------------------------------------------------------------------- metrics
def _people(rng: np.random.Generator, n: int = 5, k: int = 17) -> tuple[np.ndarray, ...]:
    gt = np.concatenate([rng.uniform(0, 200, (n, k, 2)), np.full((n, k, 1), 2.0)], axis=2)
    gt[0, :3, 2] = 0  # unlabeled joints
    pred = gt[..., :2] + rng.normal(0, 4, (n, k, 2))
    areas = rng.uniform(2000, 9000, n)
    return pred, gt, areas


def test_joint_similarity_matches_the_coco_formula() -> None:
    pred, gt, areas = _people(np.random.default_rng(0))
    sim = oks_metrics.joint_similarity(pred, gt, areas)
    i, j = 1, 7
    d2 = np.sum((pred[i, j] - gt[i, j, :2]) ** 2)
    expected = math.exp(-d2 / (2 * areas[i] * (2 * COCO_OKS_SIGMAS[j]) ** 2))
    assert sim[i, j] == pytest.approx(expected)
    assert np.isnan(sim[0, :3]).all() and np.isfinite(sim[0, 3:]).all()
    exact = oks_metrics.joint_similarity(gt[..., :2], gt, areas)
    assert np.allclose(exact[np.isfinite(exact)], 1.0)


def test_person_oks_agrees_with_the_evaluation_oks() -> None:
    from simdr_lib.engine.evaluate import oks

    pred, gt, areas = _people(np.random.default_rng(1))
    mine = oks_metrics.person_oks(pred, gt, areas)
    for i in range(1, len(pred)):  # all joints labeled: same as evaluate.oks with equal areas
        ref = oks(
            np.c_[gt[i, :, :2], np.ones(17)],
            np.c_[pred[i], np.ones(17)][None],
            areas[i],
            np.array([areas[i]]),
        )[0]
        assert mine[i] == pytest.approx(ref)
    only_labeled = np.nanmean(oks_metrics.joint_similarity(pred, gt, areas)[0])
    assert mine[0] == pytest.approx(only_labeled)
    gt_none = gt.copy()
    gt_none[2, :, 2] = 0
    assert np.isnan(oks_metrics.person_oks(pred, gt_none, areas)[2])


def test_per_joint_accuracy_counts_labeled_joints_only() -> None:
    gt = np.zeros((2, 17, 3))
    gt[:, :, :2] = 100.0
    gt[:, :, 2] = 2
    gt[1, 0, 2] = 0
    pred = gt[..., :2].copy()
    pred[0, 0] += [30.0, 40.0]  # 50 px off: wrong; the other person's nose is unlabeled
    rows = oks_metrics.per_joint_accuracy(pred, gt, np.array([4000.0, 4000.0]))
    assert rows[0]["joint"] == "nose" and rows[0]["count"] == 1
    assert rows[0]["accuracy"] == 0.0 and rows[0]["mean_error_px"] == pytest.approx(50.0)
    assert rows[5]["count"] == 2 and rows[5]["accuracy"] == 1.0 and rows[5]["mean_oks"] == 1.0
    gt[:, 1, 2] = 0
    assert math.isnan(oks_metrics.per_joint_accuracy(pred, gt, np.ones(2))[1]["accuracy"])


# ----------------------------------------------------------------------------- tables
def test_table_renders_markdown_and_escaped_html() -> None:
    t = rpt.Table(["a", "b|c"], [["<x>", "1"]])
    assert t.markdown().splitlines() == ["| a | b\\|c |", "| --- | ---: |", "| <x> | 1 |"]
    assert "<td>&lt;x&gt;</td>" in t.html() and t._repr_markdown_() == t.markdown()
    coco = rpt.coco_table({"AP": 0.5, "AP50": 0.75, "AR": float("nan")})
    assert coco.headers == ["AP", "AP50", "AR"] and coco.rows == [["50.0", "75.0", "-"]]


def test_to_jsonable_replaces_nan_and_numpy_values() -> None:
    out = rpt.to_jsonable(
        {"a": float("nan"), "b": np.float32(2.5), "c": np.arange(2), 3: Path("p")}
    )
    assert out == {"a": None, "b": 2.5, "c": [0, 1], "3": "p"}
    json.dumps(out, allow_nan=False)


def test_ap_sentence_states_the_ap_on_the_generated_val_set() -> None:
    metrics = {
        "AP": 0.8123,
        "main_protocol": "GT boxes + flip",
        "protocols": {"GT boxes + flip": {"use_gt_bbox": True, "flip_test": True}},
        "num_people": 185,
        "num_images": 100,
    }
    text = rpt.ap_sentence(
        metrics,
        {"data": {"root": "data/synthetic"}},
        {"epochs_done": 60},
        {"root": "data/synthetic", "generated": True},
    )
    assert text == (
        "On the generated validation set (data/synthetic: 185 people in 100 images), the model "
        "reaches COCO keypoint AP 0.812 (81.2 %) after 60 training epochs, evaluated on "
        "ground-truth person boxes with flip test."
    )
    assert "04_evaluation" in rpt.ap_sentence(None, {}, None)


# ----------------------------------------------------------------------------- report files
def _png(path: Path) -> None:
    from simdr_lib.viz import figure_png, new_figure

    fig = new_figure(2, 1)
    fig.subplots().plot([0, 1], [1, 0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_png(fig, dpi=40))


def _fake_run(run_dir: Path, complete: bool = True) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "config.yml").write_text("name: fake\ndata:\n  root: data/synthetic\n")
    stats = {
        "images": 10,
        "usable_people": 12,
        "people_per_image": {"1": 8, "2": 2},
        "labeled_joints": {"nose": 11},
        "visible_joints": {"nose": 9},
        "box_size": {"width": {"min": 10, "median": 20, "max": 30}},
    }
    rpt.write_json_atomic(
        run_dir / "dataset_stats.json",
        {"root": "data/synthetic", "generated": True, "splits": {"train": stats, "val": stats}},
    )
    rpt.write_json_atomic(run_dir / "environment.json", {"python": "3.11", "paddle": "3.3"})
    rpt.write_json_atomic(run_dir / "model_info.json", {"params_total": 1000})
    rpt.write_json_atomic(
        run_dir / "training.json",
        {"epochs_done": 2, "best_ap": 0.4, "best_epoch": 2, "history": [{"epoch": 1}]},
    )
    stats_coco = {k: 0.5 for k in rpt.COCO_COLUMNS}
    rpt.write_json_atomic(run_dir / "export.json", {"status": "skipped", "reason": "n/a"})
    rpt.write_json_atomic(run_dir / "visualization.json", {"num_people": 3, "oks": {"mean": 0.7}})
    if complete:
        rpt.write_json_atomic(
            run_dir / "metrics.json",
            {
                "AP": 0.5,
                "stats": stats_coco,
                "main_protocol": "GT boxes + flip",
                "protocols": {
                    "GT boxes + flip": {"stats": stats_coco, "use_gt_bbox": True, "flip_test": True}
                },
                "per_joint": [
                    {
                        "joint": "nose",
                        "count": 3,
                        "accuracy": 0.5,
                        "mean_oks": 0.6,
                        "mean_error_px": 2.0,
                    }
                ],
            },
        )
    for name in ("01_samples", "04_per_joint", "06_distributions_typical", "zz_extra"):
        _png(run_dir / "figures" / f"{name}.png")


def test_build_report_writes_self_contained_html_md_and_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "fake"
    _fake_run(run_dir)
    files = rpt.build_report(run_dir)
    assert files.complete and files.ap == 0.5
    page = files.html.read_text()
    sources = re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", page)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(?!data:)", page) and "<script" not in page
    assert "generated validation set" in page and "AP 0.500 (50.0 %)" in page
    assert "Other figures" in page  # unknown figures are not dropped
    md = files.markdown.read_text()
    assert "![per-joint accuracy](figures/04_per_joint.png)" in md
    assert "| nose | 3 | 50.0 | 0.600 | 2.00 |" in md
    data = json.loads(files.json.read_text())
    assert data["AP"] == 0.5 and data["complete"] is True and data["stats"]["AR"] == 0.5
    assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_report_written_all_or_none_when_the_disk_refuses(tmp_path: Path) -> None:
    """A write that fails midway (file-size limit) leaves the previous report whole."""
    import resource
    import signal

    from simdr_lib.errors import OutputError

    run_dir = tmp_path / "fake"
    _fake_run(run_dir)
    files = rpt.build_report(run_dir)
    before = {p.name: p.read_bytes() for p in (files.html, files.markdown, files.json)}
    (run_dir / "figures" / "zz_more.png").write_bytes(
        (run_dir / "figures" / "zz_extra.png").read_bytes()
    )
    limit = max(len(before["report.md"]), len(before["report.json"])) + 4096
    assert limit < len(before["report.html"])  # json and md fit, the html does not
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        with pytest.raises(OutputError) as err:
            rpt.build_report(run_dir)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert "report.html" in str(err.value) and "\n" not in str(err.value)
    assert {n: (run_dir / n).read_bytes() for n in before} == before
    assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_incomplete_run_is_reported_as_incomplete(tmp_path: Path) -> None:
    run_dir = tmp_path / "partial"
    _fake_run(run_dir, complete=False)
    files = rpt.build_report(run_dir)
    assert not files.complete and files.missing == ["metrics.json (04_evaluation)"]
    assert "Missing run files" in files.html.read_text()
    assert json.loads(files.json.read_text())["complete"] is False
    assert "INCOMPLETE" in files._repr_markdown_()


def test_remove_report_deletes_all_three_files(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    _fake_run(run_dir)
    rpt.build_report(run_dir)
    removed = rpt.remove_report(run_dir)
    assert sorted(p.name for p in removed) == ["report.html", "report.json", "report.md"]
    assert rpt.remove_report(run_dir) == []


def test_environment_info_names_python_paddle_and_device() -> None:
    env = rpt.environment_info("cpu")
    assert env["device"] == "cpu" and env["python"].count(".") == 2 and env["paddle"]


# ----------------------------------------------------------------------------- run data, registry
def test_load_run_of_an_empty_folder_has_none_for_every_file(tmp_path: Path) -> None:
    from simdr_lib.report import load_run

    run = load_run(tmp_path)
    files = ("config_text", "config", "state", "dataset", "environment", "model", "training")
    files += ("metrics", "export", "visualization", "study")
    assert all(getattr(run, name) is None for name in files)
    assert run.figures == {} and run.run_name == tmp_path.name
    assert run.missing() == [
        f"{n} ({nb})" for n, nb in rpt.RUN_FILES.items() if nb != "08_lowres_study"
    ]
    (tmp_path / "metrics.json").write_text("{not json")  # unreadable counts as missing
    assert load_run(tmp_path).metrics is None


def test_load_run_of_a_complete_folder_fills_every_field(tmp_path: Path) -> None:
    from dataclasses import fields

    from simdr_lib.report import load_run
    from simdr_lib.report import run_files as rf

    run_dir = tmp_path / "fake"
    _fake_run(run_dir)
    rf.write_json_atomic(run_dir / rf.STATE_FILE, {"status": "completed", "notebooks": {}})
    rf.write_json_atomic(run_dir / rf.STUDY_FILE, {"summary": [], "settings": {}})
    run = load_run(run_dir)
    assert all(getattr(run, f.name) is not None for f in fields(run)), run
    assert run.config == {"name": "fake", "data": {"root": "data/synthetic"}}
    assert run.config_text.startswith("name: fake") and run.run_name == "fake"
    assert run.metrics["AP"] == 0.5 and run.training["epochs_done"] == 2
    assert run.dataset["generated"] is True and run.state["status"] == "completed"
    assert list(run.figures) == [
        "01_samples",
        "04_per_joint",
        "06_distributions_typical",
        "zz_extra",
    ]
    assert run.figures["04_per_joint"] == run_dir / "figures" / "04_per_joint.png"
    assert run.missing() == [] and not run.study_only()
    assert all(run.file(name) is not None for name in rf.RUN_FILES)


def test_every_file_the_report_reads_is_in_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simdr_lib.report import run_files as rf

    run_dir = tmp_path / "fake"
    _fake_run(run_dir)
    for stem in rf.FIGURES:
        _png(rf.figure_path(run_dir, stem))
    rf.write_json_atomic(run_dir / rf.STATE_FILE, {"status": "completed"})
    from simdr_lib.lowres_study import summarize

    cells = [{"representation": "SimDR", "size": [24, 32], "AP": 0.1, "AP75": 0.1, "err_px": 3.0}]
    study = {"summary": summarize(cells), "settings": {"seeds": [0]}}
    rf.write_json_atomic(run_dir / rf.STUDY_FILE, study)
    read: list[str] = []
    for method in ("read_text", "read_bytes"):
        original = getattr(Path, method)

        def spy(self: Path, *args: object, _original=original, **kwargs: object) -> object:
            if run_dir in self.parents:
                read.append(self.relative_to(run_dir).as_posix())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Path, method, spy)
    files = rpt.build_report(run_dir)
    monkeypatch.undo()
    known = {rf.CONFIG_FILE, rf.STATE_FILE, *rf.RUN_FILES}
    known |= {f"{rf.FIGURES_DIR}/{stem}.png" for stem in rf.FIGURES}
    assert set(read) - {f"{rf.FIGURES_DIR}/zz_extra.png"} == known
    # every registered figure has its place in a section: only the unknown one is "other"
    md = files.markdown.read_text()
    other = md.split("## Other figures", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"\]\((figures/[^)]+)\)", other) == ["figures/zz_extra.png"]


def test_report_modules_spell_no_run_file_name_outside_the_registry() -> None:
    import ast

    root = Path(rpt.__file__).parent
    for path in root.glob("*.py"):
        if path.name == "run_files.py":
            continue
        tree = ast.parse(path.read_text())
        docs = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        literals = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
        ]
        spelled = [s for s in literals if re.search(r"\b\d\d_[a-z]|\.(json|yml|png)\b", s)]
        assert spelled == [], f"{path.name}: {spelled}"


def test_the_notebooks_save_only_registered_figures_and_files() -> None:
    from simdr_lib.report import run_files as rf

    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))
    assert notebooks
    stems, files = set(), set()
    for nb in notebooks:
        cells = json.loads(nb.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        stems |= set(re.findall(r"\.show\(.*?,\s*f?\"(\d\d_[a-z_]+)", code, flags=re.S))
        files |= set(re.findall(r"save_json\(\"([\w.]+)\"", code))
    assert stems and files
    for stem in stems:  # f"06_distributions_{name}": a prefix of registered stems
        assert stem in rf.FIGURES or any(f.startswith(stem) for f in rf.FIGURES), stem
    assert files <= set(rf.RUN_FILES)


def test_oks_metrics_are_pure_numpy() -> None:
    import subprocess
    import sys

    code = "import sys, simdr_lib.engine.oks; print('paddle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rerunning_a_notebook_removes_everything_it_wrote(tmp_path: Path) -> None:
    """04 about to run again: its metrics, predictions file and figures go, 03's stay (a
    failed rerun must not leave 06 an older model's predictions_gt.npz)."""
    from simdr_lib.report import run_files as rf

    notebooks = [rf.TRAINING_NOTEBOOK, rf.EVALUATION_NOTEBOOK, rf.VISUALIZATION_NOTEBOOK]
    for name in (rf.TRAINING_FILE, rf.METRICS_FILE, rf.PREDICTIONS_FILE):
        (tmp_path / name).write_text("{}")
    (tmp_path / rf.FIGURES_DIR).mkdir()
    for stem in ("03_training_curves", "04_protocols"):
        (tmp_path / rf.FIGURES_DIR / f"{stem}.png").write_bytes(b"png")
    removed = rf.remove_stale_outputs(tmp_path, [rf.EVALUATION_NOTEBOOK], notebooks)
    assert sorted(removed) == sorted(
        [rf.METRICS_FILE, rf.PREDICTIONS_FILE, f"{rf.FIGURES_DIR}/04_protocols.png"]
    )
    assert (tmp_path / rf.TRAINING_FILE).is_file()
    assert (tmp_path / rf.FIGURES_DIR / "03_training_curves.png").is_file()
