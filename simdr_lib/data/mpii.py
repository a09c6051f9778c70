"""MPII annotations (the json of the HRNet family of code bases) -> per-person records.

The file is a json list with one object per person: ``image`` (file name under the image
folder), ``center`` ``[x, y]`` and ``scale`` (person height / 200) in MATLAB's 1-based pixels,
``joints`` (16 ``[x, y]``, 1-based) and ``joints_vis`` (16 of 0 / 1). An optional
``head_box`` ``[x1, y1, x2, y2]`` (1-based px, our extension; real MPII keeps head boxes in
``gt_valid.mat``) lets the json itself be the PCKh ground truth.

Facts from ``lib/dataset/mpii.py`` of leeyegy/SimDR (and HRNet): joints are made 0-based by
subtracting 1, the center is moved down ``c[1] += 15 * s`` and made 0-based (``c - 1``), and the
scale is enlarged ``s * 1.25``. Here the person becomes a square box of side
``s * pixel_std`` around the moved center, and the dataset's ``data.padding`` (1.25) does the
enlargement, so at a square input (256x256) the crop is the reference's; at other aspect
ratios one side grows to the input's ratio as for COCO. Every problem raises a one-line
:class:`~simdr_lib.errors.DataError` naming the file, the entry index and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from simdr_lib.data.coco import PersonRecord
from simdr_lib.data.coco_json import COORD_MAX, is_number, read_json, short_value
from simdr_lib.errors import DataError
from simdr_lib.keypoints_mpii import MPII_KEYPOINT_NAMES, NUM_MPII_KEYPOINTS

__all__ = ["MPII_CENTER_SHIFT", "MPII_SCALE_PADDING", "MpiiKeypoints", "load_mpii"]

#: the reference moves the center down by this many px per unit of scale
MPII_CENTER_SHIFT = 15.0
#: the reference's scale enlargement (applied through ``data.padding``)
MPII_SCALE_PADDING = 1.25


@dataclass(frozen=True, eq=False)
class MpiiKeypoints:
    """A validated MPII annotation file.

    Attributes:
        records: one :class:`PersonRecord` per entry, in file order (the order ``gt_valid.mat``
            follows); ``image_id`` numbers the distinct images 1.. in order of appearance,
            keypoints are 0-based px with v = 2 (labeled) or 0.
        joints: (N, 16, 2) 0-based px. visible: (N, 16) bool (``joints_vis > 0``).
        head_boxes: (N, 2, 2) ``[[x1, y1], [x2, y2]]`` 0-based px, or ``None`` when the file
            has no ``head_box`` entries.
        ann_file, image_dir: as given. num_images: distinct images.
    """

    records: list[PersonRecord]
    joints: np.ndarray
    visible: np.ndarray
    head_boxes: np.ndarray | None
    ann_file: str
    image_dir: str
    num_images: int
    keypoint_names: tuple[str, ...] = MPII_KEYPOINT_NAMES

    @property
    def num_joints(self) -> int:
        return len(self.keypoint_names)


def _numbers(where: str, key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a float array of ``shape`` of finite numbers within +-COORD_MAX, else DataError."""
    want = "x".join(map(str, shape))
    flat: list[Any] = []
    ok = True
    if len(shape) == 1:
        ok = isinstance(value, list) and len(value) == shape[0]
        flat = list(value) if ok else []
    else:
        ok = isinstance(value, list) and len(value) == shape[0]
        ok = ok and all(isinstance(r, list) and len(r) == shape[1] for r in value)
        flat = [v for r in value for v in r] if ok else []
    if not ok:
        got = f"{len(value)} entries" if isinstance(value, list) else short_value(value)
        raise DataError(f"{where}: '{key}' must be {want} numbers, got {got}")
    if not all(is_number(v) for v in flat) or any(abs(v) > COORD_MAX for v in flat):
        raise DataError(
            f"{where}: '{key}' must hold finite numbers within +-{COORD_MAX:.0e}, "
            f"got {short_value(value)}"
        )
    return np.asarray(flat, dtype=np.float64).reshape(shape)


def _check_entry(where: str, entry: Any, num_joints: int) -> dict[str, Any]:
    """One person entry checked; returns its fields as arrays (1-based px as in the file)."""
    if not isinstance(entry, dict):
        raise DataError(f"{where}: must be an object, got {short_value(entry)}")
    for key in ("image", "center", "scale", "joints", "joints_vis"):
        if key not in entry:
            raise DataError(f"{where}: missing '{key}'")
    image = entry["image"]
    if not isinstance(image, str) or not image or "\x00" in image:
        raise DataError(f"{where}: 'image' must be a non-empty file name, got {short_value(image)}")
    scale = entry["scale"]
    if not is_number(scale) or not 0 < scale <= COORD_MAX:
        raise DataError(f"{where}: 'scale' must be a number > 0, got {short_value(scale)}")
    vis = _numbers(where, "joints_vis", entry["joints_vis"], (num_joints,))
    if not np.isin(vis, (0, 1)).all():
        raise DataError(f"{where}: 'joints_vis' must hold 0 or 1, got {short_value(entry['joints_vis'])}")
    out = {
        "image": image,
        "center": _numbers(where, "center", entry["center"], (2,)),
        "scale": float(scale),
        "joints": _numbers(where, "joints", entry["joints"], (num_joints, 2)),
        "visible": vis > 0,
        "head_box": None,
    }
    if "head_box" in entry:
        box = _numbers(where, "head_box", entry["head_box"], (4,))
        out["head_box"] = box.reshape(2, 2)
    return out


def _record(entry: dict[str, Any], image_id: int, image_dir: str, pixel_std: float) -> PersonRecord:
    """The entry as a square box of side ``scale * pixel_std`` around the moved 0-based center."""
    s = entry["scale"]
    cx, cy = entry["center"] - 1.0
    if entry["center"][0] != -1:  # the reference leaves a center x of -1 (unknown) unmoved
        cy += MPII_CENTER_SHIFT * s
    side = s * pixel_std
    kpts = np.concatenate([entry["joints"] - 1.0, 2.0 * entry["visible"][:, None]], axis=1)
    return PersonRecord(
        image_id=image_id,
        image_path=os.path.join(image_dir, entry["image"]),
        box=np.array([cx - side / 2, cy - side / 2, side, side]),
        keypoints=kpts,
        score=1.0,
        ann_id=-1,
        area=side * side,
        image_size=None,
    )


def load_mpii(
    ann_file: str | os.PathLike,
    image_dir: str | os.PathLike,
    num_joints: int = NUM_MPII_KEYPOINTS,
    check_images: bool = True,
    pixel_std: float = 200.0,
) -> MpiiKeypoints:
    """Load and validate an MPII annotation json (see the module doc).

    Raises:
        DataError: missing file, invalid JSON, not a list, an entry with a missing key, a
            wrong joint count, non-finite numbers, ``head_box`` on some entries only, missing
            images; one line naming the file, the entry and the key.
    """
    fname = str(ann_file)
    if num_joints != NUM_MPII_KEYPOINTS:
        raise DataError(f"{fname}: MPII has {NUM_MPII_KEYPOINTS} joints, model.num_joints is {num_joints}")
    data = read_json(ann_file, "MPII annotation file")
    if not isinstance(data, list):
        raise DataError(f"{fname}: top level must be a list of people, got {type(data).__name__}")
    entries = [_check_entry(f"{fname}: entry [{i}]", e, num_joints) for i, e in enumerate(data)]
    with_box = [e["head_box"] is not None for e in entries]
    if any(with_box) and not all(with_box):
        i = with_box.index(False)
        raise DataError(f"{fname}: entry [{i}]: missing 'head_box' (other entries have one)")
    ids: dict[str, int] = {}
    records = []
    for e in entries:
        image_id = ids.setdefault(e["image"], len(ids) + 1)
        records.append(_record(e, image_id, str(image_dir), pixel_std))
    if check_images:
        missing = [n for n in ids if not os.path.isfile(os.path.join(str(image_dir), n))]
        if missing:
            raise DataError(
                f"{fname}: {len(missing)} of {len(ids)} images are missing under {image_dir}, "
                f"first: {missing[0]}"
            )
    k = num_joints
    joints = np.stack([e["joints"] - 1.0 for e in entries]) if entries else np.zeros((0, k, 2))
    visible = np.stack([e["visible"] for e in entries]) if entries else np.zeros((0, k), bool)
    boxes = np.stack([e["head_box"] - 1.0 for e in entries]) if entries and all(with_box) else None
    return MpiiKeypoints(records, joints, visible, boxes, fname, str(image_dir), len(ids))


def mpii_stats(data: MpiiKeypoints) -> dict[str, Any]:
    """Counts for ``simdr validate`` and the data-prep notebook: the same keys as the COCO
    :func:`~simdr_lib.data.coco.people_stats`, plus ``people`` and ``head_boxes`` (present)."""
    from simdr_lib.data.coco import people_stats

    stats = people_stats(data.records, data.num_images, data.keypoint_names)
    stats.update(people=len(data.records), head_boxes=data.head_boxes is not None)
    return stats
