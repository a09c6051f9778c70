"""COCO keypoint annotations and detection results -> per-person records.

Everything is validated before pycocotools sees it (its own failures are bare assertions and
KeyErrors), and every problem raises a one-line :class:`DataError` naming the file, the record
(annotation id, image id, list index) and the key at fault. Beyond types, values must be usable
downstream: ids fit in signed 64 bits, coordinates within +-1e7 px, image sides whole numbers
up to 1e6 px, and the JSON nests at most 32 levels (Python's parser recurses). The file
reading and single-value checks are :mod:`simdr_lib.data.coco_json`, the section checks
:mod:`simdr_lib.data.coco_checks`; this module turns the checked data into records.

Records follow HRNet's COCO loader (facts from ``lib/dataset/coco.py`` of
leoxiaobin/deep-high-resolution-net.pytorch): people are non-crowd person annotations with at
least one labeled joint (v > 0), and their boxes are clipped to the image
(``x2 = min(W - 1, x1 + max(0, w - 1))``); a box left empty by the clipping drops the person.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simdr_lib.data.coco_checks import (
    PERSON_CATEGORY_NAME,
    validate_annotations,
    validate_categories,
    validate_images,
)
from simdr_lib.data.coco_json import (  # re-exported: infer.py and tests import them from here
    AREA_MAX,
    COORD_MAX,
    IMAGE_SIDE_MAX,
    INT64_MAX,
    INT64_MIN,
    MAX_JSON_DEPTH,
    check_box,
    check_id,
    check_score,
    read_json,
    short_value,
)
from simdr_lib.errors import DataError
from simdr_lib.keypoints import NUM_COCO_KEYPOINTS

__all__ = [
    "AREA_MAX",
    "COORD_MAX",
    "IMAGE_SIDE_MAX",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_JSON_DEPTH",
    "PERSON_CATEGORY_NAME",
    "CocoKeypoints",
    "PersonRecord",
    "check_box",
    "check_id",
    "check_score",
    "clean_boxes",
    "dataset_stats",
    "load_coco_keypoints",
    "load_detections",
    "read_json",
]


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
    person_id, names = validate_categories(fname, data["categories"], num_joints)
    images = validate_images(fname, data["images"])
    cat_ids = {c["id"] for c in data["categories"]}
    people = validate_annotations(
        fname, data["annotations"], images, cat_ids, person_id, num_joints
    )
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
        box = _check_detection(f"{fname}: detection [{i}]", det, imgs)
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


def _check_detection(where: str, det: Any, imgs: dict[int, dict]) -> list:
    """One entry of a detections json checked; returns its ``bbox``."""
    if not isinstance(det, dict):
        raise DataError(f"{where}: must be an object, got {short_value(det)}")
    for key in ("image_id", "category_id", "bbox", "score"):
        if key not in det:
            raise DataError(f"{where}: missing '{key}'")
    check_id(where, "image_id", det["image_id"])
    if det["image_id"] not in imgs:
        raise DataError(f"{where}: 'image_id' {short_value(det['image_id'])} is not in the images")
    check_id(where, "category_id", det["category_id"])
    box = check_box(where, det["bbox"])
    check_score(where, det["score"])
    return box


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0.0, "median": 0.0, "mean": 0.0, "max": 0.0}
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


def people_stats(
    records: Sequence[PersonRecord], num_images: int, keypoint_names: Sequence[str]
) -> dict[str, Any]:
    """The per-person counts every dataset kind shares (JSON-serializable values).

    Returns:
        ``images``; ``images_with_people`` (>= 1 usable person); ``usable_people`` (records);
        ``people_per_image`` {usable people: image count}, including 0; ``labeled_joints`` /
        ``visible_joints`` {joint name: count of v > 0 / v == 2} over usable people;
        ``box_size`` {"width"|"height"|"sqrt_area": {min, median, mean, max}} px of the boxes.
    """
    ids = np.array([r.image_id for r in records], dtype=np.int64)
    _, per_image = np.unique(ids, return_counts=True)
    hist_counts = np.bincount(per_image, minlength=1)
    hist_counts[0] = num_images - per_image.size
    k = len(keypoint_names)
    vis = np.stack([r.keypoints[:, 2] for r in records]) if records else np.zeros((0, k))
    boxes = np.stack([r.box for r in records]) if records else np.zeros((0, 4))
    return {
        "images": int(num_images),
        "images_with_people": int(per_image.size),
        "usable_people": len(records),
        "people_per_image": {int(n): int(c) for n, c in enumerate(hist_counts) if c > 0},
        "labeled_joints": dict(zip(keypoint_names, (vis > 0).sum(axis=0).tolist())),
        "visible_joints": dict(zip(keypoint_names, (vis == 2).sum(axis=0).tolist())),
        "box_size": {
            "width": _summary(boxes[:, 2]),
            "height": _summary(boxes[:, 3]),
            "sqrt_area": _summary(np.sqrt(boxes[:, 2] * boxes[:, 3])),
        },
    }


def dataset_stats(data: CocoKeypoints) -> dict[str, Any]:
    """Counts for the data validator and the data-prep notebook (JSON-serializable values).

    Returns:
        :func:`people_stats`, plus ``person_annotations`` (all); ``crowd_annotations``;
        ``people`` (non-crowd person annotations).
    """
    cat = data.person_category_id
    anns = [a for a in data.coco.dataset.get("annotations", []) if a["category_id"] == cat]
    crowd = sum(1 for a in anns if a.get("iscrowd", 0))
    stats = people_stats(data.records, data.num_images, data.keypoint_names)
    stats.update(
        person_annotations=len(anns), crowd_annotations=int(crowd), people=len(anns) - int(crowd)
    )
    return stats
