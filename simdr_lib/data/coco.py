"""COCO keypoint annotations and detection results -> per-person records.

Everything is validated before pycocotools sees it (its own failures are bare assertions and
KeyErrors), and every problem raises a one-line :class:`DataError` naming the file, the record
(annotation id, image id, list index) and the key at fault. Beyond types, values must be usable
downstream: ids fit in signed 64 bits, coordinates within +-1e7 px, image sides whole numbers
up to 1e6 px, and the JSON nests at most 32 levels (Python's parser recurses).

Records follow HRNet's COCO loader (facts from ``lib/dataset/coco.py`` of
leoxiaobin/deep-high-resolution-net.pytorch): people are non-crowd person annotations with at
least one labeled joint (v > 0), and their boxes are clipped to the image
(``x2 = min(W - 1, x1 + max(0, w - 1))``); a box left empty by the clipping drops the person.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import re
import reprlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.errors import DataError
from simdr_lib.keypoints import NUM_COCO_KEYPOINTS

PERSON_CATEGORY_NAME = "person"


@dataclass(frozen=True, eq=False)
class PersonRecord:
    """One person to crop: a ground-truth annotation or a detection.

    Attributes:
        image_id: COCO image id.
        image_path: path of the image file (``image_dir / file_name``).
        box: (4,) float64 ``[x, y, w, h]`` in image pixels (ground truth: clipped to the image).
        keypoints: (K, 3) float64 ``x, y, v`` in image pixels, COCO visibility v in {0, 1, 2};
            all zeros for detections.
        score: detection score (1.0 for ground truth).
        ann_id: COCO annotation id (-1 for detections).
        area: COCO segmentation area in px^2 (``w * h`` of the box for detections).
        image_size: ``(width, height)`` of the image as the json states it (the frame the
            keypoints refer to), or ``None`` when not known.

    The arrays are made read-only; ``eq=False`` because numpy arrays have no truth value.
    """

    image_id: int
    image_path: str
    box: np.ndarray
    keypoints: np.ndarray
    score: float = 1.0
    ann_id: int = -1
    area: float = 0.0
    image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        box = np.array(self.box, dtype=np.float64).reshape(4)
        kpts = np.array(self.keypoints, dtype=np.float64)
        if kpts.ndim != 2 or kpts.shape[1] != 3:
            raise ValueError(f"PersonRecord.keypoints must be (K, 3), got {kpts.shape}")
        box.setflags(write=False)
        kpts.setflags(write=False)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "keypoints", kpts)


@dataclass(frozen=True, eq=False)
class CocoKeypoints:
    """A validated COCO keypoint annotation file.

    Attributes:
        coco: ``pycocotools.coco.COCO`` built from the validated dict (used by COCOeval);
            missing ``area`` / ``iscrowd`` / ``num_keypoints`` of person annotations are filled
            (box ``w * h``, 0, number of joints with v > 0), of other categories' with 0.0 / 0 /
            0 (COCOeval reads them for every category).
        records: usable people (non-crowd, >= 1 labeled joint, non-empty clipped box), in the
            file's annotation order.
        ann_file, image_dir: as given.
        num_images: number of entries of ``"images"`` (with or without people).
        person_category_id: id of the person category.
        keypoint_names: the person category's ``"keypoints"`` names (length K).
    """

    coco: Any
    records: list[PersonRecord]
    ann_file: str
    image_dir: str
    num_images: int
    person_category_id: int = 1
    keypoint_names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def num_joints(self) -> int:
        """K, the number of keypoints per person."""
        return len(self.keypoint_names)


# ----------------------------------------------------------------------------------------------
# limits and small validation helpers

MAX_JSON_DEPTH = 32  # COCO needs 5 (file, section, record, segmentation, polygon)
COORD_MAX = 1e7  # |x|, |y|, |w|, |h| in px: beyond this a value is not a pixel coordinate
AREA_MAX = COORD_MAX**2  # px^2
IMAGE_SIDE_MAX = 1_000_000  # px, width or height of an image
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # ids: what numpy / pycocotools can hold
_NUMBER_TYPES = frozenset((int, float))  # JSON numbers (``type(True)`` is bool, not int)
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # no line breaks in messages

_REPR = reprlib.Repr()  # bounded repr: deep or huge values print short and never recurse far
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxlong = 3, 8, 4, 40, 40


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: Any) -> bool:
    """An integer pycocotools and numpy can hold: signed 64-bit."""
    return _is_int(value) and INT64_MIN <= value <= INT64_MAX


def _is_number(value: Any) -> bool:
    """A finite JSON number (ints limited to 64 bits, so ``float()`` cannot overflow)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_id(value)


def _short(value: Any, limit: int = 60) -> str:
    text = _REPR.repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_id(where: str, key: str, value: Any) -> int:
    """``value`` if it is a signed 64-bit integer id, else DataError ``where: 'key' ...``."""
    if not _is_id(value):
        raise DataError(
            f"{where}: '{key}' must be an integer id in the signed 64-bit range, "
            f"got {_short(value)}"
        )
    return value


def check_box(where: str, box: Any) -> list:
    """A detection ``bbox``: 4 finite numbers within +-COORD_MAX px, ``w, h >= 0``."""
    if not isinstance(box, list) or len(box) != 4 or not all(map(_is_number, box)):
        raise DataError(f"{where}: 'bbox' must be 4 finite numbers, got {_short(box)}")
    if max(map(abs, box)) > COORD_MAX:
        raise DataError(
            f"{where}: 'bbox' has a value beyond +-{COORD_MAX:.0e}, not a pixel coordinate: "
            f"{_short(box)}"
        )
    if box[2] < 0 or box[3] < 0:
        raise DataError(f"{where}: 'bbox' has a negative width or height: {_short(box)}")
    return box


def check_score(where: str, score: Any) -> float:
    """A detection ``score``: a finite number."""
    if not _is_number(score):
        raise DataError(f"{where}: 'score' must be a finite number, got {_short(score)}")
    return float(score)


# ----------------------------------------------------------------------------------------------
# reading JSON: nesting depth and integer size are checked, the spot at fault is named

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_BRACKET_STEP = np.zeros(256, dtype=np.int8)  # +1 for [ {, -1 for ] }, by byte value
_BRACKET_STEP[[ord("["), ord("{")]], _BRACKET_STEP[[ord("]"), ord("}")]] = 1, -1
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


def _max_depth(raw: bytes) -> int:
    """Deepest list/object nesting of JSON text, by a vectorized bracket count outside strings."""
    if b"\\" in raw:  # drop escaped backslashes, then escaped quotes (left to right, as JSON)
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = np.frombuffer(raw.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    in_string = np.bitwise_xor.accumulate(marks == ord('"'))
    step = _BRACKET_STEP[marks]
    step[in_string] = 0
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _find_in_json(
    text: str, max_depth: int | None = None, max_digits: int | None = None
) -> tuple[list, str] | None:
    """``(path of keys / indices, token)`` of the first container deeper than ``max_depth`` or
    the first integer longer than ``max_digits``; a slow tokenizer, for error messages only."""
    stack: list[list] = []  # [opening bracket, current key or index]
    key = None
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok in ("[", "{"):
            stack.append([tok, 0 if tok == "[" else None])
            if max_depth is not None and len(stack) > max_depth:
                return [k for _, k in stack[:-1]], tok
        elif tok in ("]", "}"):
            if stack:
                stack.pop()
        elif tok == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif tok == ":":
            if stack:
                stack[-1][1] = key
        elif tok[0] == '"':
            key = tok
        elif max_digits is not None and tok.lstrip("-").isdigit():
            if len(tok.lstrip("-")) > max_digits:
                return [k for _, k in stack], tok
    return None


def _path_label(path: list, what: str) -> str:
    """``annotations[3]: 'segmentation'`` (record, then key) for a JSON path."""
    keys = []
    for k in path:
        if isinstance(k, str):
            with contextlib.suppress(ValueError):
                k = json.loads(k)
        keys.append(k)
    parts = []
    if len(keys) >= 2 and isinstance(keys[0], str) and isinstance(keys[1], int):
        section = keys[0] if keys[0].isidentifier() else _short(keys[0], 30)
        parts.append(f"{section}[{keys[1]}]")
        keys = keys[2:]
    elif keys and isinstance(keys[0], int):
        parts.append(f"{what.split()[0]} [{keys[0]}]")
        keys = keys[1:]
    if keys and isinstance(keys[0], str):
        parts.append(_short(keys[0], 40))
    return ": ".join(parts) or "top level"


def _decode_json(p: Path, what: str, text: str) -> Any:
    """``json.loads`` with every failure as a DataError naming the spot at fault."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except RecursionError as exc:  # only with a max_depth beyond Python's recursion limit
        raise DataError(f"{p}: JSON nested too deeply to read") from exc
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits() (3.11+)
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
        found = _find_in_json(text, max_digits=limit) if limit else None
        if found is None:
            raise DataError(f"{p}: cannot read {what} ({exc})") from exc
        path, tok = found
        raise DataError(
            f"{p}: {_path_label(path, what)} holds an integer of {len(tok.lstrip('-'))} "
            f"digits, more than the {limit} Python reads"
        ) from exc


def read_json(path: str | os.PathLike, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON file; ``what`` names the file's role in the not-found message.

    Raises:
        DataError: missing file, not UTF-8, invalid JSON (with line and column), lists/objects
            nested deeper than ``max_depth`` or an integer too long for Python (these two name
            the record and key, e.g. ``annotations[3]: 'segmentation'``).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: {what} not found")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read {what} ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    if _max_depth(raw) > max_depth:
        found = _find_in_json(text, max_depth=max_depth)
        where = _path_label(found[0], what) if found else "top level"
        raise DataError(f"{p}: {where} nests lists/objects more than {max_depth} levels deep")
    del raw
    return _decode_json(p, what, text)


# ----------------------------------------------------------------------------------------------
# the three sections of a COCO file


def _check_categories(fname: str, cats: list[Any], num_joints: int) -> tuple[int, tuple[str, ...]]:
    """Validate ``categories``; return the person category id and its keypoint names."""
    seen: set[int] = set()
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict):
            raise DataError(f"{fname}: categories[{i}]: must be an object, got {_short(cat)}")
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
    return _is_number(value) and float(value).is_integer() and 0 < value <= IMAGE_SIDE_MAX


def _check_images(fname: str, images: list[Any]) -> dict[int, dict]:
    """Validate ``images``; return them by id."""
    by_id: dict[int, dict] = {}
    for i, img in enumerate(images):
        if not isinstance(img, dict):
            raise DataError(f"{fname}: images[{i}]: must be an object, got {_short(img)}")
        check_id(f"{fname}: images[{i}]", "id", img.get("id"))
        where = f"{fname}: image id {img['id']}"
        if img["id"] in by_id:
            raise DataError(f"{where}: duplicate 'id'")
        name = img.get("file_name")
        if not isinstance(name, str) or not name or _CONTROL_CHARS.search(name):
            raise DataError(
                f"{where}: 'file_name' must be a non-empty string without control characters, "
                f"got {_short(name)}"
            )
        for key in ("width", "height"):
            if not _is_image_side(img.get(key)):
                raise DataError(
                    f"{where}: '{key}' must be a positive whole number of pixels up to "
                    f"{IMAGE_SIDE_MAX}, got {_short(img.get(key))}"
                )
        by_id[img["id"]] = img
    return by_id


def _ann_label(ann: Any, index: int) -> str:
    if isinstance(ann, dict) and _is_id(ann.get("id")):
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
        return all(
            type(poly) is list and _NUMBER_TYPES.issuperset(map(type, poly)) for poly in segm
        )
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
    return {list}.issuperset(map(type, polygons)) and _NUMBER_TYPES.issuperset(
        map(type, itertools.chain.from_iterable(polygons))
    )


def _areas_ok(values: list[Any]) -> bool:
    if not _NUMBER_TYPES.issuperset(map(type, values)):
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
                f"{fname}: annotation id {ann['id']}: '{key}' must be {must}, got {_short(value)}"
            )


def _check_eval_fields(fname: str, anns: list[dict], max_keypoints: int) -> None:
    """``area``, ``iscrowd``, ``num_keypoints`` (COCOeval reads them) and ``segmentation``."""

    def count_ok(v: Any) -> bool:
        return _is_int(v) and 0 <= v <= max_keypoints

    def counts_ok(values: list[Any]) -> bool:
        ints = {int}.issuperset(map(type, values))
        return ints and (not values or (min(values) >= 0 and max(values) <= max_keypoints))

    def crowd_ok(v: Any) -> bool:
        return type(v) in (int, bool) and v in (0, 1)

    def crowds_ok(values: list[Any]) -> bool:
        return {int, bool}.issuperset(map(type, values)) and {0, 1}.issuperset(values)

    def area_ok(v: Any) -> bool:
        return _is_number(v) and 0 <= v <= AREA_MAX

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


def _check_annotations(
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
            raise DataError(f"{where}: must be an object, got {_short(ann)}")
        check_id(where, "id", ann.get("id"))
        if ann["id"] in seen:
            raise DataError(f"{where}: duplicate 'id'")
        seen.add(ann["id"])
        if "image_id" not in ann:
            raise DataError(f"{where}: missing 'image_id'")
        if not _is_int(ann["image_id"]) or ann["image_id"] not in images:
            raise DataError(f"{where}: 'image_id' {_short(ann['image_id'])} is not in 'images'")
        if not _is_int(ann.get("category_id")) or ann["category_id"] not in cat_ids:
            raise DataError(f"{where}: 'category_id' {_short(ann.get('category_id'))} unknown")
        if ann["category_id"] != person_id:
            others.append(ann)
            continue
        for key in ("bbox", "keypoints"):
            if key not in ann:
                raise DataError(f"{where}: missing '{key}'")
        if not isinstance(ann["bbox"], list) or len(ann["bbox"]) != 4:
            raise DataError(
                f"{where}: 'bbox' must be 4 numbers [x, y, w, h], got {_short(ann['bbox'])}"
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
            f"got {_short(bad[key])}"
        )

    if not _NUMBER_TYPES.issuperset(map(type, itertools.chain.from_iterable(rows))):
        raise fail([not _NUMBER_TYPES.issuperset(map(type, r)) for r in rows])
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
            raise DataError(f"{fname}: annotation id {bad['id']}: {msg}: {_short(bad[key])}")
    for ann, n_labeled, box in zip(people, labeled, boxes):
        ann.setdefault("num_keypoints", int(n_labeled))
        ann.setdefault("iscrowd", 0)
        ann.setdefault("area", float(box[2] * box[3]))


# ----------------------------------------------------------------------------------------------
# public API


def clean_boxes(
    boxes: np.ndarray, widths: np.ndarray, heights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Clip ``xywh`` boxes to their images, HRNet's box cleaning.

    Args:
        boxes: (N, 4) ``[x, y, w, h]`` px.
        widths, heights: (N,) image sizes px.

    Returns:
        ``(clipped (N, 4) xywh px, valid (N,) bool)``; ``x1 = max(0, x)``,
        ``x2 = min(W - 1, x1 + max(0, w - 1))`` (same for y); valid when ``x2 >= x1`` and
        ``y2 >= y1``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(0.0, boxes[:, 0])
    y1 = np.maximum(0.0, boxes[:, 1])
    x2 = np.minimum(np.asarray(widths, np.float64) - 1, x1 + np.maximum(0.0, boxes[:, 2] - 1))
    y2 = np.minimum(np.asarray(heights, np.float64) - 1, y1 + np.maximum(0.0, boxes[:, 3] - 1))
    clipped = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    return clipped, (x2 >= x1) & (y2 >= y1)


def _quiet_coco(dataset: dict) -> Any:
    """A pycocotools COCO object over an already-parsed dict, without its prints."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _person_records(
    people: list[dict], images: dict[int, dict], image_dir: str, num_joints: int
) -> list[PersonRecord]:
    """Usable people (non-crowd, labeled joints, non-empty clipped box) as records."""
    if not people:
        return []
    boxes = np.array([a["bbox"] for a in people], dtype=np.float64)
    kpts = np.array([a["keypoints"] for a in people], dtype=np.float64)
    kpts = kpts.reshape(-1, num_joints, 3)
    img = [images[a["image_id"]] for a in people]
    sizes = np.array([[i["width"], i["height"]] for i in img], dtype=np.float64)
    clipped, valid = clean_boxes(boxes, sizes[:, 0], sizes[:, 1])
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in people])
    usable = valid & ~crowd & (kpts[:, :, 2] > 0).any(axis=1)
    return [
        PersonRecord(
            image_id=int(people[i]["image_id"]),
            image_path=os.path.join(image_dir, img[i]["file_name"]),
            box=clipped[i],
            keypoints=kpts[i],
            score=1.0,
            ann_id=int(people[i]["id"]),
            area=float(people[i]["area"]),
            image_size=(int(sizes[i, 0]), int(sizes[i, 1])),
        )
        for i in np.flatnonzero(usable)
    ]


def _check_image_files(fname: str, records: Sequence[PersonRecord], image_dir: str) -> None:
    paths = list(dict.fromkeys(r.image_path for r in records))
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DataError(
            f"{fname}: {len(missing)} of {len(paths)} images with usable people are missing "
            f"under {image_dir}, first: {missing[0]}"
        )


def load_coco_keypoints(
    ann_file: str | os.PathLike,
    image_dir: str | os.PathLike,
    num_joints: int = NUM_COCO_KEYPOINTS,
    check_images: bool = True,
) -> CocoKeypoints:
    """Load and validate a COCO person-keypoints annotation file.

    Args:
        ann_file: ``person_keypoints_*.json``.
        image_dir: folder holding the images' ``file_name``.
        num_joints: K, expected length of the person category's ``keypoints``.
        check_images: require every image with a usable person to exist on disk.

    Returns:
        :class:`CocoKeypoints` with the pycocotools object and the usable person records.

    Raises:
        DataError: missing file, invalid JSON, missing sections, malformed category / image /
            annotation (message names the file, the record id and the key), missing images.
    """
    fname = str(ann_file)
    data = read_json(ann_file, "annotation file")
    if not isinstance(data, dict):
        raise DataError(f"{fname}: top level must be an object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise DataError(f"{fname}: missing top-level key '{key}'")
        if not isinstance(data[key], list):
            raise DataError(f"{fname}: '{key}' must be a list, got {type(data[key]).__name__}")
    person_id, names = _check_categories(fname, data["categories"], num_joints)
    images = _check_images(fname, data["images"])
    cat_ids = {c["id"] for c in data["categories"]}
    people = _check_annotations(fname, data["annotations"], images, cat_ids, person_id, num_joints)
    records = _person_records(people, images, str(image_dir), num_joints)
    if check_images:
        _check_image_files(fname, records, str(image_dir))
    return CocoKeypoints(
        coco=_quiet_coco(data),
        records=records,
        ann_file=fname,
        image_dir=str(image_dir),
        num_images=len(images),
        person_category_id=person_id,
        keypoint_names=names,
    )


def load_detections(
    det_file: str | os.PathLike, data: CocoKeypoints, score_thresh: float = 0.0
) -> list[PersonRecord]:
    """Person boxes from a COCO detection-results json for top-down evaluation.

    Args:
        det_file: JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.
        data: the annotations the detections refer to (image ids, file names, person id).
        score_thresh: keep detections with ``score >= score_thresh``.

    Returns:
        Records in file order with zero keypoints (K, 3), ``ann_id = -1``, ``area = w * h``.
        Only the person category is kept; boxes with zero width or height are dropped. Boxes
        are not clipped (HRNet keeps detection boxes as given).

    Raises:
        DataError: not a list, a missing key, an id that is not a 64-bit integer, an unknown
            image id, a malformed box (beyond +-COORD_MAX px too) or score; the message names
            the file, the list index and the key.
    """
    fname = str(det_file)
    dets = read_json(det_file, "detection file")
    if not isinstance(dets, list):
        raise DataError(f"{fname}: must be a list of detections, got {type(dets).__name__}")
    imgs = data.coco.imgs
    zeros = np.zeros((data.num_joints or NUM_COCO_KEYPOINTS, 3), dtype=np.float64)
    out: list[PersonRecord] = []
    for i, det in enumerate(dets):
        where = f"{fname}: detection [{i}]"
        if not isinstance(det, dict):
            raise DataError(f"{where}: must be an object, got {_short(det)}")
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in det:
                raise DataError(f"{where}: missing '{key}'")
        check_id(where, "image_id", det["image_id"])
        if det["image_id"] not in imgs:
            raise DataError(f"{where}: 'image_id' {_short(det['image_id'])} is not in the images")
        check_id(where, "category_id", det["category_id"])
        box = check_box(where, det["bbox"])
        check_score(where, det["score"])
        if det["category_id"] != data.person_category_id or det["score"] < score_thresh:
            continue
        if box[2] == 0 or box[3] == 0:
            continue
        out.append(
            PersonRecord(
                image_id=int(det["image_id"]),
                image_path=os.path.join(data.image_dir, imgs[det["image_id"]]["file_name"]),
                box=np.asarray(box, dtype=np.float64),
                keypoints=zeros,
                score=float(det["score"]),
                ann_id=-1,
                area=float(box[2] * box[3]),
                image_size=(
                    int(imgs[det["image_id"]]["width"]),
                    int(imgs[det["image_id"]]["height"]),
                ),
            )
        )
    return out


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0.0, "median": 0.0, "mean": 0.0, "max": 0.0}
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


def dataset_stats(data: CocoKeypoints) -> dict[str, Any]:
    """Counts for the data validator and the data-prep notebook (JSON-serializable values).

    Returns:
        ``images``; ``images_with_people`` (>= 1 usable person); ``person_annotations`` (all);
        ``crowd_annotations``; ``people`` (non-crowd person annotations); ``usable_people``
        (records); ``people_per_image`` {usable people: image count}, including 0;
        ``labeled_joints`` / ``visible_joints`` {joint name: count of v > 0 / v == 2} over
        usable people; ``box_size`` {"width"|"height"|"sqrt_area": {min, median, mean, max}} px
        of the usable boxes.
    """
    cat = data.person_category_id
    anns = [a for a in data.coco.dataset.get("annotations", []) if a["category_id"] == cat]
    crowd = sum(1 for a in anns if a.get("iscrowd", 0))
    ids = np.array([r.image_id for r in data.records], dtype=np.int64)
    _, per_image = np.unique(ids, return_counts=True)
    hist_counts = np.bincount(per_image, minlength=1)
    hist_counts[0] = data.num_images - per_image.size
    k = len(data.keypoint_names)
    vis = np.stack([r.keypoints[:, 2] for r in data.records]) if data.records else np.zeros((0, k))
    boxes = np.stack([r.box for r in data.records]) if data.records else np.zeros((0, 4))
    return {
        "images": int(data.num_images),
        "images_with_people": int(per_image.size),
        "person_annotations": len(anns),
        "crowd_annotations": int(crowd),
        "people": len(anns) - int(crowd),
        "usable_people": len(data.records),
        "people_per_image": {int(n): int(c) for n, c in enumerate(hist_counts) if c > 0},
        "labeled_joints": dict(zip(data.keypoint_names, (vis > 0).sum(axis=0).tolist())),
        "visible_joints": dict(zip(data.keypoint_names, (vis == 2).sum(axis=0).tolist())),
        "box_size": {
            "width": _summary(boxes[:, 2]),
            "height": _summary(boxes[:, 3]),
            "sqrt_area": _summary(np.sqrt(boxes[:, 2] * boxes[:, 3])),
        },
    }
