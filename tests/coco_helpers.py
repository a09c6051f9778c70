"""Tiny COCO keypoint files + images for the data-layer tests (no synthetic generator)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np

from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON

IMAGE_SIZE = (64, 48)  # (W, H)


def person_keypoints(box: list[float], visible: int = 2, k: int = 17) -> list[float]:
    """Flat COCO keypoints (3K,) spread over ``box`` (x, y, v)."""
    x, y, w, h = box
    t = np.linspace(0.1, 0.9, k)
    xs = x + w * (0.3 + 0.4 * (np.arange(k) % 2))
    ys = y + h * t
    out = np.stack([xs, ys, np.full(k, visible)], axis=1)
    return [float(v) for v in out.ravel()]


def coco_dict(num_images: int = 2, size: tuple[int, int] = IMAGE_SIZE) -> dict:
    """A valid person-keypoints dict: per image 2 people, plus a crowd and an unlabeled one."""
    w, h = size
    images, anns = [], []
    ann_id = 100
    for i in range(num_images):
        image_id = i + 1
        images.append(
            {"id": image_id, "file_name": f"img_{image_id:03d}.jpg", "width": w, "height": h}
        )
        for box in ([4.0, 2.0, 20.0, 40.0], [30.0, 5.0, 40.0, 50.0]):  # 2nd crosses the border
            anns.append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": box,
                    "keypoints": person_keypoints(box),
                    "num_keypoints": 17,
                    "area": box[2] * box[3] * 0.6,
                    "iscrowd": 0,
                }
            )
            ann_id += 1
        anns.append(
            {
                "id": ann_id,
                "image_id": image_id,
                "category_id": 1,
                "bbox": [0.0, 0.0, 10.0, 10.0],
                "keypoints": [0.0] * 51,
                "num_keypoints": 0,
                "area": 100.0,
                "iscrowd": 1,
            }
        )
        ann_id += 1
        anns.append(
            {
                "id": ann_id,
                "image_id": image_id,
                "category_id": 1,
                "bbox": [1.0, 1.0, 5.0, 5.0],
                "keypoints": [0.0] * 51,
                "num_keypoints": 0,
                "area": 25.0,
                "iscrowd": 0,
            }
        )
        ann_id += 1
    cats = [
        {
            "id": 1,
            "name": "person",
            "supercategory": "person",
            "keypoints": list(COCO_KEYPOINT_NAMES),
            "skeleton": [list(s) for s in COCO_SKELETON],
        }
    ]
    return {"images": images, "annotations": anns, "categories": cats}


def write_coco(root: Path, data: dict | None = None, images: bool = True) -> tuple[Path, Path]:
    """Write ``data`` (default :func:`coco_dict`) and its images under ``root``.

    Returns:
        (annotation file, image folder).
    """
    data = copy.deepcopy(coco_dict() if data is None else data)
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    if images:
        rng = np.random.default_rng(0)
        for img in data["images"]:  # robust to the malformed entries of the error tests
            w, h = img.get("width"), img.get("height")
            if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
                w, h = IMAGE_SIZE
            if isinstance(img.get("file_name"), str):
                pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
                cv2.imwrite(str(image_dir / img["file_name"]), pixels)
    ann_file = root / "person_keypoints.json"
    ann_file.write_text(json.dumps(data))
    return ann_file, image_dir
