"""Validation of the three sections of a COCO keypoint file: categories, images, annotations.

Everything is checked before pycocotools sees the data (its own failures are bare assertions
and KeyErrors): types, the person category and its K keypoint names, image ids / file names /
sizes, and per annotation its ids, box, keypoints and the fields COCOeval reads (``area``,
``iscrowd``, ``num_keypoints``, ``segmentation``). Each problem raises one
:class:`~simdr_lib.errors.DataError` naming the file, the record and the key. Used by
:func:`simdr_lib.data.coco.load_coco_keypoints`.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from simdr_lib.data.coco_json import (
    AREA_MAX,
    CONTROL_CHARS,
    COORD_MAX,
    IMAGE_SIDE_MAX,
    INT64_MAX,
    NUMBER_TYPES,
    check_id,
    is_id,
    is_int,
    is_number,
    short_value,
)
from simdr_lib.errors import DataError

PERSON_CATEGORY_NAME = "person"


def validate_categories(
    fname: str, cats: list[Any], num_joints: int
) -> tuple[int, tuple[str, ...]]:
    """Validate ``categories``; return the person category id and its keypoint names."""
    seen: set[int] = set()
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict):
            raise DataError(f"{fname}: categories[{i}]: must be an object, got {short_value(cat)}")
        check_id(f"{fname}: categories[{i}]", "id", cat.get("id"))
        if cat["id"] in seen:
            raise DataError(f"{fname}: category id {cat['id']}: duplicate 'id'")
        seen.add(cat["id"])
        names = cat.get("keypoints", [])  # engine.evaluate reads every category's names
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(
                f"{fname}: category id {cat['id']}: 'keypoints' must be a list of names"
            )
    person = [c for c in cats if c.get("name") == PERSON_CATEGORY_NAME]
    if not person:
        person = [c for c in cats if "keypoints" in c]
    if len(person) != 1:
        raise DataError(
            f"{fname}: 'categories' must hold exactly one person category (name 'person' or "
            f"with 'keypoints'), found {len(person)}"
        )
    cat = person[0]
    names = cat.get("keypoints", [])
    if len(names) != num_joints:
        raise DataError(
            f"{fname}: category id {cat['id']}: 'keypoints' has {len(names)} names, "
            f"expected {num_joints}"
        )
    return int(cat["id"]), tuple(names)


def _is_image_side(value: Any) -> bool:
    """A positive whole number of pixels, at most IMAGE_SIDE_MAX (``640`` or ``640.0``)."""
    return is_number(value) and float(value).is_integer() and 0 < value <= IMAGE_SIDE_MAX


def validate_images(fname: str, images: list[Any]) -> dict[int, dict]:
    """Validate ``images``; return them by id."""
    by_id: dict[int, dict] = {}
    for i, img in enumerate(images):
        if not isinstance(img, dict):
            raise DataError(f"{fname}: images[{i}]: must be an object, got {short_value(img)}")
        check_id(f"{fname}: images[{i}]", "id", img.get("id"))
        where = f"{fname}: image id {img['id']}"
        if img["id"] in by_id:
            raise DataError(f"{where}: duplicate 'id'")
        name = img.get("file_name")
        if not isinstance(name, str) or not name or CONTROL_CHARS.search(name):
            raise DataError(
                f"{where}: 'file_name' must be a non-empty string without control characters, "
                f"got {short_value(name)}"
            )
        for key in ("width", "height"):
            if not _is_image_side(img.get(key)):
                raise DataError(
                    f"{where}: '{key}' must be a positive whole number of pixels up to "
                    f"{IMAGE_SIDE_MAX}, got {short_value(img.get(key))}"
                )
        by_id[img["id"]] = img
    return by_id


def _ann_label(ann: Any, index: int) -> str:
    if isinstance(ann, dict) and is_id(ann.get("id")):
        return f"annotation id {ann['id']}"
    return f"annotations[{index}]"


def _segmentation_ok(segm: Any) -> bool:
    """The form of ``segmentation``, not its values.

    What pycocotools reads (checked in pycocotools 2.0.11): ``createIndex``, ``loadRes`` of
    keypoint results and ``COCOeval(iouType="keypoints")`` never read a ground-truth
    ``segmentation``; only ``annToRLE`` / ``annToMask`` (segm evaluation, ``showAnns``) do, and
    they take a list of polygons or an object with ``counts`` (a string, or a list of ints) and
    ``size`` [h, w]. So only those two forms pass; coordinates and counts are not decoded.
    """
    if isinstance(segm, list):
        return all(type(poly) is list and NUMBER_TYPES.issuperset(map(type, poly)) for poly in segm)
    if not isinstance(segm, dict) or "counts" not in segm or "size" not in segm:
        return False
    counts, size = segm["counts"], segm["size"]
    counts_ok = isinstance(counts, str) or (
        isinstance(counts, list) and {int}.issuperset(map(type, counts))
    )
    return (
        counts_ok and isinstance(size, list) and len(size) == 2 and all(map(_is_image_side, size))
    )


def _polygons_ok(values: list[Any]) -> bool:
    """Fast path of :func:`_segmentation_ok` when every value is a list of polygons."""
    if not {list}.issuperset(map(type, values)):
        return False
    polygons = list(itertools.chain.from_iterable(values))
    return {list}.issuperset(map(type, polygons)) and NUMBER_TYPES.issuperset(
        map(type, itertools.chain.from_iterable(polygons))
    )


def _areas_ok(values: list[Any]) -> bool:
    if not NUMBER_TYPES.issuperset(map(type, values)):
        return False
    try:
        arr = np.array(values, dtype=np.float64)
    except OverflowError:
        return False
    return bool(((arr >= 0) & (arr <= AREA_MAX)).all())  # NaN fails both


def _check_column(
    fname: str,
    anns: list[dict],
    key: str,
    rule: Callable[[Any], bool],
    fast: Callable[[list[Any]], bool],
    must: str,
) -> None:
    """Check ``key`` (when present) of every annotation: ``fast(values)`` vouches for all at
    once; otherwise ``rule(value)`` finds the first bad one, named in the DataError."""
    present = [a for a in anns if key in a]
    values = [a[key] for a in present]
    if fast(values):
        return
    for ann, value in zip(present, values):
        if not rule(value):
            raise DataError(
                f"{fname}: annotation id {ann['id']}: '{key}' must be {must}, "
                f"got {short_value(value)}"
            )


def _check_eval_fields(fname: str, anns: list[dict], max_keypoints: int) -> None:
    """``area``, ``iscrowd``, ``num_keypoints`` (COCOeval reads them) and ``segmentation``."""

    def count_ok(v: Any) -> bool:
        return is_int(v) and 0 <= v <= max_keypoints

    def counts_ok(values: list[Any]) -> bool:
        ints = {int}.issuperset(map(type, values))
        return ints and (not values or (min(values) >= 0 and max(values) <= max_keypoints))

    def crowd_ok(v: Any) -> bool:
        return type(v) in (int, bool) and v in (0, 1)

    def crowds_ok(values: list[Any]) -> bool:
        return {int, bool}.issuperset(map(type, values)) and {0, 1}.issuperset(values)

    def area_ok(v: Any) -> bool:
        return is_number(v) and 0 <= v <= AREA_MAX

    _check_column(
        fname, anns, "area", area_ok, _areas_ok, f"a finite number in [0, {AREA_MAX:.0e}] px^2"
    )
    _check_column(fname, anns, "iscrowd", crowd_ok, crowds_ok, "0, 1, true or false")
    _check_column(
        fname, anns, "num_keypoints", count_ok, counts_ok, f"an integer in [0, {max_keypoints}]"
    )
    _check_column(
        fname,
        anns,
        "segmentation",
        _segmentation_ok,
        _polygons_ok,
        "a list of polygons (lists of numbers) or an RLE object with 'counts' and 'size' [h, w]",
    )


def validate_annotations(
    fname: str,
    anns: list[Any],
    images: dict[int, dict],
    cat_ids: set[int],
    person_id: int,
    num_joints: int,
) -> list[dict]:
    """Validate ``annotations``; fill defaults; return the person annotations."""
    seen: set[int] = set()
    people: list[dict] = []
    others: list[dict] = []
    for i, ann in enumerate(anns):
        where = f"{fname}: {_ann_label(ann, i)}"
        if not isinstance(ann, dict):
            raise DataError(f"{where}: must be an object, got {short_value(ann)}")
        check_id(where, "id", ann.get("id"))
        if ann["id"] in seen:
            raise DataError(f"{where}: duplicate 'id'")
        seen.add(ann["id"])
        if "image_id" not in ann:
            raise DataError(f"{where}: missing 'image_id'")
        if not is_int(ann["image_id"]) or ann["image_id"] not in images:
            raise DataError(
                f"{where}: 'image_id' {short_value(ann['image_id'])} is not in 'images'"
            )
        if not is_int(ann.get("category_id")) or ann["category_id"] not in cat_ids:
            raise DataError(f"{where}: 'category_id' {short_value(ann.get('category_id'))} unknown")
        if ann["category_id"] != person_id:
            others.append(ann)
            continue
        for key in ("bbox", "keypoints"):
            if key not in ann:
                raise DataError(f"{where}: missing '{key}'")
        if not isinstance(ann["bbox"], list) or len(ann["bbox"]) != 4:
            raise DataError(
                f"{where}: 'bbox' must be 4 numbers [x, y, w, h], got {short_value(ann['bbox'])}"
            )
        kpts = ann["keypoints"]
        if not isinstance(kpts, list) or len(kpts) != 3 * num_joints:
            got = len(kpts) if isinstance(kpts, list) else type(kpts).__name__
            raise DataError(
                f"{where}: 'keypoints' has {got} values, expected {3 * num_joints} "
                f"(x, y, v for {num_joints} joints)"
            )
        people.append(ann)
    _check_eval_fields(fname, people, num_joints)
    _check_eval_fields(fname, others, INT64_MAX)
    for ann in others:  # COCOeval reads these of every category's annotations
        ann.setdefault("iscrowd", 0)
        ann.setdefault("num_keypoints", 0)
        ann.setdefault("area", 0.0)
    _check_person_numbers(fname, people, num_joints)
    return people


def _number_rows(fname: str, people: list[dict], key: str) -> np.ndarray:
    """(N, width) float64 of the people's equal-length ``key`` lists, all finite numbers."""
    rows = [a[key] for a in people]

    def fail(mask: Any) -> DataError:
        bad = people[int(np.argmax(mask))]
        return DataError(
            f"{fname}: annotation id {bad['id']}: '{key}' must hold finite numbers, "
            f"got {short_value(bad[key])}"
        )

    if not NUMBER_TYPES.issuperset(map(type, itertools.chain.from_iterable(rows))):
        raise fail([not NUMBER_TYPES.issuperset(map(type, r)) for r in rows])
    try:
        arr = np.array(rows, dtype=np.float64)
    except OverflowError:  # an int beyond float64
        raise fail([any(abs(v) > sys.float_info.max for v in r) for r in rows]) from None
    not_finite = ~np.isfinite(arr).all(axis=1)
    if not_finite.any():
        raise fail(not_finite)
    return arr


def _check_person_numbers(fname: str, people: list[dict], num_joints: int) -> None:
    """Vectorized number checks of person ``bbox`` / ``keypoints``; fill missing defaults."""
    if not people:
        return
    boxes = _number_rows(fname, people, "bbox")
    kpts = _number_rows(fname, people, "keypoints")
    vis = kpts[:, 2::3]
    far = f"beyond +-{COORD_MAX:.0e}, not a pixel coordinate"
    box_far = (np.abs(boxes) > COORD_MAX).any(axis=1)
    kpt_far = (np.abs(kpts.reshape(len(people), -1, 3)[:, :, :2]) > COORD_MAX).any(axis=(1, 2))
    bad_vis = ~np.isin(vis, (0, 1, 2)).all(axis=1)
    labeled = (vis > 0).sum(axis=1)
    negative = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
    empty = (labeled > 0) & ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    for mask, key, msg in (
        (box_far, "bbox", f"'bbox' has a value {far}"),
        (kpt_far, "keypoints", f"'keypoints' has an x or y {far}"),
        (bad_vis, "keypoints", "'keypoints' visibility flags must be 0, 1 or 2"),
        (negative, "bbox", "'bbox' has a negative width or height"),
        (empty, "bbox", "'bbox' has zero width or height but the person has labeled keypoints"),
    ):
        if mask.any():
            bad = people[int(np.argmax(mask))]
            raise DataError(f"{fname}: annotation id {bad['id']}: {msg}: {short_value(bad[key])}")
    for ann, n_labeled, box in zip(people, labeled, boxes):
        ann.setdefault("num_keypoints", int(n_labeled))
        ann.setdefault("iscrowd", 0)
        ann.setdefault("area", float(box[2] * box[3]))


# ----------------------------------------------------------------------------------------------
# public API
