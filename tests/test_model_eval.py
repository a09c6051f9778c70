"""Evaluation with a model: GT boxes vs detections are one option apart; flip test merges."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from simdr_lib.data.loaders import eval_records, load_split
from simdr_lib.engine.model_eval import evaluate_model
from simdr_lib.factory import model_from_config


def test_gt_and_detected_boxes_are_one_option_apart(tiny_cfg) -> None:
    data = load_split(tiny_cfg, "val")
    gt = eval_records(tiny_cfg, data, use_gt_bbox=True)
    det = eval_records(tiny_cfg, data, use_gt_bbox=False)
    assert gt and det
    assert all(r.score == 1.0 for r in gt)
    assert any(r.score < 1.0 for r in det) and all(r.keypoints.sum() == 0 for r in det)
    cfg_det = tiny_cfg.with_overrides({"eval.use_gt_bbox": False})
    assert len(eval_records(cfg_det, data)) == len(det)


def test_evaluate_model_protocols_and_flip(tiny_cfg, tmp_path) -> None:
    paddle.seed(0)
    model = model_from_config(tiny_cfg)
    res_gt = evaluate_model(
        tiny_cfg,
        model,
        use_gt_bbox=True,
        flip_test=False,
        progress=False,
        keep_probs=True,
        out_dir=tmp_path,
    )
    res_det = evaluate_model(tiny_cfg, model, use_gt_bbox=False, progress=False)
    res_flip = evaluate_model(tiny_cfg, model, use_gt_bbox=True, flip_test=True, progress=False)
    assert res_gt.use_gt_bbox and not res_det.use_gt_bbox and res_flip.flip_test
    assert res_gt.num_people != res_det.num_people
    for res in (res_gt, res_det, res_flip):
        assert set(res.stats) >= {"AP", "AP50", "AP75", "APm", "APl", "AR"}
        assert all(-1.0 <= v <= 1.0 for v in res.stats.values())
    p = res_gt.predictions
    assert p.keypoints_img.shape == (res_gt.num_people, 17, 2)
    assert p.gt_keypoints_img.shape == (res_gt.num_people, 17, 3)
    assert ((p.scores >= 0) & (p.scores <= 1)).all()
    x_prob, y_prob = p.probs
    np.testing.assert_allclose(x_prob.sum(-1), 1.0, atol=1e-4)
    assert y_prob.shape[-1] == int(tiny_cfg.codec.input_size[1] * tiny_cfg.codec.split_ratio)
    # the flip test changes the prediction (merged with the mirrored crop's output)
    assert not np.allclose(res_flip.predictions.keypoints_img, p.keypoints_img)
    assert (tmp_path / "keypoints_val_results.json").is_file()
    assert (tmp_path / "eval_metrics.json").is_file()


def _fixed_point_prob_fn(codec, crop_point: np.ndarray, num_joints: int):
    """A stand-in model: every joint of every crop sits at ``crop_point`` (crop px)."""

    def prob_fn(images: np.ndarray) -> tuple[np.ndarray, ...]:
        n = images.shape[0]
        kp = np.broadcast_to(crop_point, (n, num_joints, 2))
        t = codec.encode(kp, np.full((n, num_joints), 2))
        return t["x_target"], t["y_target"]

    return prob_fn


def test_predictions_map_back_with_the_configured_pixel_std(tiny_cfg) -> None:
    """pixel_std is only the unit of the box scale: crop -> image must not depend on it.

    The crop shows the padded, aspect-fixed box edge to edge, so crop pixel ``p`` is image
    pixel ``centre + (p - ((W-1)/2, (H-1)/2)) * box / (W, H)`` for any ``pixel_std``.
    """
    from simdr_lib.engine.model_eval import predict_records
    from simdr_lib.factory import codec_from_config

    data = load_split(tiny_cfg, "val")
    records = eval_records(tiny_cfg, data, use_gt_bbox=True)[:5]
    w, h = tiny_cfg.codec.input_size
    crop_point = np.array([10.0, 50.0])  # on the bin grid (k = 2): decodes exactly
    got = {}
    for pixel_std in (200.0, 100.0):
        cfg = tiny_cfg.with_overrides({"data.pixel_std": pixel_std})
        codec = codec_from_config(cfg)
        prob_fn = _fixed_point_prob_fn(codec, crop_point, cfg.model.num_joints)
        got[pixel_std] = predict_records(cfg, prob_fn, records, codec, False, progress=False)
    for rec, kp, area in zip(records, got[100.0].keypoints_img, got[100.0].areas):
        x, y, bw, bh = rec.box
        fit = np.array([bw, bw * h / w] if bw > bh * w / h else [bh * w / h, bh])
        box = fit * tiny_cfg.data.padding  # image px shown by the crop
        centre = np.array([x + bw / 2, y + bh / 2])
        expected = centre + (crop_point - [(w - 1) / 2, (h - 1) / 2]) * box / [w, h]
        np.testing.assert_allclose(kp, np.broadcast_to(expected, kp.shape), atol=1e-6)
        assert area == pytest.approx(box[0] * box[1])
    np.testing.assert_allclose(got[100.0].keypoints_img, got[200.0].keypoints_img, atol=1e-6)
    np.testing.assert_allclose(got[100.0].areas, got[200.0].areas)
