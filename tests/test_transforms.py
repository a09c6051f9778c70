"""simdr_lib.data.transforms: crop geometry, flip, normalization, augmentation draws."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simdr_lib.data import transforms as T
from simdr_lib.keypoints import COCO_FLIP_PAIRS, COCO_UPPER_BODY_IDS

INPUT = (48, 64)  # (W, H)


def test_box_to_center_scale_wide_and_tall():
    boxes = np.array([[10.0, 20.0, 100.0, 100.0], [0.0, 0.0, 30.0, 200.0]])
    centers, scales = T.box_to_center_scale(boxes, aspect_ratio=0.75, padding=1.25)
    np.testing.assert_allclose(centers, [[60, 70], [15, 100]])
    # wide: h grows to w / 0.75; tall: w grows to h * 0.75; then x 1.25 / 200
    np.testing.assert_allclose(scales[0], [100 / 200 * 1.25, 100 / 0.75 / 200 * 1.25])
    np.testing.assert_allclose(scales[1], [150 / 200 * 1.25, 200 / 200 * 1.25])
    np.testing.assert_allclose(scales[:, 0] / scales[:, 1], 0.75)
    c1, s1 = T.box_to_center_scale(boxes[0], 0.75, padding=1.0, pixel_std=1.0)
    assert c1.shape == (2,) and np.allclose(s1, [100, 100 / 0.75])


def test_integer_pixel_centres_give_exact_copy():
    """scale * pixel_std == output size, centre at a half-integer: the crop is a pure slice."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    out = (8, 6)
    center = np.array([10.5, 7.5])  # maps to ((8-1)/2, (6-1)/2) = (3.5, 2.5)
    m = T.get_affine_matrix(center, np.array([8, 6]) / 200.0, 0.0, out)
    np.testing.assert_allclose(T.affine_points([[7.0, 5.0]], m), [[0.0, 0.0]], atol=1e-12)
    np.testing.assert_array_equal(T.warp_image(image, m, out), image[5:11, 7:15])


def test_rotation_matches_opencv_convention():
    m = T.get_affine_matrix(np.array([20.0, 30.0]), np.array([0.4, 0.4]), 30.0, (80, 80))
    ref = cv2.getRotationMatrix2D((20.0, 30.0), 30.0, 1.0)  # positive = counter-clockwise
    np.testing.assert_allclose(m[:, :2], ref[:, :2], atol=1e-12)
    np.testing.assert_allclose(T.affine_points([20.0, 30.0], m), [39.5, 39.5])


@settings(max_examples=60, deadline=None)
@given(
    cx=st.floats(-50, 500),
    cy=st.floats(-50, 500),
    sw=st.floats(0.05, 5.0),
    aspect=st.floats(0.3, 3.0),
    rot=st.floats(-180, 180),
    seed=st.integers(0, 2**16),
)
def test_crop_then_crop_to_image_round_trip(cx, cy, sw, aspect, rot, seed):
    rng = np.random.default_rng(seed)
    n, k = 3, 5
    centers = np.array([[cx, cy]] * n) + rng.normal(0, 5, (n, 2))
    scales = np.array([[sw, sw / aspect]] * n) * rng.uniform(0.5, 1.5, (n, 1))
    rots = np.array([rot, -rot, 0.5 * rot])
    pts = centers[:, None, :] + rng.normal(0, 100 * sw, (n, k, 2))
    crop = np.stack(
        [
            T.affine_points(pts[i], T.get_affine_matrix(centers[i], scales[i], rots[i], INPUT))
            for i in range(n)
        ]
    )
    back = T.crop_to_image(crop, centers, scales, INPUT, rots)
    np.testing.assert_allclose(back, pts, atol=1e-3)
    inv = T.get_affine_matrix(centers[0], scales[0], rots[0], INPUT, inverse=True)
    fwd = T.get_affine_matrix(centers[0], scales[0], rots[0], INPUT)
    np.testing.assert_allclose(T.compose_affine(inv, fwd), np.eye(2, 3), atol=1e-9)


def test_crop_to_image_without_rotation():
    centers, scales = np.array([[100.0, 50.0]]), np.array([[0.48, 0.64]])
    kp = np.array([[[(INPUT[0] - 1) / 2, (INPUT[1] - 1) / 2], [-0.5, -0.5]]])
    out = T.crop_to_image(kp, centers, scales, INPUT)
    np.testing.assert_allclose(out, [[[100, 50], [100 - 48, 50 - 64]]])


def test_warp_image_content_follows_points():
    image = np.zeros((120, 100, 3), np.uint8)
    image[70, 30] = 255
    m = T.get_affine_matrix(np.array([45.0, 60.0]), np.array([0.5, 0.5]), 25.0, (100, 100))
    crop = T.warp_image(image, m, (100, 100))
    peak = np.unravel_index(np.argmax(crop[:, :, 0]), crop.shape[:2])[::-1]
    np.testing.assert_allclose(peak, T.affine_points([30.0, 70.0], m), atol=1.0)


def test_flip_twice_is_identity_and_swaps_pairs():
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 60, (2, 17, 2))
    vis = rng.integers(0, 3, (2, 17)).astype(float)
    fk, fv = T.flip_keypoints(kp, vis, 64, COCO_FLIP_PAIRS)
    np.testing.assert_allclose(fk[:, 2, 0], 63 - kp[:, 1, 0])  # right eye <- left eye
    np.testing.assert_allclose(fk[:, 0, 0], 63 - kp[:, 0, 0])  # nose stays
    np.testing.assert_array_equal(fv[:, 5], vis[:, 6])
    kk, vv = T.flip_keypoints(fk, fv, 64, COCO_FLIP_PAIRS)
    np.testing.assert_allclose(kk, kp)
    np.testing.assert_array_equal(vv, vis)
    single, _ = T.flip_keypoints(kp[0], vis[0], 64, COCO_FLIP_PAIRS)
    np.testing.assert_allclose(single, fk[0])


def test_flipped_image_crop_is_mirrored_crop():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    center, scale = np.array([33.3, 21.7]), np.array([0.2, 0.25])
    out = (40, 50)
    m = T.get_affine_matrix(center, scale, 0.0, out)
    mf = T.get_affine_matrix(T.flip_centers(center, 70), scale, 0.0, out)
    crop = T.warp_image(image, m, out).astype(int)
    crop_flipped = T.warp_image(T.flip_image(image), mf, out).astype(int)
    assert np.abs(crop_flipped[:, ::-1] - crop).max() <= 1
    via_matrix = T.warp_image(image, T.compose_affine(mf, T.flip_matrix(70)), out).astype(int)
    assert np.abs(via_matrix - crop_flipped).max() <= 1


def test_normalize_image():
    crop = np.zeros((4, 3, 3), np.uint8)
    crop[..., 0] = 255
    chw = T.normalize_image(crop)
    assert chw.shape == (3, 4, 3) and chw.dtype == np.float32 and chw.flags.c_contiguous
    np.testing.assert_allclose(chw[0], (1 - 0.485) / 0.229, rtol=1e-6)
    np.testing.assert_allclose(chw[2], -0.406 / 0.225, rtol=1e-6)
    np.testing.assert_array_equal(T.denormalize_image(chw), crop)


def test_random_scale_and_rotation_ranges():
    rng = np.random.default_rng(3)
    scales = np.stack([T.random_scale(np.array([1.0, 2.0]), 0.35, rng) for _ in range(2000)])
    assert scales[:, 0].min() >= 0.65 - 1e-12 and scales[:, 0].max() <= 1.35 + 1e-12
    np.testing.assert_allclose(scales[:, 1], 2 * scales[:, 0])
    rots = np.array([T.random_rotation(40.0, rng) for _ in range(4000)])
    assert np.abs(rots).max() <= 80.0
    assert abs((rots != 0).mean() - 0.6) < 0.04
    a = [T.random_rotation(40.0, np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    assert T.random_scale(np.ones(2), 0.0, rng).tolist() == [1.0, 1.0]


def test_half_body_center_scale():
    kp = np.stack([np.full(17, 50.0), np.arange(17) * 10.0], axis=1)
    kp[::2, 0] = 40.0
    vis = np.full(17, 2.0)
    seen = set()
    for seed in range(20):
        center, scale = T.half_body_center_scale(
            kp, vis, COCO_UPPER_BODY_IDS, 0.75, np.random.default_rng(seed)
        )
        assert scale[0] / scale[1] == pytest.approx(0.75)
        seen.add(round(float(center[1]), 6))
    assert seen == {50.0, 135.0}  # mean y of upper (0..10) and lower (11..16) joints
    # lower body selected: its height 50 px -> scale h = 50 * 1.5 / 200
    vis_low = vis.copy()
    vis_low[:9] = 0  # only 2 upper joints labeled -> lower body
    center, scale = T.half_body_center_scale(
        kp, vis_low, COCO_UPPER_BODY_IDS, 0.75, np.random.default_rng(0)
    )
    assert center[1] == pytest.approx(135.0) and scale[1] == pytest.approx(50 * 1.5 / 200)
    none = np.zeros(17)
    none[0] = 2
    assert (
        T.half_body_center_scale(kp, none, COCO_UPPER_BODY_IDS, 0.75, np.random.default_rng(0))
        is None
    )
