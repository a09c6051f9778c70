"""What 04 / 07 show for an MPII run: per-joint PCKh rows, PCKh tables, plots and headline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from simdr_lib.config import load_config
from simdr_lib.data.mpii import load_mpii

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo_tiny_mpii.yml"
# head box [41, 11, 61, 41] 1-based -> 20 x 30 px: head size 0.6 * sqrt(20^2 + 30^2) = 21.63 px
HEAD_SIZE = 0.6 * math.hypot(20.0, 30.0)


def _people(tmp_path: Path, n: int = 2) -> tuple:
    joints = [[10.0 + 3 * j, 20.0 + 5 * j] for j in range(16)]
    entry = {
        "image": "a.jpg",
        "center": [51.0, 61.0],
        "scale": 0.4,
        "joints": joints,
        "joints_vis": [1] * 15 + [0],
        "head_box": [41.0, 11.0, 61.0, 41.0],
    }
    (tmp_path / "valid.json").write_text(json.dumps([entry] * n))
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((120, 100, 3), np.uint8))
    cfg = load_config(DEMO, {"data.root": str(tmp_path), "data.synthetic": False})
    data = load_mpii(tmp_path / "valid.json", tmp_path)
    return cfg, data, np.array(joints) - 1.0


def test_per_joint_pckh_counts_half_a_head_size(tmp_path: Path) -> None:
    """10 px off is 0.46 head sizes (right), 12 px is 0.55 (wrong): accuracy 0.5 per joint.

    With the head size taken as the plain diagonal (no 0.6) both would count; at threshold
    0.1 neither would.
    """
    from simdr_lib.engine.mpii_eval import per_joint_pckh

    cfg, data, gt = _people(tmp_path)
    pred = np.stack([gt + [10.0, 0.0], gt + [0.0, 12.0]])
    rows = per_joint_pckh(cfg, data, data.records, pred)
    assert [r["joint"] for r in rows][:2] == ["right_ankle", "right_knee"] and len(rows) == 16
    for r in rows[:15]:
        assert r["count"] == 2 and r["accuracy"] == pytest.approx(0.5)
        assert r["mean_error_px"] == pytest.approx(11.0)
        assert r["mean_head_error"] == pytest.approx(11.0 / HEAD_SIZE)
    assert rows[15]["count"] == 0 and math.isnan(rows[15]["accuracy"])
    # a subset of the people in another order is scored against its own ground truth
    one = per_joint_pckh(cfg, data, data.records[1:], pred[1:])
    assert one[0]["accuracy"] == 0.0 and one[0]["count"] == 1


def test_per_joint_rows_dispatch_by_dataset(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from simdr_lib.engine.protocols import per_joint_rows

    cfg, data, gt = _people(tmp_path)
    run = SimpleNamespace(predictions=SimpleNamespace(keypoints_img=np.stack([gt, gt + 30.0])))
    rows = per_joint_rows(cfg, run, data.records, data)
    assert rows[0]["accuracy"] == pytest.approx(0.5) and "mean_head_error" in rows[0]


MPII_STATS = {"Head": 90.0, "Mean": 87.5, "Mean@0.1": 20.25, "PCKh": 87.5, "PCKh@0.1": 20.25}


def test_pckh_tables_are_percent_already() -> None:
    from simdr_lib.report.tables import coco_table, per_joint_table, protocols_table

    table = protocols_table({"GT boxes + flip": {"stats": MPII_STATS, "use_gt_bbox": True}})
    assert table.headers[4:6] == ["PCKh", "PCKh@0.1"]
    assert table.rows[0][4:6] == ["87.5", "20.2"]  # not x 100
    main = coco_table(MPII_STATS)
    assert main.headers == ["Head", "Mean", "Mean@0.1"] and main.rows[0][1] == "87.5"
    rows = [{"joint": "head_top", "count": 3, "accuracy": 2 / 3, "mean_head_error": 0.31,
             "mean_error_px": 4.0}]  # fmt: skip
    joint = per_joint_table(rows)
    assert joint.headers[1:4] == ["visible", "PCKh@0.5 %", "mean error head sizes"]
    assert joint.rows[0][2:4] == ["66.7", "0.310"]
    coco = protocols_table({"GT boxes + flip": {"stats": {"AP": 0.5, "AR": 0.6}}})
    assert coco.headers[4:8] == ["AP", "AP50", "AP75", "AR"] and coco.rows[0][4] == "50.0"


def test_headline_and_plots_of_an_mpii_run() -> None:
    from simdr_lib.report.sections import ap_sentence
    from simdr_lib.viz import plot_per_joint, plot_protocols, plot_training_curves

    metrics = {"metric": "PCKh", "PCKh": 87.5, "stats": MPII_STATS, "main_protocol": "x"}
    text = ap_sentence(metrics, {"data": {"root": "data/x", "synthetic": True}}, None)
    assert "PCKh@0.5 87.5 %" in text and "PCKh@0.1 20.2 %" in text and "COCO" not in text
    fig = plot_protocols({"GT boxes + flip": MPII_STATS})
    ax = fig.axes[0]
    assert ax.get_ylim()[1] == pytest.approx(110.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["PCKh", "PCKh@0.1"]
    assert plot_protocols({"a": {"AP": 0.5}}).axes[0].get_ylim()[1] == pytest.approx(1.1)
    rows = [{"joint": "head_top", "count": 3, "accuracy": 0.5, "mean_head_error": 0.3,
             "mean_error_px": 4.0}]  # fmt: skip
    assert "head sizes" in plot_per_joint(rows).axes[0].get_xlabel()
    history = [{"epoch": 1, "loss": 0.1, "AP": 40.0, "PCKh": 40.0}]
    curves = plot_training_curves(history).axes[1]
    assert curves.get_ylim()[1] == pytest.approx(100.0) and "PCKh" in curves.get_ylabel()


def test_export_metadata_of_an_mpii_model_has_its_joints_pairs_and_limbs() -> None:
    from simdr_lib.deploy.infer_config import infer_config_from_cfg
    from simdr_lib.keypoints_mpii import MPII_FLIP_PAIRS, MPII_KEYPOINT_NAMES, MPII_SKELETON

    info = infer_config_from_cfg(load_config(DEMO), "model.json")
    assert info.joint_names == MPII_KEYPOINT_NAMES
    assert info.flip_pairs == MPII_FLIP_PAIRS and info.skeleton == MPII_SKELETON


def test_lowres_study_refuses_an_mpii_config_in_one_line(tmp_path: Path) -> None:
    from simdr_lib.errors import ConfigError
    from simdr_lib.lowres_study import StudySettings, run_study

    settings = StudySettings(config=str(DEMO), sizes=((32, 32),), heads=("simdr",), seeds=(0,))
    with pytest.raises(ConfigError, match="demo_tiny_mpii.yml: the low-resolution study"):
        run_study(settings, tmp_path, log=None)
    assert not list(tmp_path.iterdir())


def test_person_pckh_is_the_share_of_visible_joints_within_the_threshold() -> None:
    """Errors in head sizes 0.4 / 0.6 / 0.05 with one joint invisible: 1/2, 0.1: 1/2 ... ."""
    from simdr_lib.engine.pckh import person_pckh

    errors = np.array([[0.4, 0.6, 9.0], [0.05, np.nan, 0.2], [1.0, 1.0, 1.0]])
    visible = np.array([[1, 1, 0], [1, 1, 1], [0, 0, 0]])
    out = person_pckh(errors, visible, 0.5)
    assert out[:2] == pytest.approx([0.5, 2 / 3]) and math.isnan(out[2])
    assert person_pckh(errors, visible, 0.1)[:2] == pytest.approx([0.0, 1 / 3])


def test_person_scores_are_pckh_on_mpii_and_normalized_by_the_head(tmp_path: Path) -> None:
    """10 px off is inside half a head size (21.6 px / 2), 12 px is not: 1.0 and 0.0."""
    from types import SimpleNamespace

    from simdr_lib.engine.protocols import person_scores

    cfg, data, gt = _people(tmp_path)
    preds = SimpleNamespace(keypoints_img=np.stack([gt + [10.0, 0.0], gt + [0.0, 12.0]]))
    scores, metric = person_scores(cfg, data.records, preds, data)
    assert metric == "PCKh" and scores == pytest.approx([1.0, 0.0])


def test_visualization_of_an_mpii_run_names_its_score(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from simdr_lib.report.run_data import RunData
    from simdr_lib.report.sections import predictions_section
    from simdr_lib.viz_examples import save_visualization, worst_case_examples

    cfg, data, gt = _people(tmp_path)
    saved: dict = {}
    run = SimpleNamespace(save_json=lambda name, info: saved.update({name: info}))
    scores = np.array([0.75, 0.25])
    info = save_visualization(run, data.records, scores, k=2, metric="PCKh")
    assert info["metric"] == "PCKh" and info["scores"]["min"] == pytest.approx(0.25)
    assert [w["index"] for w in info["worst"]] == [1, 0] and saved["visualization.json"] is info
    preds = SimpleNamespace(keypoints_img=np.stack([gt, gt]), scores=np.ones((2, 16)))
    titles = worst_case_examples(cfg, data.records, preds, scores, 1, "PCKh")["titles"]
    assert titles == [f"image {data.records[1].image_id}: PCKh 0.25"]
    blocks = predictions_section(RunData(run_dir=tmp_path, visualization=info))
    text = " ".join(str(b.text) for b in blocks)
    assert "Per-person PCKh on GT boxes: mean 0.500" in text and "OKS" not in text


def test_person_probs_of_an_mpii_model_flip_with_the_mpii_pairs(tmp_path: Path) -> None:
    """06 draws the distributions evaluation computed (16 joints, MPII flip pairs)."""
    import paddle

    from simdr_lib.engine.model_eval import evaluate_model
    from simdr_lib.factory import model_from_config
    from simdr_lib.viz_examples import person_probs

    cfg, data, _ = _people(tmp_path)
    cfg = load_config(DEMO, {"data.root": str(tmp_path), "data.synthetic": False, "device": "cpu"})
    paddle.seed(0)
    model = model_from_config(cfg)
    model.eval()
    x, y = person_probs(cfg, model, data.records, [1], flip_test=True)
    assert x.shape[:2] == (1, 16) and y.shape[:2] == (1, 16)
    result = evaluate_model(cfg, model, data, True, True, progress=False, keep_probs=True)
    np.testing.assert_allclose(x[0], result.predictions.probs[0][1], atol=1e-5)
    np.testing.assert_allclose(y[0], result.predictions.probs[1][1], atol=1e-5)
