"""PCKh on hand-made cases whose value is known (normalization, thresholds, masking, table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simdr_lib.data.mpii_gt import read_gt_mat, read_pckh_gt
from simdr_lib.engine.pckh import (
    OFFICIAL_PCKH01_THRESHOLD,
    SC_BIAS,
    format_pckh_table,
    head_sizes,
    pckh_stats,
    pckh_summary,
)
from simdr_lib.errors import DataError
from simdr_lib.keypoints_mpii import MPII_MAT_JOINT_NAMES

K = 16
HEAD, LSHO, RSHO, PELVIS, THORAX = 9, 13, 12, 6, 7

# person 0: head box 30 x 40 px -> diagonal 50 -> head size 0.6 * 50 = 30 px
# person 1: head box 60 x 80 px -> diagonal 100 -> head size 60 px
BOXES = np.array([[[10.0, 20.0], [40.0, 60.0]], [[0.0, 0.0], [60.0, 80.0]]])


def _case(offsets: dict[tuple[int, int], float], visible: np.ndarray | None = None):
    """Ground truth on a grid; predictions moved right by ``offsets[(person, joint)]`` px."""
    gt = np.stack([np.stack([np.arange(K) * 7.0, np.arange(K) * 3.0], -1)] * 2) + 100.0
    pred = gt.copy()
    for (n, j), dx in offsets.items():
        pred[n, j, 0] += dx
    vis = np.ones((2, K), bool) if visible is None else visible
    return pred, gt, vis


def test_head_size_is_sc_bias_times_the_diagonal() -> None:
    assert SC_BIAS == 0.6
    np.testing.assert_allclose(head_sizes(BOXES), [30.0, 60.0])


def test_normalization_and_threshold_decide_a_known_case() -> None:
    # person 0's head joint is 16 px off: 16 / 30 = 0.533 > 0.5 -> wrong. Without SC_BIAS
    # (16 / 50 = 0.32) or with a threshold of 0.6 it would count as correct.
    # person 1's head joint is 29 px off: 29 / 60 = 0.483 -> correct (29 / 30 would not be:
    # a head size taken from the wrong person fails too).
    pred, gt, vis = _case({(0, HEAD): 16.0, (1, HEAD): 29.0})
    res = pckh_summary(pred, gt, vis, BOXES)
    assert res.per_joint[HEAD] == pytest.approx(50.0)
    assert res.table["Head"] == pytest.approx(50.0)
    # 14 joints in the mean (pelvis, thorax out), each seen twice: 27 of 28 correct
    assert res.table["Mean"] == pytest.approx(100.0 * 27 / 28)
    # the same error just inside the threshold counts: exactly 0.5 head sizes is correct (<=)
    pred, gt, vis = _case({(0, HEAD): 15.0, (1, HEAD): 30.0})
    assert pckh_summary(pred, gt, vis, BOXES).per_joint[HEAD] == pytest.approx(100.0)


def test_threshold_parameter_and_the_official_mean_at_01() -> None:
    # 3.2 px / 30 px = 0.1067: correct at the official "Mean@0.1" threshold (0.11, row 11 of
    # arange(0, 0.51, 0.01)), wrong at exactly 0.1; 2.9 px (0.0967) is correct at both.
    assert OFFICIAL_PCKH01_THRESHOLD == pytest.approx(0.11)
    pred, gt, vis = _case({(0, LSHO): 3.2, (0, RSHO): 2.9})
    res = pckh_summary(pred, gt, vis, BOXES)
    assert res.per_joint_01[LSHO] == pytest.approx(100.0)
    stats = pckh_stats(res)
    assert stats["PCKh@0.1"] == pytest.approx(100.0)
    assert stats["PCKh@0.1_exact"] == pytest.approx(100.0 * 27 / 28)
    # at threshold 0.1 via the parameter, person 0's left shoulder is wrong
    strict = pckh_summary(pred, gt, vis, BOXES, threshold=0.1)
    assert strict.per_joint[LSHO] == pytest.approx(50.0)
    assert strict.per_joint[RSHO] == pytest.approx(100.0)
    assert strict.table["Shoulder"] == pytest.approx(75.0)  # mean of left and right


def test_invisible_joints_do_not_count() -> None:
    vis = np.ones((2, K), bool)
    vis[0, HEAD] = False
    pred, gt, vis = _case({(0, HEAD): 500.0, (1, HEAD): 10.0}, vis)
    res = pckh_summary(pred, gt, vis, BOXES)
    assert res.counts[HEAD] == 1
    assert res.per_joint[HEAD] == pytest.approx(100.0)
    assert res.table["Mean"] == pytest.approx(100.0)
    # a joint never visible is NaN and has no weight in the mean
    vis[:, HEAD] = False
    res = pckh_summary(pred, gt, vis, BOXES)
    assert np.isnan(res.per_joint[HEAD]) and res.table["Mean"] == pytest.approx(100.0)


def test_mean_leaves_out_pelvis_and_thorax_and_weights_by_counts() -> None:
    pred, gt, vis = _case({(0, PELVIS): 100.0, (1, PELVIS): 100.0, (0, THORAX): 100.0})
    res = pckh_summary(pred, gt, vis, BOXES)
    assert res.per_joint[PELVIS] == 0.0 and res.per_joint[THORAX] == 50.0
    assert res.table["Mean"] == pytest.approx(100.0)
    # weights: the head seen once (and wrong), every other joint twice (and right): 26 / 27
    vis = np.ones((2, K), bool)
    vis[1, HEAD] = False
    pred, gt, vis = _case({(0, HEAD): 100.0}, vis)
    assert pckh_summary(pred, gt, vis, BOXES).table["Mean"] == pytest.approx(100.0 * 26 / 27)


def test_table_layout_is_the_official_one() -> None:
    pred, gt, vis = _case({})
    text = format_pckh_table(pckh_summary(pred, gt, vis, BOXES).table, "pose_hrnet")
    lines = text.splitlines()
    assert lines[0] == (
        "| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.1 |"
    )
    assert lines[1] == "|---" * 10 + "|"
    assert lines[2] == "| pose_hrnet " + " ".join(["| 100.000"] * 9) + " |"


def _write_mat(path: Path, gt: np.ndarray, vis: np.ndarray, boxes: np.ndarray, **extra) -> Path:
    from scipy.io import savemat

    names = np.empty((1, K), dtype=object)
    names[0, :] = list(MPII_MAT_JOINT_NAMES)
    mat = {
        "dataset_joints": names,
        "jnt_missing": (~vis).T.astype(np.float64),
        "pos_gt_src": np.transpose(gt + 1.0, (1, 2, 0)),  # (16, 2, N), 1-based
        "headboxes_src": np.transpose(boxes + 1.0, (1, 2, 0)),  # (2, 2, N), 1-based
    }
    mat.update(extra)
    savemat(str(path), mat)
    return path


def test_gt_valid_mat_is_read_0_based(tmp_path: Path) -> None:
    vis = np.ones((2, K), bool)
    vis[1, 3] = False
    pred, gt, _ = _case({(0, HEAD): 16.0, (1, HEAD): 29.0})
    path = _write_mat(tmp_path / "gt_valid.mat", gt, vis, BOXES)
    read = read_pckh_gt(path)
    np.testing.assert_allclose(read.joints, gt)
    np.testing.assert_allclose(read.head_boxes, BOXES)
    np.testing.assert_array_equal(read.visible, vis)
    res = pckh_summary(pred, read.joints, read.visible, read.head_boxes)
    assert res.per_joint[HEAD] == pytest.approx(50.0) and res.counts[3] == 1


def test_malformed_mat_is_one_line(tmp_path: Path) -> None:
    from scipy.io import savemat

    savemat(str(tmp_path / "a.mat"), {"pos_gt_src": np.zeros((16, 2, 1))})
    with pytest.raises(DataError, match=r"a\.mat: missing key 'dataset_joints'") as err:
        read_gt_mat(tmp_path / "a.mat")
    assert "\n" not in str(err.value)
    _, gt, vis = _case({})
    bad = _write_mat(tmp_path / "b.mat", gt, vis, BOXES, headboxes_src=np.zeros((2, 2, 5)))
    with pytest.raises(DataError, match=r"b\.mat: 'headboxes_src' must be \(2, 2, 2\)"):
        read_gt_mat(bad)
    (tmp_path / "c.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match=r"c\.mat: not a readable \.mat"):
        read_gt_mat(tmp_path / "c.mat")
    with pytest.raises(DataError, match="not found"):
        read_gt_mat(tmp_path / "none.mat")
