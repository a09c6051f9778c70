"""Fuzz the COCO json readers: any input loads or raises a one-line DataError, nothing else.

A valid person-keypoints skeleton (tests/coco_helpers.py) gets random sub-trees replaced by
random JSON (None, bools, huge / negative ints, NaN / Infinity, strings, lists, objects, deep
nesting, integers too long for Python), keys dropped and ids duplicated. Whatever passes
validation must then work in pycocotools: the COCO index is built by the loader and, for a
subset (half of the random edits, every plausible field edit that loads), COCOeval runs with
the file's own ground truth as results. Detection files get the same treatment, through
``load_detections`` and ``simdr infer``'s reader.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from coco_helpers import coco_dict
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from simdr_lib.data.coco import dataset_stats, load_coco_keypoints, load_detections
from simdr_lib.data.coco_json import _max_depth
from simdr_lib.engine.evaluate import evaluate_coco
from simdr_lib.errors import DataError
from simdr_lib.infer import _load_det_index

# Raw JSON text that json.dumps cannot write: "@@raw:<kind>:<n>@@" placeholders, swapped in
# after dumping. "deep": n nested lists; "digits": an integer of n digits (> Python's 4300).
_RAW = re.compile(r'"@@raw:(deep|digits):(\d+)@@"')
_SETTINGS = settings(  # SIMDR_FUZZ_EXAMPLES=5000 for a longer hunt
    max_examples=int(os.environ.get("SIMDR_FUZZ_EXAMPLES", "150")),
    deadline=3000,  # ms per example: each one is a few-kB file
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_special_ints = st.sampled_from(
    [0, 1, 2, -1, 17, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30]
)
_special_floats = st.sampled_from([1e308, -1e308, 1e7, 1e7 + 1, 5e-324, 0.5, 640.5, -0.0])
_raw = st.one_of(
    st.integers(20, 200).map(lambda n: f"@@raw:deep:{n}@@"),
    st.integers(4301, 4400).map(lambda n: f"@@raw:digits:{n}@@"),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    _special_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    _special_floats,
    st.text(max_size=6),
    st.sampled_from(["", "person", "no", "a\nb", "big", "1"]),
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(["id", "counts", "size", "x", ""]), inner, max_size=4)
    ),
    max_leaves=12,
)
# values a field could plausibly hold (near the limits), so that many edited files still load
_coord = st.floats(-2e7, 2e7) | st.integers(-5, 700) | st.sampled_from([1e7, -1e7, 1e7 + 1])
_ids = st.integers(-3, 10) | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1])
_side = st.integers(-1, 1000) | st.sampled_from([10**6, 10**6 + 1, 640.0, 640.5, 0.0])
_joint = st.tuples(_coord, _coord, st.sampled_from([0, 1, 2, 2.0, -1, 3, 1.5]))
_polygons = st.lists(st.lists(_coord | st.booleans(), max_size=8), max_size=2)
_rle = st.fixed_dictionaries(
    {
        "counts": st.text(max_size=4) | st.lists(st.integers(0, 9) | st.just(1.5), max_size=4),
        "size": st.lists(_side, min_size=1, max_size=3),
    }
)
_PLAUSIBLE = {
    "id": _ids,
    "image_id": st.integers(-1, 3),
    "category_id": st.integers(0, 2),
    "file_name": st.sampled_from(["a.jpg", "d/b.png", "../c.jpg", "é ü.jpg"]) | st.text(max_size=8),
    "width": _side,
    "height": _side,
    "bbox": st.lists(_coord, min_size=3, max_size=5),
    "keypoints": st.lists(_joint, min_size=16, max_size=18).map(
        lambda joints: [v for joint in joints for v in joint]
    ),
    "area": st.floats(-1, 2e14) | st.integers(0, 10**6) | st.sampled_from([1e14, 0]),
    "iscrowd": st.sampled_from([0, 1, True, False, 2, -1, 0.0]),
    "num_keypoints": st.integers(-1, 18) | st.just(True),
    "segmentation": _polygons | _rle,
    "name": st.sampled_from(["person", "dog", ""]),
    "skeleton": st.lists(st.lists(st.integers(0, 18), max_size=3), max_size=3),
}
_any_plausible = st.one_of(*_PLAUSIBLE.values())
_names = st.lists(st.text(max_size=3), min_size=17, max_size=17) | st.lists(st.text(), max_size=18)
# the keys the loaders read, per section (plus ones the skeleton lacks)
_FIELDS = {
    "images": ["id", "file_name", "width", "height"],
    "annotations": [
        "id",
        "image_id",
        "category_id",
        "bbox",
        "keypoints",
        "area",
        "iscrowd",
        "num_keypoints",
        "segmentation",
    ],
    "categories": ["id", "name", "keypoints", "skeleton"],
}


def _dumps(doc: Any) -> str:
    """JSON text of ``doc`` (NaN / Infinity as Python writes them) with raw values swapped in."""

    def raw(match: re.Match) -> str:
        n = int(match.group(2))
        return "[" * n + "]" * n if match.group(1) == "deep" else "7" * n

    return _RAW.sub(raw, json.dumps(doc))


def _value(data: st.DataObject) -> Any:
    """Random JSON, often a plausible field value, now and then raw text that json.dumps
    cannot write (deep nesting, too many digits)."""
    pick = data.draw(st.integers(0, 15))
    return data.draw(_raw if pick == 0 else _any_plausible if pick < 6 else _json_values)


def _pick_path(data: st.DataObject, doc: Any) -> list:
    """A random path (keys / indices) into ``doc``, 1-5 steps, mostly 3-4 (record fields)."""
    path: list = []
    node = doc
    for _ in range(data.draw(st.sampled_from([1, 2, 3, 3, 3, 4, 4, 5]))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node, key=str)))
        elif isinstance(node, list) and node:
            key = data.draw(st.integers(0, len(node) - 1))
        else:
            break
        path.append(key)
        node = node[key]
    return path


def _set_field(data: st.DataObject, doc: dict, plausible: bool | None = None) -> None:
    """Set or drop a key the loaders read on one record of a section; the value is a
    plausible one for the key (``plausible``; None = drawn) or any :func:`_value`."""
    section = data.draw(st.sampled_from(sorted(_FIELDS)))
    records = doc.get(section)
    if not isinstance(records, list) or not records:
        return
    record = records[data.draw(st.integers(0, len(records) - 1))]
    if not isinstance(record, dict):
        return
    key = data.draw(st.sampled_from(_FIELDS[section]))
    if data.draw(st.integers(0, 4)) == 0:
        record.pop(key, None)
        return
    if plausible is None:
        plausible = data.draw(st.booleans())
    if section == "categories" and key == "keypoints":
        record[key] = data.draw(_names) if plausible else _value(data)
    else:
        record[key] = data.draw(_PLAUSIBLE[key]) if plausible else _value(data)


def _apply(data: st.DataObject, doc: Any) -> Any:
    """One random edit of ``doc``: replace a sub-tree or a record field, drop a key / item,
    copy an id, add a second category with an annotation."""
    op = data.draw(st.sampled_from(["set", "set", "field", "field", "drop", "dup_id", "add"]))
    if isinstance(doc, dict) and op in ("field", "dup_id", "add"):
        if op == "field":
            _set_field(data, doc)
        elif op == "dup_id":
            section = data.draw(st.sampled_from(sorted(_FIELDS)))
            found = doc.get(section)
            records = [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
            if len(records) >= 2:
                records[-1]["id"] = records[0].get("id")
        elif isinstance(doc.get("annotations"), list):
            # a second category and an annotation of it (COCOeval reads every category's GT)
            if isinstance(doc.get("categories"), list):
                doc["categories"].append({"id": 2, "name": "dog"})
            extra = st.dictionaries(st.sampled_from(_FIELDS["annotations"][3:]), _json_values)
            doc["annotations"].append(
                {"id": 9999, "image_id": 1, "category_id": 2, **data.draw(extra)}
            )
        return doc
    path = _pick_path(data, doc)
    if not path:
        return _value(data) if op != "drop" else doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if op == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = _value(data)
    return doc


def _assert_data_error(exc: DataError, path: Path) -> None:
    msg = str(exc)
    assert msg.startswith(str(path)), msg
    assert len(msg.splitlines()) == 1, msg


def _gt_as_results(data: Any) -> list[dict]:
    """The file's own person annotations as keypoint results (score 1, v -> 0.9)."""
    out = []
    for ann in data.coco.dataset["annotations"]:
        if ann["category_id"] != data.person_category_id:
            continue
        kpts = [float(v) for v in ann["keypoints"]]
        kpts[2::3] = [0.9] * (len(kpts) // 3)
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "keypoints": kpts,
                "score": 1.0,
            }
        )
    return out


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def valid_data(work_dir: Path) -> Any:
    path = work_dir / "valid.json"
    path.write_text(json.dumps(coco_dict()))
    return load_coco_keypoints(path, work_dir / "images", check_images=False)


def _load_and_use(path: Path, image_dir: Path, evaluate: bool) -> bool:
    """Load ``path``; a refusal must be a one-line DataError naming the file. What loads must
    work: pycocotools index, records, stats and (``evaluate``) COCOeval on its own GT."""
    try:
        loaded = load_coco_keypoints(path, image_dir, check_images=False)
    except DataError as exc:
        _assert_data_error(exc, path)
        event("refused: " + re.sub(r"[-\d.]+|got .*", "#", str(exc)[len(str(path)) :])[:60])
        return False
    event("loaded")
    assert len(loaded.coco.anns) == len(loaded.coco.dataset["annotations"])
    assert all(r.image_size is not None and r.image_id in loaded.coco.imgs for r in loaded.records)
    json.dumps(dataset_stats(loaded))
    try:  # the images are not there: a one-line DataError when there are people
        load_coco_keypoints(path, image_dir, check_images=True)
    except DataError as exc:
        _assert_data_error(exc, path)
    if evaluate:
        try:
            stats = evaluate_coco(loaded.coco, _gt_as_results(loaded))
        except DataError as exc:  # e.g. no labeled person left: AP is undefined
            assert len(str(exc).splitlines()) == 1
        else:
            assert all(-1.0 <= v <= 1.0 for v in stats.values())
    return True


_edits = st.sampled_from([1, 1, 1, 2, 2, 3, 4])


@_SETTINGS
@given(data=st.data(), evaluate=st.booleans())
def test_fuzzed_annotations_load_or_raise_data_error(
    work_dir: Path, data: st.DataObject, evaluate: bool
) -> None:
    doc: Any = copy.deepcopy(coco_dict(num_images=2))
    for _ in range(data.draw(_edits)):
        doc = _apply(data, doc)
    path = work_dir / "person_keypoints.json"
    path.write_text(_dumps(doc))
    _load_and_use(path, work_dir / "images", evaluate)


@_SETTINGS
@given(data=st.data())
def test_plausible_field_edits_that_load_work_in_cocoeval(
    work_dir: Path, data: st.DataObject
) -> None:
    doc = copy.deepcopy(coco_dict(num_images=2))
    for _ in range(data.draw(_edits)):
        _set_field(data, doc, plausible=True)
    path = work_dir / "person_keypoints_plausible.json"
    path.write_text(json.dumps(doc))
    _load_and_use(path, work_dir / "images", evaluate=True)


_det_keys = st.sampled_from(["image_id", "category_id", "bbox", "score", "file_name"])


@_SETTINGS
@given(data=st.data())
def test_fuzzed_detections_load_or_raise_data_error(
    work_dir: Path, valid_data: Any, data: st.DataObject
) -> None:
    base = {"image_id": 1, "category_id": 1, "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.9}
    dets: Any = [dict(base) for _ in range(3)]
    for _ in range(data.draw(_edits)):
        dets = _apply(data, dets)
    if isinstance(dets, list) and dets and isinstance(dets[0], dict) and data.draw(st.booleans()):
        dets[0].pop(data.draw(_det_keys), None)
    path = work_dir / "detections.json"
    path.write_text(_dumps(dets))
    for load in (lambda: load_detections(path, valid_data), lambda: _load_det_index(path, 0.0)):
        try:
            load()
        except DataError as exc:
            _assert_data_error(exc, path)


def test_json_nested_100000_levels_is_refused_fast_and_small(work_dir: Path) -> None:
    doc = coco_dict()
    text = json.dumps(doc).replace('"iscrowd": 0', '"extra": @@, "iscrowd": 0', 1)
    path = work_dir / "deep.json"
    path.write_text(text.replace("@@", "[" * 100_000 + "]" * 100_000))
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_coco_keypoints(path, work_dir, check_images=False)
    assert time.perf_counter() - start < 5.0
    msg = str(info.value)
    assert msg == f"{path}: annotations[0]: 'extra' nests lists/objects more than 32 levels deep"


_tricky_text = st.text(alphabet='[]{}"\\/:,a\u00e9\n', max_size=8)
_nested = st.recursive(
    st.none() | st.integers() | _tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_tricky_text, inner, max_size=3),
    max_leaves=20,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(value=_nested, ascii_only=st.booleans())
def test_vectorized_depth_ignores_brackets_quotes_and_backslashes_in_strings(
    value: Any, ascii_only: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert _max_depth(raw) == _depth(value)
