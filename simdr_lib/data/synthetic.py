"""Embedded default dataset: synthetic stick-figure people in real COCO keypoints format.

Every image (default 320x240, W x H) holds 1 to ``max_people`` articulated figures drawn with
OpenCV on a random textured background. A figure is a 2D kinematic skeleton (torso lean, head
tilt, yaw from frontal to profile, arm and leg angles within plausible ranges, bent elbows and
knees) rendered as thick limbs, a torso polygon and a round head with eyes, ears and nose marks.
The person's left side is drawn in blues and the right side in reds (with per-person jitter), so
left/right is learnable, as it is from real people's anatomy.

Labels follow COCO:

- keypoint ``(x, y)`` in pixels of the stored image, pixel centres at integer coordinates;
- ``v = 2`` visible; ``v = 1`` labeled but hidden (behind a random occluder rectangle, another
  figure, the figure's own body, or on the far side of the head); ``v = 0`` outside the image,
  stored as ``x = y = 0``;
- ``bbox`` ``[x, y, w, h]``: tight box around everything drawn for the figure (including parts
  hidden by occluders), plus a 2 px margin, clipped to the image (COCO's box encloses the
  visible mask only; here it is the full figure, as the detections and crops expect);
- ``segmentation``: the person's visible mask as COCO RLE (``{"size": [h, w], "counts": str}``,
  ``pycocotools.mask.decode`` reads it): the pixels of the final image whose top-most drawn
  owner is this figure, so parts behind occluder rectangles or nearer figures are not in it
  (from the label map also used for visibility, without anti-aliased edges);
- ``area`` = the mask's pixel count, as COCO defines it ("Area is measured as the number of
  pixels in the segmentation mask", https://cocodataset.org/#detection-eval); OKS uses its
  square root as the object scale (https://cocodataset.org/#keypoints-eval). A stick figure's
  mask is about 0.3 of its box (median), a real person's about half, so at equal box size OKS
  here is a little stricter than on COCO, not more lenient. An image in which a person would
  have no visible pixel is drawn again (see
  :func:`~simdr_lib.data.synthetic_scene.render_scene`).

Sizes. A figure's nominal standing height is drawn from a mixture
(``synthetic_scene.HEIGHT_MIX``, recorded in ``synthetic_meta.json`` as
``figure_height_mix``), in fractions of the image height: 6%
uniform in [0.2, 0.3] (small figures), 36% in [0.3, 0.9] and 58% in [0.9, 1.6] (close-ups cut
by the image border, more often showing the upper body; every figure keeps at least 6 keypoints
inside the image). Figures that cannot be placed without heavy overlap are left out, mostly
large ones, so images hold 1.7 people on average. By COCO's area ranges (small < 32^2 px^2,
medium 32^2..96^2, large > 96^2; https://cocodataset.org/#keypoints-eval) the default set
(320x240, seed 0, 800 train + 100 val images) has

========  =====  ======  ======  ======
split     total  small   medium  large
========  =====  ======  ======  ======
train     1376   6.2%    52.0%   41.8%
val       158    9.5%    48.7%   41.8%
========  =====  ======  ======  ======

(``synthetic_meta.json`` records these counts as ``people`` for every generated set). COCO
itself annotates no keypoints on small people, so COCOeval reports AP for "all", "medium" and
"large" only: the few small ones here count in "all". The classes are in absolute pixels, so
other image sizes give other shares.

``annotations/detections_val.json`` simulates a person detector for the detected-box protocol:
ground-truth boxes with noisy position and size (scores in (0.3, 1]), an occasional missed person,
and a few low-scoring false positives (scores <= 0.3).

Generation is deterministic: each image draws from ``np.random.default_rng([seed, split, index])``
so the output does not depend on order, and equal parameters give byte-identical files. The
dataset is written into a temporary sibling directory and renamed into place, so ``out_dir`` never
holds a half-written dataset; ``synthetic_meta.json`` records the parameters so a complete dataset
with the same parameters is reused instead of regenerated.

Modules: this one writes the dataset (parameters, atomic replacement, COCO json, simulated
detections); :mod:`simdr_lib.data.synthetic_scene` renders one image and reads its labels off
the label map; :mod:`simdr_lib.data.synthetic_figures` poses one stick figure.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from simdr_lib.data.synthetic_scene import HEIGHT_MIX, Person, clip_xywh, render_image
from simdr_lib.errors import ConfigError, DataError
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON

__all__ = [
    "DEFAULT_SYNTHETIC_ROOT",
    "SyntheticPaths",
    "count_area_classes",
    "generate_synthetic_coco",
]

DEFAULT_SYNTHETIC_ROOT = "data/synthetic"

_GENERATOR = "simdr_lib.data.synthetic"
_VERSION = 2  # 2: visible-mask segmentation and area, figure-height mixture
_META_NAME = "synthetic_meta.json"
_JPEG_QUALITY = 90
_SPLITS: tuple[tuple[str, int], ...] = (("train", 0), ("val", 1))

# COCO's area ranges in px^2, from the COCO keypoint evaluation page
# (https://cocodataset.org/#keypoints-eval): medium 32^2 < area < 96^2, large area > 96^2;
# "small" (< 32^2) is our name for the rest (COCO annotates no keypoints on small people).
_AREA_SMALL_MAX, _AREA_MEDIUM_MAX = 32.0**2, 96.0**2


@dataclass(frozen=True)
class SyntheticPaths:
    """Where :func:`generate_synthetic_coco` puts the dataset (all absolute or cwd-relative)."""

    root: Path
    train_ann: Path
    train_images: Path
    val_ann: Path
    val_images: Path
    det_file: Path


@dataclass(frozen=True)
class _Params:
    """Everything that determines the generated bytes (stored in ``synthetic_meta.json``)."""

    num_train: int
    num_val: int
    image_size: tuple[int, int]  # (W, H) px
    seed: int
    max_people: int

    def meta(self) -> dict[str, Any]:
        return {
            "generator": _GENERATOR,
            "version": _VERSION,
            "num_train": self.num_train,
            "num_val": self.num_val,
            "image_size": list(self.image_size),
            "seed": self.seed,
            "max_people": self.max_people,
            "figure_height_mix": [list(r) for r in HEIGHT_MIX],
        }


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def generate_synthetic_coco(
    out_dir: str | os.PathLike[str],
    num_train: int = 800,
    num_val: int = 100,
    image_size: Sequence[int] = (320, 240),
    seed: int = 0,
    max_people: int = 3,
    progress: bool = True,
    overwrite: bool = False,
) -> SyntheticPaths:
    """Generate (or reuse) the synthetic COCO-keypoints dataset at ``out_dir``.

    Args:
        out_dir: dataset root; created with ``images/{train,val}/<id:012d>.jpg`` and
            ``annotations/{person_keypoints_train,person_keypoints_val,detections_val}.json``.
        num_train: number of training images (>= 1).
        num_val: number of validation images (>= 1).
        image_size: ``(W, H)`` of every image in px, each >= 64.
        seed: non-negative base seed; equal parameters give byte-identical files.
        max_people: at most this many figures per image (>= 1); each image has 1..max_people.
        progress: show a tqdm progress bar.
        overwrite: regenerate even if ``out_dir`` holds a complete dataset with these parameters.

    Returns:
        The dataset's paths.

    Raises:
        ConfigError: a parameter is out of range.
        DataError: ``out_dir`` is a file, or a non-empty directory that is not a synthetic
            dataset (it is never replaced).
    """
    params = _validate(num_train, num_val, image_size, seed, max_people)
    root = Path(out_dir)
    paths = _paths_under(root)
    if not overwrite and _is_complete(root, params):
        return paths
    _check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _write_dataset(tmp, params, progress)
        _move_into_place(tmp, root, params, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return paths


# --------------------------------------------------------------------------------------------
# Parameters, paths, atomic replacement
# --------------------------------------------------------------------------------------------


def _validate(
    num_train: int, num_val: int, image_size: Sequence[int], seed: int, max_people: int
) -> _Params:
    """Check the generator parameters and freeze them; raise ConfigError naming the bad one."""
    for name, value, low in (
        ("num_train", num_train, 1),
        ("num_val", num_val, 1),
        ("seed", seed, 0),
        ("max_people", max_people, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"synthetic data: {name} must be an integer >= {low}, got {value!r}")
    size = tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 64 for s in size):
        raise ConfigError(f"synthetic data: image_size must be (W, H) ints >= 64, got {size!r}")
    w, h = (int(s) for s in size)
    return _Params(int(num_train), int(num_val), (w, h), int(seed), int(max_people))


def _paths_under(root: Path) -> SyntheticPaths:
    return SyntheticPaths(
        root=root,
        train_ann=root / "annotations" / "person_keypoints_train.json",
        train_images=root / "images" / "train",
        val_ann=root / "annotations" / "person_keypoints_val.json",
        val_images=root / "images" / "val",
        det_file=root / "annotations" / "detections_val.json",
    )


def _is_complete(root: Path, params: _Params) -> bool:
    """Whether ``root`` holds a finished dataset generated with exactly ``params``."""
    try:
        meta = json.loads((root / _META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = params.meta()  # the file also holds the measured size classes ("people")
    if not isinstance(meta, dict) or {k: meta.get(k) for k in expected} != expected:
        return False
    paths = _paths_under(root)
    if not all(p.is_file() for p in (paths.train_ann, paths.val_ann, paths.det_file)):
        return False
    counts = ((paths.train_images, params.num_train), (paths.val_images, params.num_val))
    return all(d.is_dir() and len(list(d.glob("*.jpg"))) == n for d, n in counts)


def _check_replaceable(root: Path) -> None:
    """Refuse to replace anything but a missing/empty directory or an earlier synthetic set."""
    if root.exists() and not root.is_dir():
        raise DataError(f"synthetic data: {root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not (root / _META_NAME).is_file():
        raise DataError(
            f"synthetic data: {root} is a non-empty directory without {_META_NAME}; "
            "refusing to replace it (choose another out_dir)"
        )


def _move_into_place(tmp: Path, root: Path, params: _Params, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``root``, replacing an old synthetic dataset there.

    If another process finished the same dataset meanwhile, keep theirs (``tmp`` is discarded).
    """
    old = None
    if root.exists():
        if not overwrite and _is_complete(root, params):
            return
        old = root.parent / f".{root.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.replace(root, old)
    try:
        os.replace(tmp, root)
    except OSError:
        if old is not None and not root.exists():
            os.replace(old, root)
            old = None
        if not _is_complete(root, params):
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _write_dataset(dest: Path, params: _Params, progress: bool) -> None:
    """Render all images and write the annotation files and meta under ``dest``."""
    paths = _paths_under(dest)
    paths.train_ann.parent.mkdir(parents=True)
    total = params.num_train + params.num_val
    people: dict[str, dict[str, int]] = {}
    with tqdm(total=total, desc="synthetic data", unit="img", disable=not progress) as bar:
        for split, split_id in _SPLITS:
            count = params.num_train if split == "train" else params.num_val
            image_dir = paths.train_images if split == "train" else paths.val_images
            image_dir.mkdir(parents=True)
            coco, dets = _write_split(image_dir, split_id, count, params, bar)
            people[split] = count_area_classes([a["area"] for a in coco["annotations"]])
            ann_file = paths.train_ann if split == "train" else paths.val_ann
            _write_json(ann_file, coco)
            if split == "val":
                _write_json(paths.det_file, dets)
    meta = {
        **params.meta(),
        "area_classes_px2": {
            "small": [0, _AREA_SMALL_MAX],
            "medium": [_AREA_SMALL_MAX, _AREA_MEDIUM_MAX],
            "large": [_AREA_MEDIUM_MAX, None],
        },
        "people": people,
    }
    _write_json(dest / _META_NAME, meta)


def count_area_classes(areas: Sequence[float]) -> dict[str, int]:
    """Count of people per COCO area class: ``{"total", "small", "medium", "large"}``.

    ``small`` is area < 32^2 px^2, ``medium`` 32^2..96^2 and ``large`` > 96^2 (COCO's ranges;
    COCOeval puts an area of exactly 32^2 or 96^2 in both neighbouring ranges, this counts it
    once, in the upper one for 32^2 and the lower one for 96^2).
    """
    a = np.asarray(areas, dtype=np.float64)
    small = int((a < _AREA_SMALL_MAX).sum())
    large = int((a > _AREA_MEDIUM_MAX).sum())
    return {"total": len(a), "small": small, "medium": len(a) - small - large, "large": large}


def _write_split(
    image_dir: Path, split_id: int, count: int, params: _Params, bar: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Render ``count`` images into ``image_dir``; return the COCO dict and detections list."""
    width, height = params.image_size
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    for index in range(count):
        image_id = index + 1
        rng = np.random.default_rng([params.seed, split_id, index])
        image, people = render_image(rng, params.image_size, params.max_people)
        file_name = f"{image_id:012d}.jpg"
        _write_jpeg(image_dir / file_name, image)
        images.append(
            {"id": image_id, "file_name": file_name, "width": width, "height": height, "license": 1}
        )
        for person in people:
            annotations.append(_annotation(len(annotations) + 1, image_id, person))
        if split_id == 1:
            detections.extend(_detections(rng, image_id, people, params.image_size))
        bar.update(1)
    coco = {
        "info": _info(),
        "licenses": [{"id": 1, "name": "CC0 1.0 (procedurally generated)", "url": ""}],
        "images": images,
        "annotations": annotations,
        "categories": [_person_category()],
    }
    return coco, detections


def _info() -> dict[str, Any]:
    return {
        "description": "simdr_lib synthetic stick-figure people (COCO keypoints format)",
        "version": str(_VERSION),
        "year": 2024,
        "contributor": _GENERATOR,
        "url": "",
        "date_created": "",
    }


def _person_category() -> dict[str, Any]:
    return {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO_KEYPOINT_NAMES),
        "skeleton": [list(limb) for limb in COCO_SKELETON],
    }


def _annotation(ann_id: int, image_id: int, person: Person) -> dict[str, Any]:
    """COCO keypoints annotation; coordinates rounded to 0.01 px."""
    kps = person.keypoints
    x, y, w, h = (round(float(v), 2) for v in person.bbox)
    flat: list[float | int] = []
    for px, py, v in kps:
        flat += [round(float(px), 2), round(float(py), 2), int(v)]
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "keypoints": flat,
        "num_keypoints": int((kps[:, 2] > 0).sum()),
        "bbox": [x, y, w, h],
        "area": person.area,
        "iscrowd": 0,
        "segmentation": person.segmentation,
    }


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")), encoding="utf-8")


def _write_jpeg(path: Path, image_bgr: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise DataError(f"synthetic data: JPEG encoding failed for {path}")
    path.write_bytes(buf.tobytes())


# --------------------------------------------------------------------------------------------
# Detections
# --------------------------------------------------------------------------------------------


def _detections(
    rng: np.random.Generator, image_id: int, people: list[Person], size: tuple[int, int]
) -> list[dict[str, Any]]:
    """Simulated detector output: noisy GT boxes, rare misses, a few low-score false alarms."""
    dets = []
    for person in people:
        if rng.random() < 0.04:
            continue  # missed person
        x, y, w, h = person.bbox
        dx, dy = rng.normal(0.0, 0.06, 2)
        sw, sh = np.exp(rng.normal(0.0, 0.1, 2))
        err = abs(dx) + abs(dy) + abs(np.log(sw)) + abs(np.log(sh))
        box = clip_xywh(
            x + w * (0.5 + dx - sw / 2), y + h * (0.5 + dy - sh / 2), w * sw, h * sh, size
        )
        score = float(np.clip(0.97 - 1.2 * err + rng.normal(0.0, 0.04), 0.31, 1.0))
        dets.append(_det(image_id, box, score))
    for _ in range(int(rng.random() < 0.35) + int(rng.random() < 0.1)):
        bh = rng.uniform(0.2, 0.6) * size[1]
        bw = bh * rng.uniform(0.35, 0.8)
        box = clip_xywh(rng.uniform(0, size[0] - bw), rng.uniform(0, size[1] - bh), bw, bh, size)
        dets.append(_det(image_id, box, float(rng.uniform(0.02, 0.3))))
    return dets


def _det(image_id: int, box: np.ndarray, score: float) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "category_id": 1,
        "bbox": [round(float(v), 2) for v in box],
        "score": round(score, 4),
    }
