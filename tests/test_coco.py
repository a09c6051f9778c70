"""simdr_lib.data.coco: validation, records, detections, stats."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from coco_helpers import coco_dict, write_coco

from simdr_lib.data.coco import (
    PersonRecord,
    clean_boxes,
    dataset_stats,
    load_coco_keypoints,
    load_detections,
)
from simdr_lib.errors import DataError


def test_valid_file_gives_usable_records(tmp_path, capsys):
    ann_file, image_dir = write_coco(tmp_path)
    data = load_coco_keypoints(ann_file, image_dir)
    assert capsys.readouterr().out == ""  # pycocotools prints suppressed
    assert data.num_images == 2 and data.num_joints == 17
    assert data.keypoint_names[0] == "nose" and data.person_category_id == 1
    # 2 labeled non-crowd people per image; crowd and unlabeled ones dropped
    assert [r.ann_id for r in data.records] == [100, 101, 104, 105]
    rec = data.records[0]
    assert isinstance(rec, PersonRecord)
    assert rec.image_path == str(image_dir / "img_001.jpg")
    assert rec.keypoints.shape == (17, 3) and rec.box.shape == (4,)
    np.testing.assert_allclose(rec.box, [4, 2, 19, 39])  # HRNet cleaning: w - 1, h - 1
    np.testing.assert_allclose(data.records[1].box, [30, 5, 33, 42])  # clipped to 63, 47
    assert rec.score == 1.0 and rec.area == pytest.approx(20 * 40 * 0.6)
    assert not rec.keypoints.flags.writeable
    assert len(data.coco.getAnnIds()) == 8 and data.coco.imgs[1]["width"] == 64


def test_missing_defaults_are_filled(tmp_path):
    d = coco_dict()
    for key in ("area", "iscrowd", "num_keypoints"):
        del d["annotations"][0][key]
    ann_file, image_dir = write_coco(tmp_path, d)
    data = load_coco_keypoints(ann_file, image_dir)
    ann = data.coco.anns[100]
    assert ann["area"] == 800.0 and ann["iscrowd"] == 0 and ann["num_keypoints"] == 17


def _mutate(path: str, value):
    """Copy of the default dict with ``path`` (tuple of keys / indices) set or deleted."""
    d = copy.deepcopy(coco_dict())
    *head, last = path
    node = d
    for key in head:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return d


_DELETE = object()

BAD_CASES = [
    ("no_annotations", ("annotations",), _DELETE, ["missing top-level key 'annotations'"]),
    (
        "kpts_len",
        ("annotations", 1, "keypoints"),
        [1.0] * 50,
        ["annotation id 101", "'keypoints' has 50 values, expected 51"],
    ),
    (
        "neg_box",
        ("annotations", 2, "bbox"),
        [0.0, 0.0, -3.0, 4.0],
        ["annotation id 102", "'bbox'", "negative"],
    ),
    (
        "zero_box",
        ("annotations", 0, "bbox"),
        [3.0, 3.0, 0.0, 10.0],
        ["annotation id 100", "'bbox'", "zero width or height"],
    ),
    (
        "unknown_image",
        ("annotations", 4, "image_id"),
        99,
        ["annotation id 104", "'image_id' 99 is not in 'images'"],
    ),
    ("box_text", ("annotations", 1, "bbox"), [1, 2, "3", 4], ["annotation id 101", "'bbox'"]),
    ("bad_vis", ("annotations", 0, "keypoints", 2), 5, ["annotation id 100", "visibility"]),
    ("no_file_name", ("images", 1, "file_name"), _DELETE, ["image id 2", "'file_name'"]),
    ("bad_width", ("images", 0, "width"), 0, ["image id 1", "'width'"]),
    (
        "names",
        ("categories", 0, "keypoints"),
        ["nose"] * 16,
        ["category id 1", "'keypoints' has 16 names, expected 17"],
    ),
    ("dup_ann", ("annotations", 1, "id"), 100, ["annotation id 100", "duplicate 'id'"]),
    ("no_ann_id", ("annotations", 3, "id"), _DELETE, ["annotations[3]", "'id'"]),
    ("bad_cat", ("annotations", 0, "category_id"), 7, ["annotation id 100", "'category_id'"]),
]


@pytest.mark.parametrize(
    ("case", "path", "value", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_malformed_annotations_name_file_and_record(tmp_path, case, path, value, expected):
    ann_file, image_dir = write_coco(tmp_path, _mutate(path, value))
    with pytest.raises(DataError) as info:
        load_coco_keypoints(ann_file, image_dir)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(ann_file))
    for part in expected:
        assert part in msg


def test_not_json(tmp_path):
    ann_file = tmp_path / "bad.json"
    ann_file.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(DataError, match=r"bad.json: not valid JSON \(line 2, column"):
        load_coco_keypoints(ann_file, tmp_path)


def test_missing_annotation_file(tmp_path):
    with pytest.raises(DataError, match="nope.json: annotation file not found"):
        load_coco_keypoints(tmp_path / "nope.json", tmp_path)


def test_top_level_list(tmp_path):
    ann_file = tmp_path / "list.json"
    ann_file.write_text("[]")
    with pytest.raises(DataError, match="list.json: top level must be an object"):
        load_coco_keypoints(ann_file, tmp_path)


def test_missing_image_file(tmp_path):
    ann_file, image_dir = write_coco(tmp_path)
    (image_dir / "img_002.jpg").unlink()
    with pytest.raises(DataError) as info:
        load_coco_keypoints(ann_file, image_dir)
    msg = str(info.value)
    assert msg.startswith(str(ann_file)) and "1 of 2 images" in msg
    assert str(image_dir / "img_002.jpg") in msg
    assert len(load_coco_keypoints(ann_file, image_dir, check_images=False).records) == 4


def test_clean_boxes_vectorized():
    boxes = np.array([[-5.0, -5.0, 20.0, 20.0], [70.0, 0.0, 10.0, 10.0], [10, 10, 0.5, 0.5]])
    clipped, valid = clean_boxes(boxes, np.full(3, 64.0), np.full(3, 48.0))
    np.testing.assert_allclose(clipped[0], [0, 0, 19, 19])
    assert valid.tolist() == [True, False, True]


def _dets(tmp_path, dets) -> str:
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    return path


def test_load_detections(tmp_path):
    ann_file, image_dir = write_coco(tmp_path)
    data = load_coco_keypoints(ann_file, image_dir)
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [5, 5, 10, 20], "score": 0.05},
        {"image_id": 2, "category_id": 3, "bbox": [5, 5, 10, 20], "score": 0.99},
        {"image_id": 2, "category_id": 1, "bbox": [5, 5, 0, 20], "score": 0.99},
    ]
    recs = load_detections(_dets(tmp_path, dets), data)
    assert len(recs) == 2
    assert recs[0].image_path == str(image_dir / "img_001.jpg")
    np.testing.assert_allclose(recs[0].box, [1, 2, 30, 40])
    assert recs[0].score == pytest.approx(0.9) and recs[0].ann_id == -1
    assert recs[0].keypoints.shape == (17, 3) and not recs[0].keypoints.any()
    assert recs[0].area == 1200.0
    assert len(load_detections(_dets(tmp_path, dets), data, score_thresh=0.1)) == 1


@pytest.mark.parametrize(
    ("dets", "expected"),
    [
        ({"image_id": 1}, "must be a list"),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}], "[0]: missing 'score'"),
        (
            [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1}],
            "'image_id' 9 is not in the images",
        ),
        (
            [
                {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1},
                {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5], "score": 1},
            ],
            "detection [1]: 'bbox' must be 4 finite numbers",
        ),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, -5, 5], "score": 1}], "negative"),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": "x"}], "'score'"),
    ],
)
def test_load_detections_errors(tmp_path, dets, expected):
    ann_file, image_dir = write_coco(tmp_path)
    data = load_coco_keypoints(ann_file, image_dir)
    det_file = _dets(tmp_path, dets)
    with pytest.raises(DataError) as info:
        load_detections(det_file, data)
    msg = str(info.value)
    assert msg.startswith(str(det_file)) and expected in msg and "\n" not in msg


def test_dataset_stats(tmp_path):
    d = coco_dict(num_images=3)
    d["annotations"] = [a for a in d["annotations"] if a["image_id"] != 3]
    d["annotations"][0]["keypoints"][2] = 1  # nose occluded on one person
    ann_file, image_dir = write_coco(tmp_path, d)
    stats = dataset_stats(load_coco_keypoints(ann_file, image_dir))
    assert stats["images"] == 3 and stats["images_with_people"] == 2
    assert stats["person_annotations"] == 8 and stats["crowd_annotations"] == 2
    assert stats["people"] == 6 and stats["usable_people"] == 4
    assert stats["people_per_image"] == {0: 1, 2: 2}
    assert stats["labeled_joints"]["nose"] == 4 and stats["visible_joints"]["nose"] == 3
    assert stats["box_size"]["width"]["max"] == 33.0
    json.dumps(stats)
