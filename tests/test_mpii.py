"""MPII loader (HRNet json), its one-line errors, the config switch and the generated data."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from simdr_lib.config import load_config
from simdr_lib.data.mpii import load_mpii
from simdr_lib.data.transforms import box_to_center_scale
from simdr_lib.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo_tiny_mpii.yml"


def _entry(image: str = "a.jpg", **changes: object) -> dict:
    joints = [[10.0 + 3 * j, 20.0 + 5 * j] for j in range(16)]
    out = {
        "image": image,
        "center": [51.0, 61.0],
        "scale": 0.4,
        "joints": joints,
        "joints_vis": [1] * 15 + [0],
        "head_box": [41.0, 11.0, 61.0, 41.0],
    }
    out.update(changes)
    return out


def _write(tmp_path: Path, entries: object, name: str = "train.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    for img in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / img), np.zeros((120, 100, 3), np.uint8))
    return path


def test_round_trip_of_a_hand_made_json(tmp_path: Path) -> None:
    path = _write(tmp_path, [_entry(), _entry("b.jpg"), _entry(scale=0.8)])
    data = load_mpii(path, tmp_path)
    assert len(data.records) == 3 and data.num_images == 2
    assert [r.image_id for r in data.records] == [1, 2, 1]
    rec = data.records[0]
    assert rec.image_path == str(tmp_path / "a.jpg")
    # joints 0-based (json - 1), visibility 0 / 2
    np.testing.assert_allclose(rec.keypoints[:, :2], np.array(_entry()["joints"]) - 1.0)
    assert rec.keypoints[15, 2] == 0 and (rec.keypoints[:15, 2] == 2).all()
    # the crop is the reference's: center - 1 moved down 15 * s, scale * 1.25 (square input)
    center, scale = box_to_center_scale(rec.box, 1.0, padding=1.25, pixel_std=200.0)
    np.testing.assert_allclose(center, [50.0, 60.0 + 15 * 0.4])
    np.testing.assert_allclose(scale, [0.4 * 1.25, 0.4 * 1.25])
    np.testing.assert_allclose(data.head_boxes[0], [[40.0, 10.0], [60.0, 40.0]])
    assert data.visible.shape == (3, 16) and not data.visible[0, 15]


def test_head_boxes_are_optional_but_all_or_none(tmp_path: Path) -> None:
    plain = {k: v for k, v in _entry().items() if k != "head_box"}
    assert load_mpii(_write(tmp_path, [plain, plain]), tmp_path).head_boxes is None
    with pytest.raises(DataError, match=r"entry \[1\]: missing 'head_box'"):
        load_mpii(_write(tmp_path, [_entry(), plain]), tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry(joints=[[1.0, 2.0]] * 17), r"entry \[1\]: 'joints' must be 16x2 numbers, got 17"),
        ({k: v for k, v in _entry().items() if k != "center"}, r"entry \[1\]: missing 'center'"),
        ({k: v for k, v in _entry().items() if k != "scale"}, r"entry \[1\]: missing 'scale'"),
        (_entry(scale=0), r"entry \[1\]: 'scale' must be a number > 0"),
        (_entry(center=[1.0]), r"entry \[1\]: 'center' must be 2 numbers"),
        (_entry(joints_vis=[1] * 15), r"entry \[1\]: 'joints_vis' must be 16 numbers"),
        (_entry(joints_vis=[2] * 16), r"entry \[1\]: 'joints_vis' must hold 0 or 1"),
        (_entry(joints=[[float("nan"), 2.0]] * 16), r"'joints' must hold finite numbers"),
        (_entry(image=""), r"entry \[1\]: 'image' must be a non-empty file name"),
        ("person", r"entry \[1\]: must be an object"),
    ],
)
def test_malformed_entries_are_one_line(tmp_path: Path, entry: object, message: str) -> None:
    path = _write(tmp_path, [_entry(), entry])
    with pytest.raises(DataError, match=message) as err:
        load_mpii(path, tmp_path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_malformed_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="top level must be a list"):
        load_mpii(_write(tmp_path, {"a": 1}), tmp_path)
    with pytest.raises(DataError, match="not found|does not exist|No such"):
        load_mpii(tmp_path / "missing.json", tmp_path)
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(DataError, match="broken.json"):
        load_mpii(tmp_path / "broken.json", tmp_path)
    with pytest.raises(DataError, match=r"1 of 1 images are missing.*first: c\.jpg"):
        load_mpii(_write(tmp_path, [_entry("c.jpg")]), tmp_path)


def test_cli_prints_one_line_for_a_malformed_json(tmp_path: Path, capsys) -> None:
    from simdr_lib.cli import main

    bad = {k: v for k, v in _entry().items() if k != "center"}
    _write(tmp_path, [bad], "train.json")
    _write(tmp_path, [_entry()], "valid.json")
    opts = [
        f"data.root={tmp_path}",
        "data.synthetic=false",
        "data.train_images=.",
        "data.val_images=.",
        "data.train_ann=train.json",
        "data.val_ann=valid.json",
    ]
    code = main(["validate", "-c", str(DEMO), *[a for o in opts for a in ("-o", o)]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.endswith("train.json: entry [0]: missing 'center'")


def test_config_checks_the_dataset() -> None:
    cfg = load_config(DEMO)
    assert cfg.data.dataset == "mpii" and cfg.model.num_joints == 16
    with pytest.raises(ConfigError, match="data.dataset must be one of coco|mpii"):
        load_config(DEMO, {"data.dataset": "lsp"})
    with pytest.raises(ConfigError, match="mpii needs model.num_joints 16, got 17"):
        load_config(DEMO, {"model.num_joints": 17})
    with pytest.raises(ConfigError, match="eval.use_gt_bbox true"):
        load_config(DEMO, {"eval.use_gt_bbox": False})
    for name in ("simdr", "sa_simdr", "heatmap"):
        official = load_config(ROOT / "configs" / f"{name}_hrnet_w32_256x256_mpii.yml")
        assert official.data.dataset == "mpii" and official.codec.input_size == (256, 256)
    sa = load_config(ROOT / "configs" / "sa_simdr_hrnet_w32_256x256_mpii.yml")
    assert (sa.codec.split_ratio, sa.codec.sigma) == (2.0, 6.0)


def test_coco_to_mpii_joint_mapping() -> None:
    from simdr_lib.data.synthetic_mpii import coco_to_mpii_joints, head_box_for

    coco = np.zeros((17, 3))
    coco[:, 0], coco[:, 1], coco[:, 2] = np.arange(17) * 10.0, 200 - np.arange(17), 2
    mpii = coco_to_mpii_joints(coco)
    assert (mpii[:, 2] == 1).all()
    np.testing.assert_allclose(mpii[0, :2], coco[16, :2])  # right ankle
    np.testing.assert_allclose(mpii[13, :2], coco[5, :2])  # left shoulder
    np.testing.assert_allclose(mpii[6, :2], (coco[11, :2] + coco[12, :2]) / 2)  # pelvis
    np.testing.assert_allclose(mpii[7, :2], (coco[5, :2] + coco[6, :2]) / 2)  # thorax
    box = head_box_for(mpii, np.array([0.0, 0.0, 100.0, 200.0]))
    np.testing.assert_allclose(box.mean(axis=0), (mpii[8, :2] + mpii[9, :2]) / 2)
    coco[:5, 2] = 0  # no labeled face: no neck / head top, the head box from the person box
    mpii = coco_to_mpii_joints(coco)
    assert mpii[8, 2] == 0 and mpii[9, 2] == 0
    np.testing.assert_allclose(
        head_box_for(mpii, np.array([0.0, 0.0, 100.0, 200.0])), [[34.0, 0.0], [66.0, 32.0]]
    )


def test_generated_mpii_data_loads_with_head_boxes(tmp_path: Path) -> None:
    from simdr_lib.data.loaders import ensure_dataset, load_split
    from simdr_lib.engine.mpii_eval import pckh_stats_for

    cfg = load_config(
        DEMO, {"data.root": str(tmp_path / "m"), "data.synthetic_train": 4, "data.synthetic_val": 3}
    )
    ensure_dataset(cfg, progress=False)
    train, val = load_split(cfg, "train"), load_split(cfg, "val")
    assert train.num_images == 4 and val.num_images == 3 and val.head_boxes is not None
    # the ground truth as predictions is 100 % at both thresholds
    stats = pckh_stats_for(cfg, val, val.records, val.joints)
    assert stats["PCKh"] == pytest.approx(100.0) and stats["PCKh@0.1"] == pytest.approx(100.0)
    # a PCKh ground truth of another size is refused
    other = tmp_path / "other.json"
    other.write_text(json.dumps([_entry()]))
    with pytest.raises(DataError, match="1 people in the PCKh ground truth, but"):
        pckh_stats_for(
            cfg.with_overrides({"data.pckh_gt": str(other)}), val, val.records, val.joints
        )


def test_mpii_joint_tables_are_consistent() -> None:
    from simdr_lib.keypoints_mpii import (
        MPII_FLIP_PAIRS,
        MPII_KEYPOINT_NAMES,
        MPII_PCKH_GROUPS,
        MPII_SKELETON,
    )

    names = MPII_KEYPOINT_NAMES
    for right, left in MPII_FLIP_PAIRS:  # each pair swaps a right joint with its left twin
        assert names[right] == names[left].replace("left", "right")
    assert all(1 <= a <= 16 and 1 <= b <= 16 for a, b in MPII_SKELETON)  # 1-based
    assert sorted(j for _, ids in MPII_PCKH_GROUPS for j in ids) == [
        j for j in range(16) if j not in (6, 7, 8)
    ]
