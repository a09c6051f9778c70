"""COCO keypoint annotations and detection results -> per-person records.

Everything is validated before pycocotools sees it (its own failures are bare assertions and
KeyErrors), and every problem raises a one-line :class:`DataError` naming the file, the record
(annotation id, image id, list index) and the key at fault.

Records follow HRNet's COCO loader (facts from ``lib/dataset/coco.py`` of
leoxiaobin/deep-high-resolution-net.pytorch): people are non-crowd person annotations with at
least one labeled joint (v > 0), and their boxes are clipped to the image
(``x2 = min(W - 1, x1 + max(0, w - 1))``); a box left empty by the clipping drops the person.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from collections.abc import Sequence
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

    The arrays are made read-only; ``eq=False`` because numpy arrays have no truth value.
    """

    image_id: int
    image_path: str
    box: np.ndarray
    keypoints: np.ndarray
    score: float = 1.0
    ann_id: int = -1
    area: float = 0.0

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
            (box ``w * h``, 0, number of joints with v > 0).
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
# small validation helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parse a JSON file; ``what`` names the file's role in the not-found message.

    Raises:
        DataError: missing file, not UTF-8, or invalid JSON (with line and column).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: {what} not found")
    try:
        with p.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{p}: cannot read {what} ({exc.strerror or exc})") from exc


def _numeric_rows(rows: list[Any], width: int) -> np.ndarray | None:
    """(N, width) float64 array of equal-length JSON number lists, or None if any is bad."""
    if not rows:
        return np.zeros((0, width), dtype=np.float64)
    try:
        arr = np.array(rows)
    except (ValueError, TypeError):
        return None
    if arr.ndim != 2 or arr.shape[1] != width or arr.dtype.kind not in "biuf":
        return None
    arr = arr.astype(np.float64)
    return arr if np.isfinite(arr).all() else None


def _first_bad_row(rows: list[Any], width: int) -> int:
    """Index of the first row that is not ``width`` finite numbers."""
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width or not all(map(_is_number, row)):
            return i
    return -1


# ----------------------------------------------------------------------------------------------
# the three sections of a COCO file


def _check_categories(fname: str, cats: list[Any], num_joints: int) -> tuple[int, tuple[str, ...]]:
    """Validate ``categories``; return the person category id and its keypoint names."""
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise DataError(f"{fname}: categories[{i}]: needs an integer 'id'")
    person = [c for c in cats if c.get("name") == PERSON_CATEGORY_NAME]
    if not person:
        person = [c for c in cats if "keypoints" in c]
    if len(person) != 1:
        raise DataError(
            f"{fname}: 'categories' must hold exactly one person category (name 'person' or "
            f"with 'keypoints'), found {len(person)}"
        )
    cat = person[0]
    names = cat.get("keypoints")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{fname}: category id {cat['id']}: 'keypoints' must be a list of names")
    if len(names) != num_joints:
        raise DataError(
            f"{fname}: category id {cat['id']}: 'keypoints' has {len(names)} names, "
            f"expected {num_joints}"
        )
    return int(cat["id"]), tuple(names)


def _check_images(fname: str, images: list[Any]) -> dict[int, dict]:
    """Validate ``images``; return them by id."""
    by_id: dict[int, dict] = {}
    for i, img in enumerate(images):
        if not isinstance(img, dict):
            raise DataError(f"{fname}: images[{i}]: must be an object, got {_short(img)}")
        if not _is_int(img.get("id")):
            raise DataError(f"{fname}: images[{i}]: 'id' must be an integer")
        where = f"{fname}: image id {img['id']}"
        if img["id"] in by_id:
            raise DataError(f"{where}: duplicate 'id'")
        name = img.get("file_name")
        if not isinstance(name, str) or not name:
            raise DataError(f"{where}: 'file_name' must be a non-empty string")
        for key in ("width", "height"):
            if not _is_number(img.get(key)) or img[key] <= 0:
                raise DataError(f"{where}: '{key}' must be a positive number")
        by_id[img["id"]] = img
    return by_id


def _ann_label(ann: Any, index: int) -> str:
    if isinstance(ann, dict) and _is_int(ann.get("id")):
        return f"annotation id {ann['id']}"
    return f"annotations[{index}]"


def _check_annotations(
    fname: str,
    anns: list[Any],
    images: dict[int, dict],
    cat_ids: set[int],
    person_id: int,
    num_joints: int,
) -> list[dict]:
    """Validate ``annotations``; fill person defaults; return the person annotations."""
    seen: set[int] = set()
    people: list[dict] = []
    for i, ann in enumerate(anns):
        where = f"{fname}: {_ann_label(ann, i)}"
        if not isinstance(ann, dict):
            raise DataError(f"{where}: must be an object, got {_short(ann)}")
        if not _is_int(ann.get("id")):
            raise DataError(f"{where}: 'id' must be an integer")
        if ann["id"] in seen:
            raise DataError(f"{where}: duplicate 'id'")
        seen.add(ann["id"])
        if "image_id" not in ann:
            raise DataError(f"{where}: missing 'image_id'")
        if not _is_int(ann["image_id"]) or ann["image_id"] not in images:
            raise DataError(f"{where}: 'image_id' {_short(ann['image_id'])} is not in 'images'")
        if not _is_int(ann.get("category_id")) or ann["category_id"] not in cat_ids:
            raise DataError(f"{where}: 'category_id' {_short(ann.get('category_id'))} unknown")
        if ann["category_id"] == person_id:
            for key in ("bbox", "keypoints"):
                if key not in ann:
                    raise DataError(f"{where}: missing '{key}'")
            if not isinstance(ann["bbox"], list) or len(ann["bbox"]) != 4:
                raise DataError(f"{where}: 'bbox' must be 4 numbers [x, y, w, h]")
            kpts = ann["keypoints"]
            if not isinstance(kpts, list) or len(kpts) != 3 * num_joints:
                got = len(kpts) if isinstance(kpts, list) else type(kpts).__name__
                raise DataError(
                    f"{where}: 'keypoints' has {got} values, expected {3 * num_joints} "
                    f"(x, y, v for {num_joints} joints)"
                )
            people.append(ann)
    _check_person_numbers(fname, people, num_joints)
    return people


def _check_person_numbers(fname: str, people: list[dict], num_joints: int) -> None:
    """Vectorized number checks of person ``bbox`` / ``keypoints``; fill missing defaults."""
    arrays = []
    for key, width in (("bbox", 4), ("keypoints", 3 * num_joints)):
        rows = [a[key] for a in people]
        arr = _numeric_rows(rows, width)
        if arr is None:
            bad = people[_first_bad_row(rows, width)]
            raise DataError(
                f"{fname}: annotation id {bad['id']}: '{key}' must hold finite numbers, "
                f"got {_short(bad[key])}"
            )
        arrays.append(arr)
    boxes, kpts = arrays
    vis = kpts[:, 2::3]
    bad_vis = ~np.isin(vis, (0, 1, 2)).all(axis=1)
    labeled = (vis > 0).sum(axis=1)
    negative = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
    empty = (labeled > 0) & ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    for mask, msg in (
        (bad_vis, "'keypoints' visibility flags must be 0, 1 or 2"),
        (negative, "'bbox' has a negative width or height"),
        (empty, "'bbox' has zero width or height but the person has labeled keypoints"),
    ):
        if mask.any():
            bad = people[int(np.argmax(mask))]
            raise DataError(f"{fname}: annotation id {bad['id']}: {msg}: {_short(bad['bbox'])}")
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
        DataError: not a list, a missing key, an unknown image id, a malformed box or score;
            the message names the file and the list index.
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
        if not _is_int(det["image_id"]) or det["image_id"] not in imgs:
            raise DataError(f"{where}: 'image_id' {_short(det['image_id'])} is not in the images")
        box = det["bbox"]
        if not isinstance(box, list) or len(box) != 4 or not all(map(_is_number, box)):
            raise DataError(f"{where}: 'bbox' must be 4 finite numbers, got {_short(box)}")
        if box[2] < 0 or box[3] < 0:
            raise DataError(f"{where}: 'bbox' has a negative width or height: {_short(box)}")
        if not _is_number(det["score"]):
            raise DataError(f"{where}: 'score' must be a finite number, got {det['score']!r}")
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
