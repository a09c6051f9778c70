"""Tests for simdr_lib.engine.evaluate (OKS, OKS-NMS, rescoring, COCOeval wrapper)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from simdr_lib.engine.evaluate import (
    STATS_NAMES,
    build_coco_results,
    evaluate_coco,
    evaluate_coco_with_summary,
    format_ap_table,
    oks,
    oks_nms,
    rescore,
)
from simdr_lib.errors import DataError
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_OKS_SIGMAS, COCO_SKELETON

K = len(COCO_KEYPOINT_NAMES)


def _person(rng: np.random.Generator, x0: float, y0: float, w: float, h: float) -> np.ndarray:
    """(K, 3) keypoints uniformly inside a box, score 1."""
    xy = rng.uniform([x0, y0], [x0 + w, y0 + h], size=(K, 2))
    return np.concatenate([xy, np.ones((K, 1))], axis=1)


# --------------------------------------------------------------------------------------------
# OKS
# --------------------------------------------------------------------------------------------
def test_oks_identical_is_one_and_decreases_with_distance() -> None:
    rng = np.random.default_rng(0)
    a = _person(rng, 100, 100, 80, 160)
    shifts = np.array([0.0, 1.0, 3.0, 10.0, 30.0, 100.0])
    b = np.repeat(a[None], len(shifts), axis=0)
    b[:, :, 0] += shifts[:, None]
    val = oks(a, b, 80 * 160, np.full(len(shifts), 80 * 160.0), COCO_OKS_SIGMAS)
    assert val.shape == (len(shifts),)
    assert val[0] == pytest.approx(1.0)
    assert np.all(np.diff(val) < 0)
    assert val[-1] < 0.05


def test_oks_matches_coco_formula_for_one_joint() -> None:
    sig = np.array([0.1])
    a = np.array([[0.0, 0.0, 1.0]])
    b = np.array([[[3.0, 4.0, 1.0]]])  # d^2 = 25
    area = 100.0
    expected = np.exp(-25.0 / (2.0 * area * (2 * 0.1) ** 2))
    assert oks(a, b, area, np.array([area]), sig)[0] == pytest.approx(expected)


def test_oks_vis_thresh_ignores_low_score_joints() -> None:
    rng = np.random.default_rng(1)
    a = _person(rng, 0, 0, 100, 100)
    b = a.copy()
    b[:5, :2] += 500.0  # far off, but ...
    b[:5, 2] = 0.01  # ... low confidence
    full = oks(a, b[None], 1e4, np.array([1e4]), COCO_OKS_SIGMAS)[0]
    masked = oks(a, b[None], 1e4, np.array([1e4]), COCO_OKS_SIGMAS, vis_thresh=0.2)[0]
    assert full < 0.8
    assert masked == pytest.approx(1.0)
    b[:, 2] = 0.0  # no joint above threshold -> 0, not NaN
    none = oks(a, b[None], 1e4, np.array([1e4]), COCO_OKS_SIGMAS, vis_thresh=0.2)
    assert none[0] == 0.0


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    area_a=st.floats(100.0, 1e5),
    area_b=st.floats(100.0, 1e5),
)
def test_oks_bounded_and_symmetric(seed: int, area_a: float, area_b: float) -> None:
    rng = np.random.default_rng(seed)
    a, b = _person(rng, 0, 0, 200, 200), _person(rng, 0, 0, 200, 200)
    ab = oks(a, b[None], area_a, np.array([area_b]), COCO_OKS_SIGMAS)[0]
    ba = oks(b, a[None], area_b, np.array([area_a]), COCO_OKS_SIGMAS)[0]
    assert 0.0 <= ab <= 1.0
    assert ab == pytest.approx(ba)


# --------------------------------------------------------------------------------------------
# OKS-NMS and rescoring
# --------------------------------------------------------------------------------------------
def test_oks_nms_removes_near_duplicate_and_keeps_distinct_people() -> None:
    rng = np.random.default_rng(2)
    p1 = _person(rng, 50, 50, 80, 160)
    p2 = _person(rng, 300, 60, 80, 160)
    dup = p1.copy()
    dup[:, :2] += rng.normal(0, 0.5, size=(K, 2))
    kpts = np.stack([dup, p2, p1])
    scores = np.array([0.9, 0.5, 0.7])  # the jittered duplicate scores highest
    areas = np.full(3, 80 * 160.0)
    keep = oks_nms(kpts, scores, areas, thresh=0.9)
    assert keep.tolist() == [0, 1]
    # Swap scores: now the original wins and the duplicate goes.
    keep = oks_nms(kpts, np.array([0.6, 0.5, 0.7]), areas, thresh=0.9)
    assert keep.tolist() == [2, 1]


def test_oks_nms_edge_cases() -> None:
    assert oks_nms(np.zeros((0, K, 3)), np.zeros(0), np.zeros(0)).tolist() == []
    one = np.ones((1, K, 3))
    assert oks_nms(one, np.array([0.3]), np.array([100.0])).tolist() == [0]


def test_rescore_hand_computed_and_no_nan() -> None:
    kp = np.array([[0.5, 0.3, 0.1, 0.01], [0.1, 0.05, 0.0, 0.2]])
    box = np.array([0.8, 0.9])
    out = rescore(kp, box, in_vis_thresh=0.2)
    # person 0: joints above 0.2 are 0.5 and 0.3 -> mean 0.4 -> 0.8 * 0.4
    # person 1: none above 0.2 (0.2 is not > 0.2) -> 0
    np.testing.assert_allclose(out, [0.32, 0.0])
    assert np.all(np.isfinite(out))
    out = rescore(kp, box, in_vis_thresh=0.005)
    np.testing.assert_allclose(out, [0.8 * (0.91 / 4), 0.9 * (0.35 / 3)])


# --------------------------------------------------------------------------------------------
# Results format
# --------------------------------------------------------------------------------------------
def test_build_coco_results_groups_and_suppresses_per_image() -> None:
    rng = np.random.default_rng(3)
    p = _person(rng, 10, 10, 80, 160)
    q = _person(rng, 300, 10, 80, 160)
    kxy = np.stack([p[:, :2], q[:, :2], p[:, :2] + 0.1, p[:, :2]])
    ids = np.array([7, 3, 7, 3])  # person p appears twice in image 7, once in image 3
    kps = np.full((4, K), 0.6)
    kps[2] = 0.5  # the near-duplicate scores lower
    res = build_coco_results(ids, kxy, kps, np.ones(4), np.full(4, 80 * 160.0))
    assert [r["image_id"] for r in res] == [3, 3, 7]
    assert all(type(r["image_id"]) is int and r["category_id"] == 1 for r in res)
    for r in res:
        assert len(r["keypoints"]) == 3 * K
        assert all(type(v) is float for v in r["keypoints"])
        assert type(r["score"]) is float
    kept7 = res[2]
    np.testing.assert_allclose(np.reshape(kept7["keypoints"], (K, 3))[:, :2], p[:, :2])
    assert kept7["score"] == pytest.approx(0.6)
    json.dumps(res)  # serializable
    assert build_coco_results(np.zeros(0), np.zeros((0, K, 2)), np.zeros((0, K)), [], []) == []


def test_build_coco_results_rejects_bad_shapes() -> None:
    with pytest.raises(DataError):
        build_coco_results(np.zeros(2), np.zeros((2, K, 3)), np.zeros((2, K)), [1, 1], [1, 1])


# --------------------------------------------------------------------------------------------
# COCOeval on a tiny GT
# --------------------------------------------------------------------------------------------
# (image id, box x, y, w, h): areas 60*70=4200 (medium) and 120*200=24000 (large).
_PEOPLE = (
    (1, 20, 30, 60, 70),
    (1, 200, 40, 120, 200),
    (2, 50, 50, 120, 200),
    (3, 10, 10, 60, 70),
    (3, 250, 100, 120, 200),
)


@pytest.fixture(scope="module")
def tiny_gt(tmp_path_factory: pytest.TempPathFactory) -> COCO:
    rng = np.random.default_rng(4)
    anns = []
    for i, (img, x, y, w, h) in enumerate(_PEOPLE):
        kp = _person(rng, x, y, w, h)
        kp[:, 2] = 2
        if i == 1:
            kp[[3, 4]] = 0  # unlabeled ears
        anns.append(
            {
                "id": i + 1,
                "image_id": img,
                "category_id": 1,
                "bbox": [x, y, w, h],
                "area": float(w * h),
                "iscrowd": 0,
                "num_keypoints": int((kp[:, 2] > 0).sum()),
                "keypoints": kp.round(2).ravel().tolist(),
            }
        )
    data = {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in (1, 2, 3)
        ],
        "annotations": anns,
        "categories": [
            {
                "id": 1,
                "name": "person",
                "supercategory": "person",
                "keypoints": list(COCO_KEYPOINT_NAMES),
                "skeleton": [list(e) for e in COCO_SKELETON],
            }
        ],
    }
    path = tmp_path_factory.mktemp("gt") / "person_keypoints_tiny.json"
    path.write_text(json.dumps(data))
    return COCO(str(path))


def _gt_as_results(gt: COCO, jitter: float = 0.0, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for ann in gt.loadAnns(gt.getAnnIds()):
        kp = np.reshape(ann["keypoints"], (K, 3)).astype(float)
        kp[:, :2] += rng.normal(0.0, jitter, size=(K, 2)) if jitter else 0.0
        kp[:, 2] = 0.9
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": 1,
                "keypoints": kp.ravel().tolist(),
                "score": 1.0,
            }
        )
    return out


def test_gt_as_prediction_scores_perfect(tiny_gt: COCO) -> None:
    stats, text = evaluate_coco_with_summary(tiny_gt, _gt_as_results(tiny_gt))
    assert set(stats) == set(STATS_NAMES)
    for name in ("AP", "AP50", "AP75", "APm", "APl", "AR", "ARm", "ARl"):
        assert stats[name] == pytest.approx(1.0), name
    assert "Average Precision" in text


def test_perturbed_keypoints_drop_ap(tiny_gt: COCO) -> None:
    stats = evaluate_coco(tiny_gt, _gt_as_results(tiny_gt, jitter=25.0))
    assert stats["AP"] < 0.5


def test_missing_person_counts_as_missed(tiny_gt: COCO) -> None:
    res = [r for r in _gt_as_results(tiny_gt) if r["image_id"] != 2]  # image 2 has no prediction
    stats = evaluate_coco(tiny_gt, res)
    assert stats["AR"] == pytest.approx(4 / 5)
    assert stats["AP"] < 1.0


def test_pipeline_from_arrays_through_nms(tiny_gt: COCO) -> None:
    """build_coco_results -> evaluate_coco, with an extra low-score duplicate per person."""
    anns = tiny_gt.loadAnns(tiny_gt.getAnnIds())
    kp = np.stack([np.reshape(a["keypoints"], (K, 3)) for a in anns])
    ids = np.array([a["image_id"] for a in anns])
    areas = np.array([a["area"] for a in anns])
    kxy = np.concatenate([kp[:, :, :2], kp[:, :, :2] + 0.3])
    scores = np.concatenate([np.full((len(anns), K), 0.05), np.full((len(anns), K), 0.03)])
    res = build_coco_results(
        np.concatenate([ids, ids]),
        kxy,
        scores,
        np.ones(2 * len(anns)),
        np.concatenate([areas, areas]),
        in_vis_thresh=0.01,
    )
    assert len(res) == len(anns)
    assert evaluate_coco(tiny_gt, res)["AP"] == pytest.approx(1.0)


def test_empty_results_give_zeros(tiny_gt: COCO, tmp_path: Path) -> None:
    out = tmp_path / "empty.json"
    stats = evaluate_coco(tiny_gt, [], results_file=out)
    assert stats == dict.fromkeys(STATS_NAMES, 0.0)
    assert json.loads(out.read_text()) == []


def test_results_file_written_atomically(tiny_gt: COCO, tmp_path: Path) -> None:
    res = _gt_as_results(tiny_gt)
    out = tmp_path / "sub" / "keypoints_results.json"
    evaluate_coco(tiny_gt, res, results_file=out)
    assert json.loads(out.read_text()) == res
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp files left
    assert "area" not in res[0]  # caller's dicts are not mutated by loadRes


def test_wrong_k_raises_data_error(tiny_gt: COCO) -> None:
    res = _gt_as_results(tiny_gt)
    res[0] = {**res[0], "keypoints": res[0]["keypoints"][:-3]}
    with pytest.raises(DataError, match="3\\*K=51"):
        evaluate_coco(tiny_gt, res)


def test_unknown_image_raises_data_error(tiny_gt: COCO) -> None:
    res = _gt_as_results(tiny_gt)
    res[0] = {**res[0], "image_id": 999}
    with pytest.raises(DataError, match="999"):
        evaluate_coco(tiny_gt, res)


def test_format_ap_table() -> None:
    stats = dict.fromkeys(STATS_NAMES, 0.0) | {"AP": 0.7234, "APl": 0.8}
    lines = format_ap_table(stats).splitlines()
    assert len(lines) == 3
    assert lines[0].split("|")[0].strip() == "AP"
    assert [c.strip() for c in lines[2].split("|")] == ["72.3", "0.0", "0.0", "0.0", "80.0", "0.0"]
    assert len({len(line) for line in lines}) == 1
