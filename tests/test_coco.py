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


# ----------------------------------------------------------------------------------------------
# hostile / absurd values: refused at load, one line naming the file, the record and the key

INT64_MAX = 2**63 - 1
POLYGON = [[4.0, 2.0, 24.0, 2.0, 24.0, 42.0]]

REFUSED = [
    ("image_id_2_63", ("images", 0, "id"), 2**63, ["images[0]", "'id'", "64-bit"]),
    ("image_id_low", ("images", 1, "id"), -(2**63) - 1, ["images[1]", "'id'", "64-bit"]),
    ("ann_id_2_63", ("annotations", 2, "id"), 2**63, ["annotations[2]", "'id'", "64-bit"]),
    ("cat_id_2_63", ("categories", 0, "id"), 2**63, ["categories[0]", "'id'", "64-bit"]),
    ("area_text", ("annotations", 0, "area"), "big", ["annotation id 100", "'area'", "'big'"]),
    ("area_nan", ("annotations", 1, "area"), float("nan"), ["annotation id 101", "'area'"]),
    ("area_inf", ("annotations", 1, "area"), float("inf"), ["annotation id 101", "'area'"]),
    ("area_negative", ("annotations", 0, "area"), -1.0, ["annotation id 100", "'area'"]),
    ("area_huge", ("annotations", 0, "area"), 1e300, ["annotation id 100", "'area'"]),
    ("iscrowd_no", ("annotations", 0, "iscrowd"), "no", ["annotation id 100", "'iscrowd'"]),
    ("iscrowd_2", ("annotations", 2, "iscrowd"), 2, ["annotation id 102", "'iscrowd'"]),
    ("nkp_text", ("annotations", 0, "num_keypoints"), "17", ["id 100", "'num_keypoints'"]),
    ("nkp_negative", ("annotations", 0, "num_keypoints"), -1, ["id 100", "'num_keypoints'"]),
    ("nkp_float", ("annotations", 0, "num_keypoints"), 1.5, ["id 100", "'num_keypoints'"]),
    ("nkp_bool", ("annotations", 0, "num_keypoints"), True, ["id 100", "'num_keypoints'"]),
    ("nkp_over_k", ("annotations", 0, "num_keypoints"), 18, ["id 100", "'num_keypoints'"]),
    ("segm_text", ("annotations", 0, "segmentation"), "poly", ["id 100", "'segmentation'"]),
    ("segm_number", ("annotations", 0, "segmentation"), 5, ["id 100", "'segmentation'"]),
    ("segm_null", ("annotations", 0, "segmentation"), None, ["id 100", "'segmentation'"]),
    ("segm_poly_text", ("annotations", 0, "segmentation"), [[1, "a"]], ["'segmentation'"]),
    ("segm_flat", ("annotations", 0, "segmentation"), [1.0, 2.0], ["'segmentation'"]),
    ("rle_no_size", ("annotations", 2, "segmentation"), {"counts": [1]}, ["id 102", "'segm"]),
    (
        "rle_bad_counts",
        ("annotations", 2, "segmentation"),
        {"counts": 5, "size": [48, 64]},
        ["annotation id 102", "'segmentation'"],
    ),
    ("bbox_1e308", ("annotations", 0, "bbox", 0), 1e308, ["id 100", "'bbox'", "pixel"]),
    ("bbox_1e7", ("annotations", 1, "bbox", 3), 1e7 + 1, ["id 101", "'bbox'", "pixel"]),
    ("bbox_int_10_400", ("annotations", 0, "bbox", 1), 10**400, ["id 100", "'bbox'"]),
    ("bbox_bool", ("annotations", 0, "bbox", 0), True, ["annotation id 100", "'bbox'"]),
    ("kpt_1e308", ("annotations", 1, "keypoints", 3), -1e308, ["id 101", "'keypoints'", "pixel"]),
    ("width_fraction", ("images", 0, "width"), 640.5, ["image id 1", "'width'", "640.5"]),
    ("width_zero", ("images", 0, "width"), 0, ["image id 1", "'width'"]),
    ("width_text", ("images", 1, "width"), "640", ["image id 2", "'width'"]),
    ("width_bool", ("images", 1, "width"), True, ["image id 2", "'width'"]),
    ("height_absurd", ("images", 0, "height"), 10**6 + 1, ["image id 1", "'height'"]),
    ("height_1e9", ("images", 0, "height"), 1e9, ["image id 1", "'height'"]),
    ("height_int_10_400", ("images", 0, "height"), 10**400, ["image id 1", "'height'"]),
    ("name_newline", ("images", 0, "file_name"), "a\nb.jpg", ["image id 1", "'file_name'"]),
    ("dup_category", ("categories", 1), {"id": 1, "name": "dog"}, ["category id 1", "duplicate"]),
    (
        "cat_names_type",
        ("categories", 1),
        {"id": 2, "name": "dog", "keypoints": 5},
        ["category id 2", "'keypoints'"],
    ),
]


def _set(path: tuple, value) -> dict:
    """The default dict with ``path`` set; a list index one past the end appends."""
    d = copy.deepcopy(coco_dict())
    *head, last = path
    node = d
    for key in head:
        node = node[key]
    if isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    ("case", "path", "value", "expected"), REFUSED, ids=[c[0] for c in REFUSED]
)
def test_absurd_values_are_refused_naming_file_record_key(tmp_path, case, path, value, expected):
    ann_file, image_dir = write_coco(tmp_path, _set(path, value), images=False)
    with pytest.raises(DataError) as info:
        load_coco_keypoints(ann_file, image_dir, check_images=False)
    msg = str(info.value)
    assert msg.startswith(f"{ann_file}: ") and len(msg.splitlines()) == 1, msg
    for part in expected:
        assert part in msg, msg


ACCEPTED = [
    ("ann_id_max", ("annotations", 0, "id"), INT64_MAX),
    ("ann_id_negative", ("annotations", 1, "id"), -7),
    ("iscrowd_bool", ("annotations", 2, "iscrowd"), True),
    ("area_zero", ("annotations", 3, "area"), 0),
    ("width_float_whole", ("images", 0, "width"), 64.0),
    ("bbox_at_limit", ("annotations", 3, "bbox", 0), -1e7),
    ("polygons", ("annotations", 0, "segmentation"), POLYGON),
    ("no_polygons", ("annotations", 1, "segmentation"), []),
    ("rle_list", ("annotations", 2, "segmentation"), {"counts": [0, 5, 3], "size": [48, 64]}),
    ("rle_string", ("annotations", 2, "segmentation"), {"counts": "PQ02", "size": [48, 64]}),
]


@pytest.mark.parametrize(("case", "path", "value"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_unusual_but_valid_values_load_and_evaluate(tmp_path, case, path, value):
    from simdr_lib.engine.evaluate import evaluate_coco

    ann_file, image_dir = write_coco(tmp_path, _set(path, value), images=False)
    data = load_coco_keypoints(ann_file, image_dir, check_images=False)
    assert len(data.records) == 4
    results = [
        {"image_id": r.image_id, "category_id": 1, "keypoints": r.keypoints.ravel().tolist()}
        | {"score": 1.0}
        for r in data.records
    ]
    assert evaluate_coco(data.coco, results)["AP"] == pytest.approx(1.0)


def test_ids_at_the_int64_bounds_load_and_evaluate(tmp_path):
    from simdr_lib.engine.evaluate import evaluate_coco

    d = coco_dict()
    d["images"][1]["id"] = -(2**63)
    d["categories"][0]["id"] = INT64_MAX
    for ann in d["annotations"]:
        ann["image_id"] = -(2**63) if ann["image_id"] == 2 else ann["image_id"]
        ann["category_id"] = INT64_MAX
    d["annotations"][0]["id"] = INT64_MAX
    ann_file, image_dir = write_coco(tmp_path, d, images=False)
    data = load_coco_keypoints(ann_file, image_dir, check_images=False)
    assert data.person_category_id == INT64_MAX and data.records[0].ann_id == INT64_MAX
    assert data.records[-1].image_id == -(2**63)
    results = [
        {
            "image_id": r.image_id,
            "category_id": INT64_MAX,
            "keypoints": r.keypoints.ravel().tolist(),
        }
        | {"score": 1.0}
        for r in data.records
    ]
    assert evaluate_coco(data.coco, results)["AP"] == pytest.approx(1.0)


def test_other_category_without_eval_fields_is_filled_for_cocoeval(tmp_path):
    from simdr_lib.engine.evaluate import evaluate_coco

    d = coco_dict()
    d["categories"].append({"id": 2, "name": "dog"})
    d["annotations"].append({"id": 999, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5]})
    ann_file, image_dir = write_coco(tmp_path, d, images=False)
    data = load_coco_keypoints(ann_file, image_dir, check_images=False)
    assert data.coco.anns[999] | {} == {
        "id": 999,
        "image_id": 1,
        "category_id": 2,
        "bbox": [1, 1, 5, 5],
        "iscrowd": 0,
        "num_keypoints": 0,
        "area": 0.0,
    }
    results = [
        {"image_id": r.image_id, "category_id": 1, "keypoints": r.keypoints.ravel().tolist()}
        | {"score": 1.0}
        for r in data.records
    ]
    evaluate_coco(data.coco, results)  # pycocotools read 'num_keypoints' / 'area' of id 999


def _text_with(value_text: str, key: str = "segmentation") -> str:
    """The default file as text with ``key`` of annotation 100 set to raw ``value_text``."""
    text = json.dumps(coco_dict())
    return text.replace('"id": 100,', f'"id": 100, "{key}": {value_text},', 1)


def test_json_nested_100000_deep_names_record_and_key(tmp_path):
    ann_file = tmp_path / "deep.json"
    ann_file.write_text(_text_with("[" * 100_000 + "]" * 100_000))
    with pytest.raises(DataError) as info:
        load_coco_keypoints(ann_file, tmp_path, check_images=False)
    assert str(info.value) == (
        f"{ann_file}: annotations[0]: 'segmentation' nests lists/objects more than 32 levels deep"
    )


def test_json_nested_moderately_deep_in_unread_field(tmp_path):
    """Python parses 40 levels, but pycocotools' loadRes deep-copies 'info' (recursion)."""
    ann_file = tmp_path / "deep_info.json"
    d = coco_dict()
    d["info"] = {"notes": json.loads("[" * 40 + "]" * 40)}
    ann_file.write_text(json.dumps(d))
    with pytest.raises(DataError, match=r"deep_info.json: 'info' nests lists/objects more than 32"):
        load_coco_keypoints(ann_file, tmp_path, check_images=False)


def test_json_depth_ignores_brackets_in_strings(tmp_path):
    d = coco_dict()
    d["info"] = {"description": "[" * 100 + '\\"{' * 50, "url": "\\\\[[[["}
    ann_file, image_dir = write_coco(tmp_path, d, images=False)
    assert load_coco_keypoints(ann_file, image_dir, check_images=False).num_images == 2


def test_integer_of_5000_digits_names_record_and_key(tmp_path):
    ann_file = tmp_path / "digits.json"
    ann_file.write_text(_text_with("9" * 5000, key="area"))
    with pytest.raises(DataError) as info:
        load_coco_keypoints(ann_file, tmp_path, check_images=False)
    msg = str(info.value)
    assert msg.startswith(f"{ann_file}: annotations[0]: 'area' holds an integer of 5000 digits")
    assert len(msg.splitlines()) == 1


DET_REFUSED = [
    ({"image_id": 2**63}, ["detection [0]", "'image_id'", "64-bit"]),
    ({"image_id": -(2**63) - 1}, ["detection [0]", "'image_id'", "64-bit"]),
    ({"category_id": 2**64}, ["detection [0]", "'category_id'", "64-bit"]),
    ({"category_id": "person"}, ["detection [0]", "'category_id'"]),
    ({"bbox": [0, 0, 1e308, 5]}, ["detection [0]", "'bbox'", "pixel"]),
    ({"bbox": [0, 0, 10**400, 5]}, ["detection [0]", "'bbox'", "finite"]),
    ({"bbox": [True, 0, 5, 5]}, ["detection [0]", "'bbox'", "finite"]),
    ({"score": 10**400}, ["detection [0]", "'score'"]),
    ({"score": float("nan")}, ["detection [0]", "'score'"]),
]


@pytest.mark.parametrize(("change", "expected"), DET_REFUSED)
def test_detection_ids_and_numbers_are_checked(tmp_path, change, expected):
    from simdr_lib.infer import _load_det_index

    ann_file, image_dir = write_coco(tmp_path, images=False)
    data = load_coco_keypoints(ann_file, image_dir, check_images=False)
    det = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1} | change
    det_file = _dets(tmp_path, [det])
    for load in (lambda: load_detections(det_file, data), lambda: _load_det_index(det_file, 0.0)):
        with pytest.raises(DataError) as info:
            load()
        msg = str(info.value)
        assert msg.startswith(f"{det_file}: ") and len(msg.splitlines()) == 1, msg
        for part in expected:
            assert part in msg, msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "detection [0] nests lists/objects more than 32 levels"),
        (
            '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1%s}]'
            % ("0" * 5000),
            "detection [0]: 'score' holds an integer of 5001 digits",
        ),
    ],
    ids=["deep", "digits"],
)
def test_detection_file_deep_or_long_integer(tmp_path, text, expected):
    from simdr_lib.infer import _load_det_index

    ann_file, image_dir = write_coco(tmp_path, images=False)
    data = load_coco_keypoints(ann_file, image_dir, check_images=False)
    det_file = tmp_path / "dets.json"
    det_file.write_text(text)
    for load in (lambda: load_detections(det_file, data), lambda: _load_det_index(det_file, 0.0)):
        with pytest.raises(DataError) as info:
            load()
        assert str(info.value).startswith(f"{det_file}: {expected}")


def test_det_index_keeps_valid_boxes_and_refuses_file_name_type(tmp_path):
    from simdr_lib.infer import _load_det_index

    dets = [
        {"image_id": 3, "bbox": [0, 0, 5, 5], "score": 0.9},
        {"file_name": "x/a.jpg", "bbox": [1, 1, 5, 5]},
        {"image_id": 3, "category_id": 2, "bbox": [0, 0, 5, 5]},
    ]
    index = _load_det_index(_dets(tmp_path, dets), 0.5)
    assert sorted(index, key=str) == [3, "a.jpg"] and index["a.jpg"] == [([1, 1, 5, 5], 1.0)]
    with pytest.raises(DataError, match=r"detection \[0\]: 'file_name' must be a string"):
        _load_det_index(_dets(tmp_path, [{"file_name": 7, "bbox": [0, 0, 5, 5]}]), 0.5)
