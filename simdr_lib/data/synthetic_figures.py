"""The stick figure of the synthetic dataset: a posed 2D skeleton and its drawing primitives.

:func:`pose_figure` draws a random pose (torso lean, head tilt, yaw from frontal to profile,
arm and leg angles in plausible ranges) at a nominal standing height and returns a
:class:`Figure`: the 17 COCO keypoints, which of them the figure hides itself, and the
primitives (limbs, torso polygon, head with face marks) in drawing order. Left limbs are blues,
right limbs reds. :data:`OWNER_PARTS` says which body parts make each keypoint visible. Used by
:mod:`simdr_lib.data.synthetic_scene`; pure numpy (OpenCV only for colour conversion).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, NUM_COCO_KEYPOINTS

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


@dataclass
class Prim:
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
class Figure:
    """A posed figure: keypoints ``(17, 2)`` px, self-hidden flags ``(17,)`` and primitives."""

    keypoints: np.ndarray
    self_hidden: np.ndarray
    prims: list[Prim]

    def shifted(self, offset: np.ndarray) -> Figure:
        """The same figure translated by ``offset`` ``(2,)`` px."""
        prims = [Prim(p.kind, p.pts + offset, p.size, p.colour, p.part) for p in self.prims]
        return Figure(self.keypoints + offset, self.self_hidden, prims)

    def extent(self) -> np.ndarray:
        """``[x1, y1, x2, y2]`` px covering every drawn pixel (anti-aliasing included)."""
        lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
        for p in self.prims:
            pad = {"line": p.size / 2.0, "circle": p.size}.get(p.kind, 0.0) + 0.5
            lo = np.minimum(lo, p.pts.min(axis=0) - pad)
            hi = np.maximum(hi, p.pts.max(axis=0) + pad)
        return np.concatenate([lo, hi])


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


def pose_figure(rng: np.random.Generator, height: float) -> Figure:
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
    parts: dict[str, list[Prim]] = {}
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
    return Figure(kps, hidden, [p for name in order for p in parts[name]])


def _draw_order(side_ness: float, facing: float) -> tuple[str, ...]:
    """Back-to-front part order: frontal figures show both arms in front of the torso."""
    if side_ness < 0.35:
        return ("torso", "leg:left", "leg:right", "head", "arm:left", "arm:right")
    far, near = ("left", "right") if facing > 0 else ("right", "left")
    return (f"arm:{far}", f"leg:{far}", "torso", f"leg:{near}", "head", f"arm:{near}")


def sample_mixture(rng: np.random.Generator, ranges: Sequence[tuple[float, float, float]]) -> float:
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
    front = sign * sample_mixture(
        rng, [(0.45, 5, 35), (0.3, 35, 110), (0.13, 110, 170), (0.12, -35, 0)]
    )
    swing = facing * sample_mixture(rng, [(0.6, -40, 40), (0.25, 40, 120), (0.15, 120, 170)])
    upper = -lean + np.deg2rad((1 - side_ness) * front + side_ness * swing)
    bend = np.deg2rad(sample_mixture(rng, [(0.4, 0, 20), (0.4, 20, 90), (0.2, 90, 140)]))
    bend_dir = facing if side_ness > 0.5 else (1.0 if rng.random() < 0.5 else -1.0)
    return upper, upper + bend_dir * bend


def _leg_angles(
    rng: np.random.Generator, sign: float, facing: float, side_ness: float, forward: bool
) -> tuple[float, float]:
    """(thigh, shin) absolute angles in radians; profile legs stride, knees flex backward."""
    front = sign * sample_mixture(rng, [(0.88, -5, 22), (0.12, 25, 70)])
    stride = facing * (rng.uniform(0, 40) if forward else -rng.uniform(0, 30))
    thigh = np.deg2rad((1 - side_ness) * front + side_ness * stride)
    bend = np.deg2rad(sample_mixture(rng, [(0.5, 0, 10), (0.35, 10, 60), (0.15, 60, 110)]))
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
) -> list[Prim]:
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
        Prim("line", np.stack([a, b]), thick[seg1], colour, p1),
        Prim("line", np.stack([b, c]), thick[seg2], colour, p2),
        Prim("circle", a[None], 0.5 * thick[seg1], dark, p1),
        Prim("circle", b[None], 0.55 * thick[seg2], dark, p2),
    ]
    if kind == "arm":
        direction = _down(angles[1])
        prims.append(
            Prim(
                "circle",
                (c + direction * body["hand_r"])[None],
                body["hand_r"],
                _bgr(hsv, 1.15),
                p3,
            )
        )
        prims.append(Prim("circle", c[None], 0.45 * thick[seg2], dark, p3))
    else:
        toe_dir = (1 - side_ness) * np.array([0.0, 1.0]) + side_ness * np.array([facing, 0.15])
        toe = c + toe_dir / np.linalg.norm(toe_dir) * body["foot"] * (0.5 + 0.5 * side_ness)
        prims.append(Prim("line", np.stack([c, toe]), thick["foot"], dark, p3))
        prims.append(Prim("circle", c[None], 0.5 * thick[seg2], dark, p3))
    return prims


def _torso_prims(
    kps: np.ndarray,
    shoulder_line: np.ndarray,
    up: np.ndarray,
    yaw: float,
    height: float,
    colours: dict[str, np.ndarray],
) -> list[Prim]:
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
    return [Prim("poly", poly, 0.0, _bgr(colours["torso"]), _TORSO)]


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
) -> list[Prim]:
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
        Prim(
            "line", np.stack([neck - up * 0.02 * r, centre]), thick["neck"], _bgr(skin, 0.85), _HEAD
        ),
        Prim("circle", hair_centre[None], 1.04 * r, _bgr(colours["hair"]), _HEAD),
        Prim("circle", centre[None], r, _bgr(skin), _HEAD),
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


def _face_mark(name: str, point: np.ndarray, r: float, colours: dict[str, np.ndarray]) -> Prim:
    """Ear: side-coloured disc; eye: dark side-coloured dot; nose: dark brown dot."""
    if name == "nose":
        return Prim("circle", point[None], max(1.0, 0.17 * r), (20, 30, 90), _HEAD)
    side = "left" if name.startswith("left") else "right"
    if name.endswith("ear"):
        return Prim("circle", point[None], max(1.2, 0.24 * r), _bgr(colours[side], 0.8), _HEAD)
    return Prim("circle", point[None], max(1.0, 0.16 * r), _bgr(colours[side], 0.6), _HEAD)


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


OWNER_PARTS = _owner_parts()
