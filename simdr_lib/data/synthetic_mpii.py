"""The generated default dataset written in MPII format (16 joints, head boxes), for CPU runs.

The people are the generated COCO ones (:mod:`simdr_lib.data.synthetic`, made at
``<root>/coco`` and reused); each is mapped to the 16 MPII joints: legs, arms and shoulders are
COCO's, pelvis and thorax the midpoints of the hips and shoulders, and upper neck / head top
lie on the line from the thorax through the head (the mean of the labeled face joints). The head
box is the square between upper neck and head top (a person without a labeled face gets the top
of its box). Written are ``<root>/annotations/train.json`` and ``valid.json`` in the HRNet json
format (1-based ``center``, ``scale``, ``joints``, ``joints_vis``) plus ``head_box``, so the
validation json is its own PCKh ground truth.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.atomic_io import write_json_atomic
from simdr_lib.data.mpii import MPII_CENTER_SHIFT
from simdr_lib.data.synthetic import generate_synthetic_coco

__all__ = ["MPII_SPLITS", "coco_to_mpii_joints", "generate_synthetic_mpii", "head_box_for"]

#: MPII split name -> (COCO annotation file, COCO image folder), relative to ``<root>/coco``
MPII_SPLITS = {
    "train": ("annotations/person_keypoints_train.json", "images/train"),
    "valid": ("annotations/person_keypoints_val.json", "images/val"),
}
#: MPII joint -> COCO joint, for the joints both have (see keypoints_mpii / keypoints)
_DIRECT = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
#: upper neck and head top as fractions of thorax -> head centre beyond the thorax
_NECK_AT, _TOP_AT = 0.45, 1.55
_PIXEL_STD = 200.0


def coco_to_mpii_joints(coco: np.ndarray) -> np.ndarray:
    """(17, 3) COCO ``x, y, v`` px -> (16, 3) MPII ``x, y, vis`` (vis 0 / 1), 0-based px."""
    coco = np.asarray(coco, dtype=np.float64).reshape(17, 3)
    out = np.zeros((16, 3))
    for m, c in _DIRECT.items():
        if coco[c, 2] > 0:
            out[m] = (coco[c, 0], coco[c, 1], 1.0)
    for m, (a, b) in ((6, (11, 12)), (7, (5, 6))):
        if coco[a, 2] > 0 and coco[b, 2] > 0:
            out[m] = (*((coco[a, :2] + coco[b, :2]) / 2), 1.0)
    face = coco[:5][coco[:5, 2] > 0]
    if out[7, 2] > 0 and len(face):
        thorax, centre = out[7, :2], face[:, :2].mean(axis=0)
        out[8] = (*(thorax + _NECK_AT * (centre - thorax)), 1.0)
        out[9] = (*(thorax + _TOP_AT * (centre - thorax)), 1.0)
    return out


def head_box_for(mpii: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(2, 2) head box ``[[x1, y1], [x2, y2]]`` 0-based px from upper neck / head top, or the
    top of the person ``box`` (x, y, w, h) when they are not labeled."""
    if mpii[8, 2] > 0 and mpii[9, 2] > 0:
        mid = (mpii[8, :2] + mpii[9, :2]) / 2
        half = max(np.linalg.norm(mpii[9, :2] - mpii[8, :2]) / 2, 1.0)
    else:
        x, y, w, h = box
        half = max(0.08 * h, 1.0)
        mid = np.array([x + w / 2, y + half])
    return np.stack([mid - half, mid + half])


def _entry(ann: dict[str, Any], file_name: str) -> dict[str, Any] | None:
    """One COCO annotation as an MPII entry (1-based px), or None without labeled joints."""
    joints = coco_to_mpii_joints(np.reshape(ann["keypoints"], (17, 3)))
    if not joints[:, 2].any():
        return None
    x, y, w, h = (float(v) for v in ann["bbox"])
    scale = max(w, h, 1.0) / _PIXEL_STD
    # the loader moves the centre down by 15 * scale (the reference's habit): undo it here
    center = (x + w / 2 + 1.0, y + h / 2 + 1.0 - MPII_CENTER_SHIFT * scale)
    head = head_box_for(joints, np.array([x, y, w, h])) + 1.0
    pts = np.where(joints[:, 2:] > 0, joints[:, :2] + 1.0, -1.0)
    return {
        "image": file_name,
        "center": [round(c, 2) for c in center],
        "scale": round(scale, 4),
        "joints": [[round(float(a), 2), round(float(b), 2)] for a, b in pts],
        "joints_vis": [int(v) for v in joints[:, 2]],
        "head_box": [round(float(v), 2) for v in head.reshape(-1)],
    }


def _convert(coco_file: Path) -> list[dict[str, Any]]:
    data = json.loads(coco_file.read_text(encoding="utf-8"))
    names = {img["id"]: img["file_name"] for img in data["images"]}
    people = (_entry(a, names[a["image_id"]]) for a in data["annotations"] if not a["iscrowd"])
    return [p for p in people if p is not None]


def generate_synthetic_mpii(
    out_dir: str | os.PathLike[str],
    num_train: int = 800,
    num_val: int = 100,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Generate (or reuse) the MPII-format dataset at ``out_dir``; returns ``out_dir``.

    Layout: ``coco/`` (the generated COCO set, its images are the MPII images),
    ``annotations/train.json`` (images ``coco/images/train``) and ``annotations/valid.json``
    (images ``coco/images/val``). The jsons are rewritten when missing or older than their
    COCO source.
    """
    root = Path(out_dir)
    generate_synthetic_coco(
        root / "coco", num_train=num_train, num_val=num_val, seed=seed, progress=progress
    )
    for split, (ann, _) in MPII_SPLITS.items():
        src, dest = root / "coco" / ann, root / "annotations" / f"{split}.json"
        if dest.is_file() and dest.stat().st_mtime >= src.stat().st_mtime:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(dest, _convert(src))
    return root
