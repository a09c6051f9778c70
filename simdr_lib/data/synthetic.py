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
  have no visible pixel is drawn again (see ``_render_scene``).

Sizes. A figure's nominal standing height is drawn from a mixture (``_HEIGHT_MIX``, recorded
in ``synthetic_meta.json`` as ``figure_height_mix``), in fractions of the image height: 6%
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

from simdr_lib.errors import ConfigError, DataError
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON, NUM_COCO_KEYPOINTS

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

_SHIFT = 4  # cv2 fixed-point bits: sub-pixel drawing accuracy of 1/16 px
_SCALE = 1 << _SHIFT
_OCCLUDER_CODE = 65535  # label-map value of occluder rectangles
_PARTS_PER_PERSON = 16
_BOX_MARGIN = 2.0  # px added around the drawn figure before clipping
_MIN_KEYPOINTS_IN_IMAGE = 6
_PLACEMENT_TRIALS = 25
_RENDER_TRIALS = 10  # re-draws of an image in which a person ended up with no visible pixel

# Nominal standing height of a figure as a fraction of the image height: a mixture of
# ``(probability, low, high)`` uniform ranges (see the module docstring for the resulting COCO
# area classes). Heights above 1 are close-ups: the figure is cut by the image border.
_HEIGHT_MIX: tuple[tuple[float, float, float], ...] = (
    (0.06, 0.20, 0.30),
    (0.36, 0.30, 0.90),
    (0.58, 0.90, 1.60),
)
# COCO's area ranges in px^2, from the COCO keypoint evaluation page
# (https://cocodataset.org/#keypoints-eval): medium 32^2 < area < 96^2, large area > 96^2;
# "small" (< 32^2) is our name for the rest (COCO annotates no keypoints on small people).
_AREA_SMALL_MAX, _AREA_MEDIUM_MAX = 32.0**2, 96.0**2

_KP = {name: i for i, name in enumerate(COCO_KEYPOINT_NAMES)}
_SIDES: tuple[tuple[str, float], ...] = (("left", 1.0), ("right", -1.0))

# Body parts: each keypoint is "visible" when the top-most drawn pixel at it is one of its parts.
_TORSO, _HEAD = 0, 1
_ARM_PARTS = {"left": (2, 3, 4), "right": (5, 6, 7)}  # upper arm, forearm, hand
_LEG_PARTS = {"left": (8, 9, 10), "right": (11, 12, 13)}  # thigh, shin, foot

# Body proportions as fractions of the nominal standing height (head top to soles).
_BODY = {
    "torso": 0.30,  # hip centre to shoulder-line centre
    "neck": 0.045,
    "head_r": 0.065,
    "shoulder_half": 0.115,
    "hip_half": 0.085,
    "upper_arm": 0.165,
    "forearm": 0.15,
    "hand_r": 0.03,
    "thigh": 0.245,
    "shin": 0.235,
    "foot": 0.07,
}
_THICK = {  # limb thickness as fractions of the height
    "neck": 0.06,
    "upper_arm": 0.055,
    "forearm": 0.045,
    "thigh": 0.07,
    "shin": 0.055,
    "foot": 0.035,
}


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
            "figure_height_mix": [list(r) for r in _HEIGHT_MIX],
        }


@dataclass
class _Prim:
    """One drawing primitive in image pixels.

    ``kind`` is ``"line"`` (2 points, ``size`` = thickness), ``"circle"`` (1 point, ``size`` =
    radius) or ``"poly"`` (filled polygon, ``size`` unused); ``part`` indexes the body part.
    """

    kind: str
    pts: np.ndarray
    size: float
    colour: tuple[int, int, int]
    part: int


@dataclass
class _Figure:
    """A posed figure: keypoints ``(17, 2)`` px, self-hidden flags ``(17,)`` and primitives."""

    keypoints: np.ndarray
    self_hidden: np.ndarray
    prims: list[_Prim]

    def shifted(self, offset: np.ndarray) -> _Figure:
        """The same figure translated by ``offset`` ``(2,)`` px."""
        prims = [_Prim(p.kind, p.pts + offset, p.size, p.colour, p.part) for p in self.prims]
        return _Figure(self.keypoints + offset, self.self_hidden, prims)

    def extent(self) -> np.ndarray:
        """``[x1, y1, x2, y2]`` px covering every drawn pixel (anti-aliasing included)."""
        lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
        for p in self.prims:
            pad = {"line": p.size / 2.0, "circle": p.size}.get(p.kind, 0.0) + 0.5
            lo = np.minimum(lo, p.pts.min(axis=0) - pad)
            hi = np.maximum(hi, p.pts.max(axis=0) + pad)
        return np.concatenate([lo, hi])


@dataclass
class _Person:
    """A placed, drawn figure with its COCO labels."""

    keypoints: np.ndarray  # (17, 3) x, y px, v
    bbox: np.ndarray  # (4,) x, y, w, h px
    segmentation: dict[str, Any]  # COCO RLE of the visible mask, ``counts`` as str
    area: int  # visible mask pixel count


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
        image, people = _render_image(rng, params.image_size, params.max_people)
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


def _annotation(ann_id: int, image_id: int, person: _Person) -> dict[str, Any]:
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
    rng: np.random.Generator, image_id: int, people: list[_Person], size: tuple[int, int]
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
        box = _clip_xywh(
            x + w * (0.5 + dx - sw / 2), y + h * (0.5 + dy - sh / 2), w * sw, h * sh, size
        )
        score = float(np.clip(0.97 - 1.2 * err + rng.normal(0.0, 0.04), 0.31, 1.0))
        dets.append(_det(image_id, box, score))
    for _ in range(int(rng.random() < 0.35) + int(rng.random() < 0.1)):
        bh = rng.uniform(0.2, 0.6) * size[1]
        bw = bh * rng.uniform(0.35, 0.8)
        box = _clip_xywh(rng.uniform(0, size[0] - bw), rng.uniform(0, size[1] - bh), bw, bh, size)
        dets.append(_det(image_id, box, float(rng.uniform(0.02, 0.3))))
    return dets


def _clip_xywh(x: float, y: float, w: float, h: float, size: tuple[int, int]) -> np.ndarray:
    """``[x, y, w, h]`` px clipped to the ``(W, H)`` image (at least 1 px wide and high)."""
    x1, y1 = np.clip(x, 0, size[0] - 1), np.clip(y, 0, size[1] - 1)
    x2, y2 = np.clip(x + w, x1 + 1, size[0]), np.clip(y + h, y1 + 1, size[1])
    return np.array([x1, y1, x2 - x1, y2 - y1])


def _det(image_id: int, box: np.ndarray, score: float) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "category_id": 1,
        "bbox": [round(float(v), 2) for v in box],
        "score": round(score, 4),
    }


# --------------------------------------------------------------------------------------------
# Image rendering
# --------------------------------------------------------------------------------------------


def _render_image(
    rng: np.random.Generator, size: tuple[int, int], max_people: int
) -> tuple[np.ndarray, list[_Person]]:
    """One BGR uint8 image ``(H, W, 3)`` with its labelled people."""
    image, _, people = _render_scene(rng, size, max_people)
    return image, people


def _render_scene(
    rng: np.random.Generator, size: tuple[int, int], max_people: int
) -> tuple[np.ndarray, np.ndarray, list[_Person]]:
    """Image, final label map ``(H, W)`` uint16 and people, every person with visible pixels.

    A person whose every pixel ended up behind occluders or nearer figures has no segmentation
    (COCO's ``area`` would be 0 and OKS undefined), so the whole image is drawn again from the
    continuing ``rng`` stream; after ``_RENDER_TRIALS`` such draws the hidden people are left out
    (they are invisible in the image, so it stays consistent; the nearest figure is always
    partly visible, so at least one person remains). The label map is what the tests check the
    masks against.
    """
    for _ in range(_RENDER_TRIALS):
        image, labels, people = _render_once(rng, size, max_people)
        if all(p.area > 0 for p in people):
            return image, labels, people
    return image, labels, [p for p in people if p.area > 0]


def _render_once(
    rng: np.random.Generator, size: tuple[int, int], max_people: int
) -> tuple[np.ndarray, np.ndarray, list[_Person]]:
    """One draw of :func:`_render_scene` (people may have an empty visible mask)."""
    width, height = size
    image = _background(rng, width, height)
    labels = np.zeros((height, width), np.uint16)  # 0 background, else part code / occluder
    figures = _place_figures(rng, size, int(rng.integers(1, max_people + 1)))
    figures.sort(key=lambda f: f.extent()[3])  # lower feet = nearer the camera = drawn later
    for slot, fig in enumerate(figures):
        _draw_prims(image, labels, fig.prims, slot)
        if rng.random() < 0.3:
            _draw_occluder(rng, image, labels, _clipped_box(fig, size))
    image = _add_noise(rng, image, 2.0)
    people = [_label_person(fig, slot, labels, size) for slot, fig in enumerate(figures)]
    return image, labels, people


def _place_figures(rng: np.random.Generator, size: tuple[int, int], count: int) -> list[_Figure]:
    """Pose, scale and place up to ``count`` figures with moderate overlap (>= 1 figure)."""
    placed: list[_Figure] = []
    boxes: list[np.ndarray] = []
    for _ in range(count):
        fig = _pose_figure(rng, _pick(rng, _HEIGHT_MIX) * size[1])
        partly_outside = rng.random() < 0.25
        extent = fig.extent()  # translating the figure translates its extent
        for trial in range(_PLACEMENT_TRIALS):
            outside = partly_outside and trial < _PLACEMENT_TRIALS - 5
            offset = _random_offset(rng, extent, size, outside)
            box = _box_of_extent(extent + np.tile(offset, 2), size)
            if _acceptable(fig.keypoints + offset, box, boxes, size) or (
                not placed and trial == _PLACEMENT_TRIALS - 1
            ):
                placed.append(fig.shifted(offset))
                boxes.append(box)
                break
    return placed


def _random_offset(
    rng: np.random.Generator, extent: np.ndarray, size: tuple[int, int], outside: bool
) -> np.ndarray:
    """Translation (2,) px putting the figure inside the image, or up to ~45% out of it.

    Along an axis where the figure is larger than the image it covers the whole image; then
    vertically the head end is favoured (a close-up shows the upper body more often than the
    legs), horizontally any position is equally likely.
    """
    offset = np.zeros(2)
    for axis in range(2):
        lo, hi = extent[axis], extent[axis + 2]
        slack = 0.45 * (hi - lo) if outside else -1.0
        a, b = -lo - slack, size[axis] - hi + slack
        if b > a:
            offset[axis] = rng.uniform(a, b)
        else:  # a: top (left) edge in view ... b: bottom (right) edge in view
            t = rng.random()
            offset[axis] = a + (t * t if axis == 1 else t) * (b - a)
    return offset


def _acceptable(
    keypoints: np.ndarray, box: np.ndarray, boxes: list[np.ndarray], size: tuple[int, int]
) -> bool:
    """Enough of the ``(17, 2)`` keypoints in the image, and only moderate overlap of ``box``
    with the figures placed so far."""
    if _inside(keypoints, size).sum() < _MIN_KEYPOINTS_IN_IMAGE or min(box[2:]) < 8:
        return False
    for other in boxes:
        inter = _intersection(box, other)
        smaller = min(box[2] * box[3], other[2] * other[3])
        union = box[2] * box[3] + other[2] * other[3] - inter
        if inter / union > 0.3 or inter / smaller > 0.5:
            return False
    return True


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection area px^2 of two ``[x, y, w, h]`` boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return float(max(w, 0.0) * max(h, 0.0))


def _inside(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(K,)`` bool: points ``(K, 2)`` px lie on the pixel grid of the ``(W, H)`` image."""
    x, y = points[:, 0], points[:, 1]
    return (x >= 0) & (x <= size[0] - 1) & (y >= 0) & (y <= size[1] - 1)


def _clipped_box(fig: _Figure, size: tuple[int, int]) -> np.ndarray:
    """COCO ``[x, y, w, h]`` px: the figure's extent plus a margin, clipped to the image."""
    return _box_of_extent(fig.extent(), size)


def _box_of_extent(extent: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`_clipped_box` of an extent ``[x1, y1, x2, y2]`` px."""
    x1, y1, x2, y2 = extent + np.array([-1, -1, 1, 1]) * _BOX_MARGIN
    return _clip_xywh(x1, y1, x2 - x1, y2 - y1, size)


def _label_person(fig: _Figure, slot: int, labels: np.ndarray, size: tuple[int, int]) -> _Person:
    """COCO labels from the final label map: keypoints ``(17, 3)`` (v=2 where the figure is on
    top), box, and the visible mask as segmentation and area."""
    kps = np.zeros((NUM_COCO_KEYPOINTS, 3))
    inside = _inside(fig.keypoints, size)
    for k in np.flatnonzero(inside):
        x, y = fig.keypoints[k]
        code = int(labels[int(round(y)), int(round(x))])
        own = code == 0 or code in _owner_codes(slot, k)
        kps[k] = (x, y, 2 if own and not fig.self_hidden[k] else 1)
    segmentation, area = _mask_rle(_visible_mask(labels, slot))
    return _Person(kps, _clipped_box(fig, size), segmentation, area)


def _visible_mask(labels: np.ndarray, slot: int) -> np.ndarray:
    """``(H, W)`` bool: pixels whose top-most drawn owner is a part of person ``slot``.

    Pixels drawn over by a nearer figure or an occluder carry that code instead, so they are
    not in the mask.
    """
    first = _part_code(slot, 0)
    return (labels >= first) & (labels < first + _PARTS_PER_PERSON)


def _mask_rle(mask: np.ndarray) -> tuple[dict[str, Any], int]:
    """COCO RLE (``{"size": [h, w], "counts": str}``) of a bool mask and its pixel count.

    COCO measures ``area`` as the number of pixels in the segmentation mask (COCO detection
    evaluation page, https://cocodataset.org/#detection-eval), and the keypoint evaluation's
    object scale s is the square root of that segment area (https://cocodataset.org/#keypoints-eval).
    COCO stores iscrowd=0 masks as polygons; RLE is used here because it is exact for a pixel
    mask and pycocotools' ``annToRLE`` / ``annToMask`` read it for any annotation.
    """
    from pycocotools import mask as mask_utils  # local: keeps `import simdr_lib` light

    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    counts = rle["counts"]
    text = counts.decode("ascii") if isinstance(counts, bytes) else str(counts)
    return {"size": [int(v) for v in rle["size"]], "counts": text}, int(np.count_nonzero(mask))


def _owner_codes(slot: int, k: int) -> set[int]:
    """Label-map codes of the parts that keypoint ``k`` of person ``slot`` belongs to."""
    return {_part_code(slot, part) for part in _OWNER_PARTS[k]}


def _part_code(slot: int, part: int) -> int:
    return 1 + slot * _PARTS_PER_PERSON + part


def _owner_parts() -> tuple[tuple[int, ...], ...]:
    owners: list[tuple[int, ...]] = [(_HEAD,)] * NUM_COCO_KEYPOINTS
    for side, _ in _SIDES:
        upper, fore, hand = _ARM_PARTS[side]
        thigh, shin, foot = _LEG_PARTS[side]
        owners[_KP[f"{side}_shoulder"]] = (_TORSO, upper)
        owners[_KP[f"{side}_elbow"]] = (upper, fore)
        owners[_KP[f"{side}_wrist"]] = (fore, hand)
        owners[_KP[f"{side}_hip"]] = (_TORSO, thigh)
        owners[_KP[f"{side}_knee"]] = (thigh, shin)
        owners[_KP[f"{side}_ankle"]] = (shin, foot)
    return tuple(owners)


_OWNER_PARTS = _owner_parts()


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def _fixed(points: np.ndarray) -> np.ndarray:
    """Points (n, 2) px → int32 fixed-point coordinates for cv2 drawing with ``_SHIFT``."""
    return np.round(points * _SCALE).astype(np.int32)


def _draw_prims(image: np.ndarray, labels: np.ndarray, prims: list[_Prim], slot: int) -> None:
    """Draw primitives anti-aliased on ``image`` and as part codes on ``labels``."""
    for p in prims:
        code = _part_code(slot, p.part)
        pts = _fixed(p.pts)
        if p.kind == "line":
            thick = max(1, int(round(p.size)))
            a, b = tuple(pts[0].tolist()), tuple(pts[1].tolist())
            cv2.line(image, a, b, p.colour, thick, cv2.LINE_AA, _SHIFT)
            cv2.line(labels, a, b, code, thick, cv2.LINE_8, _SHIFT)
        elif p.kind == "circle":
            centre, radius = tuple(pts[0].tolist()), max(_SCALE // 2, int(round(p.size * _SCALE)))
            cv2.circle(image, centre, radius, p.colour, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(labels, centre, radius, code, -1, cv2.LINE_8, _SHIFT)
        else:
            cv2.fillPoly(image, [pts], p.colour, cv2.LINE_AA, _SHIFT)
            cv2.fillPoly(labels, [pts], code, cv2.LINE_8, _SHIFT)


def _draw_occluder(
    rng: np.random.Generator, image: np.ndarray, labels: np.ndarray, box: np.ndarray
) -> None:
    """A rectangle (solid or striped) covering part of the person box ``[x, y, w, h]`` px."""
    x, y, w, h = box
    ow, oh = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.12, 0.35)
    x1 = int(rng.uniform(x - 0.2 * ow, x + w - 0.8 * ow))
    y1 = int(rng.uniform(y, y + h - oh))
    x2, y2 = int(x1 + ow), int(y1 + oh)
    colour = _random_colour(rng)
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, -1)
    if rng.random() < 0.5:
        stripe = _random_colour(rng)
        step = int(rng.integers(4, 10))
        for sx in range(x1, x2, 2 * step):
            cv2.rectangle(image, (sx, y1), (min(sx + step - 1, x2), y2), stripe, -1)
    cv2.rectangle(labels, (x1, y1), (x2, y2), _OCCLUDER_CODE, -1)


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Textured BGR background ``(H, W, 3)`` uint8: gradient, random shapes, blur and noise."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xx * np.cos(angle) + yy * np.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    image = (c0 + t[..., None] * (c1 - c0)).astype(np.uint8)
    for _ in range(int(rng.integers(4, 14))):
        _random_shape(rng, image)
    sigma = rng.uniform(0.0, 1.5)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    return _add_noise(rng, image, rng.uniform(2.0, 9.0))


def _add_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` uint8 plus Gaussian noise of ``sigma`` grey levels, rounded down and clipped."""
    noisy = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
    noisy += image
    return np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)


def _random_shape(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draw one random rectangle, circle, ellipse or line as background clutter."""
    height, width = image.shape[:2]
    colour = _random_colour(rng)
    x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
    r = int(rng.integers(4, max(5, height // 3)))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        cv2.rectangle(image, (x, y), (x + r, y + int(rng.integers(4, r + 5))), colour, -1)
    elif kind == 1:
        cv2.circle(image, (x, y), r // 2, colour, -1, cv2.LINE_AA)
    elif kind == 2:
        axes = (r, int(rng.integers(2, r + 3)))
        cv2.ellipse(
            image, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA
        )
    else:
        x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.line(image, (x, y), (x2, y2), colour, int(rng.integers(1, 7)), cv2.LINE_AA)


# --------------------------------------------------------------------------------------------
# Figure model
# --------------------------------------------------------------------------------------------


def _down(angle: float) -> np.ndarray:
    """Unit vector ``angle`` radians from straight down, positive toward +x (image axes)."""
    return np.array([np.sin(angle), np.cos(angle)])


def _hsv(
    rng: np.random.Generator,
    hue: tuple[float, float],
    sat: tuple[float, float],
    val: tuple[float, float],
) -> np.ndarray:
    """Random HSV colour (OpenCV ranges: hue 0-180 wrapping, sat/val 0-255) as float (3,)."""
    return np.array([rng.uniform(*hue) % 180.0, rng.uniform(*sat), rng.uniform(*val)])


def _bgr(hsv: np.ndarray, value_scale: float = 1.0) -> tuple[int, int, int]:
    """BGR tuple of an HSV colour, with its value multiplied by ``value_scale``."""
    h, s, v = hsv
    pixel = np.array([[[h, s, min(255.0, v * value_scale)]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0])  # type: ignore


def _palette(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-person HSV colours: left side blue, right side red, neutral torso, skin-toned head."""
    torso_hue = (20, 90) if rng.random() < 0.7 else (135, 160)
    return {
        "left": _hsv(rng, (100, 122), (170, 255), (150, 255)),
        "right": _hsv(rng, (-6, 6), (180, 255), (150, 255)),
        "torso": _hsv(rng, torso_hue, (40, 200), (70, 220)),
        "skin": _hsv(rng, (8, 20), (50, 140), (130, 240)),
        "hair": _hsv(rng, (0, 30), (30, 200), (20, 90)),
    }


def _pose_figure(rng: np.random.Generator, height: float) -> _Figure:
    """A random posed figure of nominal standing ``height`` px, pelvis at the origin."""
    body = {k: v * height * rng.uniform(0.92, 1.08) for k, v in _BODY.items()}
    thick = {k: max(2.0, v * height) for k, v in _THICK.items()}
    yaw = np.deg2rad(rng.uniform(-30, 30) if rng.random() < 0.55 else rng.uniform(-90, 90))
    side_ness, facing = abs(np.sin(yaw)), 1.0 if np.sin(yaw) >= 0 else -1.0
    lean = np.deg2rad(np.clip(rng.normal(0.0, 7.0), -20.0, 20.0))
    if side_ness > 0.5 and rng.random() < 0.15:
        lean += facing * np.deg2rad(rng.uniform(15, 40))  # bowing forward
    up = np.array([np.sin(lean), -np.cos(lean)])
    lateral = np.array([np.cos(lean), np.sin(lean)])  # toward the person's left when frontal
    colours = _palette(rng)

    kps = np.zeros((NUM_COCO_KEYPOINTS, 2))
    hidden = np.zeros(NUM_COCO_KEYPOINTS, bool)
    neck = up * body["torso"]
    shoulder_line = neck - up * 0.02 * height
    parts: dict[str, list[_Prim]] = {}
    gait_forward = "left" if rng.random() < 0.5 else "right"
    for side, sign in _SIDES:
        kps[_KP[f"{side}_shoulder"]] = (
            shoulder_line + sign * np.cos(yaw) * body["shoulder_half"] * lateral
        )
        kps[_KP[f"{side}_hip"]] = sign * np.cos(yaw) * body["hip_half"] * lateral
        arm = _arm_angles(rng, sign, facing, side_ness, lean)
        parts[f"arm:{side}"] = _limb(
            kps, side, "arm", arm, body, thick, colours[side], facing, side_ness
        )
        leg = _leg_angles(rng, sign, facing, side_ness, side == gait_forward)
        parts[f"leg:{side}"] = _limb(
            kps, side, "leg", leg, body, thick, colours[side], facing, side_ness
        )
    parts["torso"] = _torso_prims(kps, shoulder_line, up, yaw, height, colours)
    parts["head"] = _head_prims(rng, kps, hidden, neck, up, lean, yaw, body, thick, colours)
    if side_ness > 0.75:  # profile: the far shoulder and hip are behind the torso
        far = "left" if facing > 0 else "right"
        hidden[[_KP[f"{far}_shoulder"], _KP[f"{far}_hip"]]] = True
    order = _draw_order(side_ness, facing)
    return _Figure(kps, hidden, [p for name in order for p in parts[name]])


def _draw_order(side_ness: float, facing: float) -> tuple[str, ...]:
    """Back-to-front part order: frontal figures show both arms in front of the torso."""
    if side_ness < 0.35:
        return ("torso", "leg:left", "leg:right", "head", "arm:left", "arm:right")
    far, near = ("left", "right") if facing > 0 else ("right", "left")
    return (f"arm:{far}", f"leg:{far}", "torso", f"leg:{near}", "head", f"arm:{near}")


def _pick(rng: np.random.Generator, ranges: Sequence[tuple[float, float, float]]) -> float:
    """Uniform sample from one of the ``(probability, low, high)`` ranges (degrees)."""
    r, acc = rng.random(), 0.0
    for prob, low, high in ranges:
        acc += prob
        if r < acc:
            return rng.uniform(low, high)
    return rng.uniform(ranges[-1][1], ranges[-1][2])


def _arm_angles(
    rng: np.random.Generator, sign: float, facing: float, side_ness: float, lean: float
) -> tuple[float, float]:
    """(upper arm, forearm) absolute angles in radians (see :func:`_down`).

    Frontal arms abduct outward (toward ``sign``, +x for the left arm); profile arms swing
    forward/back (toward ``facing``); the elbow flexes by 0-140 degrees.
    """
    front = sign * _pick(rng, [(0.45, 5, 35), (0.3, 35, 110), (0.13, 110, 170), (0.12, -35, 0)])
    swing = facing * _pick(rng, [(0.6, -40, 40), (0.25, 40, 120), (0.15, 120, 170)])
    upper = -lean + np.deg2rad((1 - side_ness) * front + side_ness * swing)
    bend = np.deg2rad(_pick(rng, [(0.4, 0, 20), (0.4, 20, 90), (0.2, 90, 140)]))
    bend_dir = facing if side_ness > 0.5 else (1.0 if rng.random() < 0.5 else -1.0)
    return upper, upper + bend_dir * bend


def _leg_angles(
    rng: np.random.Generator, sign: float, facing: float, side_ness: float, forward: bool
) -> tuple[float, float]:
    """(thigh, shin) absolute angles in radians; profile legs stride, knees flex backward."""
    front = sign * _pick(rng, [(0.88, -5, 22), (0.12, 25, 70)])
    stride = facing * (rng.uniform(0, 40) if forward else -rng.uniform(0, 30))
    thigh = np.deg2rad((1 - side_ness) * front + side_ness * stride)
    bend = np.deg2rad(_pick(rng, [(0.5, 0, 10), (0.35, 10, 60), (0.15, 60, 110)]))
    wobble = (1 - side_ness) * 0.25 * bend * (1.0 if rng.random() < 0.5 else -1.0)
    return thigh, thigh - side_ness * facing * bend + wobble


def _limb(
    kps: np.ndarray,
    side: str,
    kind: str,
    angles: tuple[float, float],
    body: dict[str, float],
    thick: dict[str, float],
    hsv: np.ndarray,
    facing: float,
    side_ness: float,
) -> list[_Prim]:
    """Fill the elbow/wrist or knee/ankle keypoints of one limb and return its primitives."""
    if kind == "arm":
        root, mid, end = (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist")
        seg1, seg2, (p1, p2, p3), shade = "upper_arm", "forearm", _ARM_PARTS[side], 1.0
    else:
        root, mid, end = (f"{side}_hip", f"{side}_knee", f"{side}_ankle")
        seg1, seg2, (p1, p2, p3), shade = "thigh", "shin", _LEG_PARTS[side], 0.8
    foreshorten = 1.0 - (1.0 - side_ness) * 0.35 * abs(np.sin(angles[1] - angles[0]))
    a = kps[_KP[root]]
    b = a + _down(angles[0]) * body[seg1] * (foreshorten if kind == "leg" else 1.0)
    c = b + _down(angles[1]) * body[seg2]
    kps[_KP[mid]], kps[_KP[end]] = b, c
    colour, dark = _bgr(hsv, shade), _bgr(hsv, 0.55 * shade)
    prims = [
        _Prim("line", np.stack([a, b]), thick[seg1], colour, p1),
        _Prim("line", np.stack([b, c]), thick[seg2], colour, p2),
        _Prim("circle", a[None], 0.5 * thick[seg1], dark, p1),
        _Prim("circle", b[None], 0.55 * thick[seg2], dark, p2),
    ]
    if kind == "arm":
        direction = _down(angles[1])
        prims.append(
            _Prim(
                "circle",
                (c + direction * body["hand_r"])[None],
                body["hand_r"],
                _bgr(hsv, 1.15),
                p3,
            )
        )
        prims.append(_Prim("circle", c[None], 0.45 * thick[seg2], dark, p3))
    else:
        toe_dir = (1 - side_ness) * np.array([0.0, 1.0]) + side_ness * np.array([facing, 0.15])
        toe = c + toe_dir / np.linalg.norm(toe_dir) * body["foot"] * (0.5 + 0.5 * side_ness)
        prims.append(_Prim("line", np.stack([c, toe]), thick["foot"], dark, p3))
        prims.append(_Prim("circle", c[None], 0.5 * thick[seg2], dark, p3))
    return prims


def _torso_prims(
    kps: np.ndarray,
    shoulder_line: np.ndarray,
    up: np.ndarray,
    yaw: float,
    height: float,
    colours: dict[str, np.ndarray],
) -> list[_Prim]:
    """Torso polygon: shoulder and hip widths shrink with yaw to the body's depth in profile."""
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    half_sh = np.hypot(
        c * np.linalg.norm(kps[_KP["left_shoulder"]] - shoulder_line), s * 0.07 * height
    )
    half_hip = np.hypot(c * np.linalg.norm(kps[_KP["left_hip"]]), s * 0.075 * height)
    half_sh += 0.012 * height
    half_hip += 0.02 * height
    lateral = np.array([-up[1], up[0]])  # toward the person's left when frontal
    pelvis = -up * 0.03 * height
    poly = np.stack(
        [
            shoulder_line - half_sh * lateral,
            shoulder_line + half_sh * lateral,
            pelvis + half_hip * lateral,
            pelvis - half_hip * lateral,
        ]
    )
    return [_Prim("poly", poly, 0.0, _bgr(colours["torso"]), _TORSO)]


def _head_prims(
    rng: np.random.Generator,
    kps: np.ndarray,
    hidden: np.ndarray,
    neck: np.ndarray,
    up: np.ndarray,
    lean: float,
    yaw: float,
    body: dict[str, float],
    thick: dict[str, float],
    colours: dict[str, np.ndarray],
) -> list[_Prim]:
    """Neck, head disc, hair and face marks; fill the 5 face keypoints and their hidden flags.

    Face marks sit on a sphere turned by ``yaw``: a mark is drawn and visible when it faces the
    camera, otherwise it is labelled (v=1) at its projected position on the head.
    """
    roll = lean + np.deg2rad(rng.normal(0.0, 10.0))
    head_up = np.array([np.sin(roll), -np.cos(roll)])
    head_right = np.array([np.cos(roll), np.sin(roll)])
    r = body["head_r"]
    centre = neck + head_up * (body["neck"] + r)
    skin = colours["skin"]
    back = -np.sin(yaw) * head_right  # the back of the head, in the image
    hair_centre = centre + 0.12 * r * head_up + 0.22 * r * back
    prims = [
        _Prim(
            "line", np.stack([neck - up * 0.02 * r, centre]), thick["neck"], _bgr(skin, 0.85), _HEAD
        ),
        _Prim("circle", hair_centre[None], 1.04 * r, _bgr(colours["hair"]), _HEAD),
        _Prim("circle", centre[None], r, _bgr(skin), _HEAD),
    ]
    marks = (  # name, azimuth toward the person's left (rad), elevation (rad), radius factor
        ("left_ear", np.pi / 2, 0.0, 0.98),
        ("right_ear", -np.pi / 2, 0.0, 0.98),
        ("nose", 0.0, -0.25, 1.08),
        ("left_eye", 0.5, 0.2, 0.92),
        ("right_eye", -0.5, 0.2, 0.92),
    )
    for name, azimuth, elevation, factor in marks:
        x = factor * r * np.cos(elevation) * np.sin(azimuth + yaw)
        y = factor * r * np.sin(elevation)
        depth = -np.cos(elevation) * np.cos(azimuth + yaw)  # < 0: toward the camera
        point = centre + x * head_right + y * head_up
        k = _KP[name]
        kps[k] = point
        hidden[k] = depth > (0.25 if name.endswith("ear") else 0.05)
        if not hidden[k]:
            prims.append(_face_mark(name, point, r, colours))
    return prims


def _face_mark(name: str, point: np.ndarray, r: float, colours: dict[str, np.ndarray]) -> _Prim:
    """Ear: side-coloured disc; eye: dark side-coloured dot; nose: dark brown dot."""
    if name == "nose":
        return _Prim("circle", point[None], max(1.0, 0.17 * r), (20, 30, 90), _HEAD)
    side = "left" if name.startswith("left") else "right"
    if name.endswith("ear"):
        return _Prim("circle", point[None], max(1.2, 0.24 * r), _bgr(colours[side], 0.8), _HEAD)
    return _Prim("circle", point[None], max(1.0, 0.16 * r), _bgr(colours[side], 0.6), _HEAD)
