"""One synthetic image: background, placed figures, occluders, and the labels read off it.

:func:`render_scene` places up to ``max_people`` figures (:mod:`simdr_lib.data.synthetic_figures`)
with moderate overlap, draws them far to near with sub-pixel anti-aliasing, and keeps a label
map ``(H, W)`` of the top-most drawn body part (or occluder) per pixel. Keypoint visibility,
the visible-mask RLE segmentation, ``area`` and the box of each :class:`Person` come from that
map, so labels agree with the pixels. See :mod:`simdr_lib.data.synthetic` for the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from simdr_lib.data.synthetic_figures import (
    OWNER_PARTS,
    Figure,
    Prim,
    pose_figure,
    sample_mixture,
)
from simdr_lib.keypoints import NUM_COCO_KEYPOINTS

_SHIFT = 4  # cv2 fixed-point bits: sub-pixel drawing accuracy of 1/16 px
_SCALE = 1 << _SHIFT
OCCLUDER_CODE = 65535  # label-map value of occluder rectangles
_PARTS_PER_PERSON = 16
_BOX_MARGIN = 2.0  # px added around the drawn figure before clipping
_MIN_KEYPOINTS_IN_IMAGE = 6
_PLACEMENT_TRIALS = 25
RENDER_TRIALS = 10  # re-draws of an image in which a person ended up with no visible pixel

# Nominal standing height of a figure as a fraction of the image height: a mixture of
# ``(probability, low, high)`` uniform ranges (see :mod:`simdr_lib.data.synthetic` for the
# resulting COCO area classes). Heights above 1 are close-ups: the figure is cut by the image
# border.
HEIGHT_MIX: tuple[tuple[float, float, float], ...] = (
    (0.06, 0.20, 0.30),
    (0.36, 0.30, 0.90),
    (0.58, 0.90, 1.60),
)


@dataclass
class Person:
    """A placed, drawn figure with its COCO labels."""

    keypoints: np.ndarray  # (17, 3) x, y px, v
    bbox: np.ndarray  # (4,) x, y, w, h px
    segmentation: dict[str, Any]  # COCO RLE of the visible mask, ``counts`` as str
    area: int  # visible mask pixel count


# --------------------------------------------------------------------------------------------
# Image rendering
# --------------------------------------------------------------------------------------------


def render_image(
    rng: np.random.Generator, size: tuple[int, int], max_people: int
) -> tuple[np.ndarray, list[Person]]:
    """One BGR uint8 image ``(H, W, 3)`` with its labelled people."""
    image, _, people = render_scene(rng, size, max_people)
    return image, people


def render_scene(
    rng: np.random.Generator, size: tuple[int, int], max_people: int
) -> tuple[np.ndarray, np.ndarray, list[Person]]:
    """Image, final label map ``(H, W)`` uint16 and people, every person with visible pixels.

    A person whose every pixel ended up behind occluders or nearer figures has no segmentation
    (COCO's ``area`` would be 0 and OKS undefined), so the whole image is drawn again from the
    continuing ``rng`` stream; after ``RENDER_TRIALS`` such draws the hidden people are left out
    (they are invisible in the image, so it stays consistent; the nearest figure is always
    partly visible, so at least one person remains). The label map is what the tests check the
    masks against.
    """
    for _ in range(RENDER_TRIALS):
        image, labels, people = _render_once(rng, size, max_people)
        if all(p.area > 0 for p in people):
            return image, labels, people
    return image, labels, [p for p in people if p.area > 0]


def _render_once(
    rng: np.random.Generator, size: tuple[int, int], max_people: int
) -> tuple[np.ndarray, np.ndarray, list[Person]]:
    """One draw of :func:`render_scene` (people may have an empty visible mask)."""
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


def _place_figures(rng: np.random.Generator, size: tuple[int, int], count: int) -> list[Figure]:
    """Pose, scale and place up to ``count`` figures with moderate overlap (>= 1 figure)."""
    placed: list[Figure] = []
    boxes: list[np.ndarray] = []
    for _ in range(count):
        fig = pose_figure(rng, sample_mixture(rng, HEIGHT_MIX) * size[1])
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


def _clipped_box(fig: Figure, size: tuple[int, int]) -> np.ndarray:
    """COCO ``[x, y, w, h]`` px: the figure's extent plus a margin, clipped to the image."""
    return _box_of_extent(fig.extent(), size)


def _box_of_extent(extent: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`_clipped_box` of an extent ``[x1, y1, x2, y2]`` px."""
    x1, y1, x2, y2 = extent + np.array([-1, -1, 1, 1]) * _BOX_MARGIN
    return clip_xywh(x1, y1, x2 - x1, y2 - y1, size)


def _label_person(fig: Figure, slot: int, labels: np.ndarray, size: tuple[int, int]) -> Person:
    """COCO labels from the final label map: keypoints ``(17, 3)`` (v=2 where the figure is on
    top), box, and the visible mask as segmentation and area."""
    kps = np.zeros((NUM_COCO_KEYPOINTS, 3))
    inside = _inside(fig.keypoints, size)
    for k in np.flatnonzero(inside):
        x, y = fig.keypoints[k]
        code = int(labels[int(round(y)), int(round(x))])
        own = code == 0 or code in _owner_codes(slot, k)
        kps[k] = (x, y, 2 if own and not fig.self_hidden[k] else 1)
    segmentation, area = _mask_rle(visible_mask(labels, slot))
    return Person(kps, _clipped_box(fig, size), segmentation, area)


def visible_mask(labels: np.ndarray, slot: int) -> np.ndarray:
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
    return {_part_code(slot, part) for part in OWNER_PARTS[k]}


def _part_code(slot: int, part: int) -> int:
    return 1 + slot * _PARTS_PER_PERSON + part


def clip_xywh(x: float, y: float, w: float, h: float, size: tuple[int, int]) -> np.ndarray:
    """``[x, y, w, h]`` px clipped to the ``(W, H)`` image (at least 1 px wide and high)."""
    x1, y1 = np.clip(x, 0, size[0] - 1), np.clip(y, 0, size[1] - 1)
    x2, y2 = np.clip(x + w, x1 + 1, size[0]), np.clip(y + h, y1 + 1, size[1])
    return np.array([x1, y1, x2 - x1, y2 - y1])


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def _fixed(points: np.ndarray) -> np.ndarray:
    """Points (n, 2) px → int32 fixed-point coordinates for cv2 drawing with ``_SHIFT``."""
    return np.round(points * _SCALE).astype(np.int32)


def _draw_prims(image: np.ndarray, labels: np.ndarray, prims: list[Prim], slot: int) -> None:
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
    cv2.rectangle(labels, (x1, y1), (x2, y2), OCCLUDER_CODE, -1)


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
