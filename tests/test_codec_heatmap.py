"""Heatmap baseline codec: encoding, classic and DARK decoding, flip test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simdr_lib.codec import HeatmapCodec
from simdr_lib.codec.heatmap import blur_matrix
from simdr_lib.errors import ConfigError
from simdr_lib.keypoints import COCO_FLIP_PAIRS, NUM_COCO_KEYPOINTS, flip_permutation

FAST = settings(max_examples=50, deadline=None)
seeds = st.integers(min_value=0, max_value=2**31 - 1)
strides = st.sampled_from([1, 2, 4, 8])


def _in_heatmap(rng: np.random.Generator, codec: HeatmapCodec, shape: tuple[int, int]):
    """Random sub-pixel keypoints (N, K, 2) whose heatmap centre lies on the grid."""
    w, h = codec.heatmap_size
    return rng.uniform(0.0, [w - 1.0, h - 1.0], size=(*shape, 2)) * codec.stride


# ----------------------------------------------------------------------------- config, encode
@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_size": (48,)},
        {"input_size": (48, 64), "stride": 0},
        {"input_size": (48, 64), "stride": 2.5},
        {"input_size": (48, 64), "stride": 32},
        {"input_size": (48, 64), "sigma": 0},
        {"input_size": (48, 64), "use_dark": "no"},
    ],
)
def test_invalid_config_raises_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        HeatmapCodec(**kwargs)


def test_heatmap_size_and_peak_at_keypoint_over_stride() -> None:
    codec = HeatmapCodec(input_size=(192, 256), stride=4, sigma=2.0)
    assert codec.heatmap_size == (48, 64)
    t = codec.encode(np.array([[[40.0, 100.0]]]), np.array([[2]]))
    hm = t["heatmap"]
    assert hm.shape == (1, 1, 64, 48) and hm.dtype == np.float32
    assert np.unravel_index(np.argmax(hm[0, 0]), (64, 48)) == (25, 10)
    assert hm[0, 0, 25, 10] == pytest.approx(1.0)
    assert hm[0, 0, 25, 12] == pytest.approx(np.exp(-4.0 / 8.0))  # 2 px = 1 sigma away


def test_weights_invisible_and_three_sigma_patch() -> None:
    codec = HeatmapCodec(input_size=(64, 64), stride=4, sigma=2.0)  # 16 x 16 heatmap
    reach = 3.0 * codec.sigma
    centres = [
        [5.0, 5.0],  # inside
        [5.0, 5.0],  # inside but v=0
        [-reach - 0.01, 5.0],  # window wholly left of the map
        [-reach + 0.01, 5.0],  # window just touching: kept, truncated
        [5.0, 15 + reach + 0.01],  # wholly below
        [5.0, 15 + reach - 0.01],
        [np.nan, 5.0],
    ]
    kp = np.array([centres]) * codec.stride
    t = codec.encode(kp, np.array([[2, 0, 1, 1, 2, 2, 2]]))
    np.testing.assert_array_equal(t["target_weight"][0], [1, 0, 0, 1, 0, 1, 0])
    assert np.all(t["heatmap"][0, [1, 2, 4, 6]] == 0)
    assert np.all(np.isfinite(t["heatmap"]))
    assert 0 < t["heatmap"][0, 3].max() < 0.02  # truncated tail only


# ----------------------------------------------------------------------------- decode
@FAST
@given(stride=strides, w=st.integers(8, 24), h=st.integers(8, 24), seed=seeds)
def test_classic_round_trip_within_half_stride(stride: int, w: int, h: int, seed: int) -> None:
    codec = HeatmapCodec(input_size=(w * stride, h * stride), stride=stride, sigma=2.0)
    kp = _in_heatmap(np.random.default_rng(seed), codec, (2, 6))
    t = codec.encode(kp, np.ones((2, 6)))
    decoded, scores = codec.decode((t["heatmap"],))
    err = np.abs(decoded - kp)
    assert err.max() <= stride / 2 + 1e-6
    # away from the border (a neighbour on both sides) the quarter shift halves the bound
    centre = kp / stride
    interior = (centre >= 0.5) & (centre <= np.array([w, h]) - 1.5)
    assert np.all(err[interior] <= stride / 4 + 1e-6)
    assert np.all((scores > 0.5) & (scores <= 1.0))


def test_dark_is_much_more_accurate_than_classic() -> None:
    rng = np.random.default_rng(0)
    classic = HeatmapCodec(input_size=(192, 256), stride=4, sigma=2.0)
    dark = HeatmapCodec(input_size=(192, 256), stride=4, sigma=2.0, use_dark=True)
    kp = _in_heatmap(rng, classic, (8, NUM_COCO_KEYPOINTS))
    t = classic.encode(kp, np.ones(kp.shape[:2]))
    err_classic = np.linalg.norm(classic.decode((t["heatmap"],))[0] - kp, axis=-1)
    err_dark = np.linalg.norm(dark.decode((t["heatmap"],))[0] - kp, axis=-1)
    assert err_dark.mean() < 0.5 * err_classic.mean()
    # far from the border the Taylor step on the blurred log-Gaussian is (almost) exact
    far = ((kp / 4 >= 8) & (kp / 4 <= np.array([47, 63]) - 8)).all(-1)
    assert far.sum() > 20
    assert err_dark[far].max() < 0.05


def test_dark_handles_flat_and_border_maps() -> None:
    codec = HeatmapCodec(input_size=(32, 32), stride=4, sigma=2.0, use_dark=True)
    hm = np.zeros((1, 2, 8, 8), dtype=np.float32)
    hm[0, 1, 0, 7] = 1.0  # single spike in the corner
    kp, scores = codec.decode((hm,))
    assert np.all(np.isfinite(kp))
    np.testing.assert_allclose(kp[0, 1], [28.0, 0.0])
    np.testing.assert_allclose(scores[0], [0.0, 1.0])


def test_blur_matrix_is_a_normalized_gaussian_in_the_interior() -> None:
    b = blur_matrix(40, 2.0)
    assert b.shape == (40, 40)
    assert b[20].sum() == pytest.approx(1.0)
    assert b[0].sum() < 1.0  # zero padding at the border
    assert np.argmax(b[20]) == 20 and b[20, 18] == pytest.approx(b[20, 22])


def test_decode_checks_size() -> None:
    codec = HeatmapCodec(input_size=(32, 48), stride=4)
    with pytest.raises(ConfigError, match="8x12"):
        codec.decode((np.zeros((1, 1, 8, 12)),))


# ----------------------------------------------------------------------------- flip
def test_flip_back_involution_direction_and_pairs() -> None:
    codec = HeatmapCodec(input_size=(32, 24), stride=4)  # 8 x 6
    rng = np.random.default_rng(1)
    hm = rng.random((2, NUM_COCO_KEYPOINTS, 6, 8))
    (once,) = codec.flip_back((hm,), COCO_FLIP_PAIRS)
    (twice,) = codec.flip_back((once,), COCO_FLIP_PAIRS)
    np.testing.assert_array_equal(twice[..., 1:], hm[..., 1:])  # column 0 is min-filled
    perm = flip_permutation(NUM_COCO_KEYPOINTS, COCO_FLIP_PAIRS)
    # content moves one pixel towards higher x after mirroring
    np.testing.assert_array_equal(once[:, :, :, 1:], hm[:, perm][..., ::-1][..., :-1])
    fill = hm[:, perm].min(axis=(-2, -1))[..., None]
    np.testing.assert_array_equal(once[:, :, :, 0], np.broadcast_to(fill, once.shape[:3]))


@FAST
@given(stride=st.sampled_from([2, 4]), w=st.integers(10, 28), seed=seeds)
def test_flip_encode_flip_back_decodes_to_original(stride: int, w: int, seed: int) -> None:
    h = 24
    codec = HeatmapCodec(input_size=(w * stride, h * stride), stride=stride, sigma=2.0)
    rng = np.random.default_rng(seed)
    kp = _in_heatmap(rng, codec, (2, NUM_COCO_KEYPOINTS))
    width = w * stride
    # mirrored centre on the grid, and x >= 1 heatmap column: the flipped map has no evidence
    # for column 0 (it is min-filled), so joints left of column 1 need the unflipped output
    kp[..., 0] = rng.uniform(stride, (w - 1) * stride, kp.shape[:2])
    perm = flip_permutation(NUM_COCO_KEYPOINTS, COCO_FLIP_PAIRS)
    flipped = kp[:, perm].copy()
    flipped[..., 0] = (width - 1) - flipped[..., 0]
    t = codec.encode(flipped, np.ones(kp.shape[:2]))
    back = codec.flip_back((t["heatmap"],), COCO_FLIP_PAIRS)
    decoded, _ = codec.decode(back)
    # one-pixel shift vs the exact (stride-1)/stride: +1 crop px bias, plus quantization
    assert np.abs(decoded - kp).max() <= stride / 2 + 1.0 + 1e-6
    # the bias is exactly +1 crop px in x and 0 in y; DARK measures it far from the border
    dark = HeatmapCodec(input_size=codec.input_size, stride=stride, sigma=2.0, use_dark=True)
    decoded_dark, _ = dark.decode(back)
    centre = kp / stride
    far = ((centre >= 8) & (centre <= np.array([w, h]) - 9)).all(-1)
    bias = decoded_dark[far] - kp[far]
    np.testing.assert_allclose(bias, np.broadcast_to([1.0, 0.0], bias.shape), atol=0.05)


def test_merge_flip_is_mean_and_to_prob_identity() -> None:
    codec = HeatmapCodec(input_size=(16, 16), stride=4)
    a, b = np.ones((1, 1, 4, 4)), np.zeros((1, 1, 4, 4))
    np.testing.assert_array_equal(codec.merge_flip((a,), (b,))[0], 0.5)
    assert codec.to_prob((a,))[0] is not None and np.array_equal(codec.to_prob((a,))[0], a)


def test_dark_is_exact_near_every_border() -> None:
    """Gaussian targets decode to their sub-pixel position with DARK up to the last heatmap
    pixel of each side (zero-padded blurring pulled them inwards by up to ~3 crop px: the
    issue's repro x=2.87 decoded to 5.69)."""
    codec = HeatmapCodec((192, 256), use_dark=True)
    near = np.concatenate([np.linspace(4.0, 40.0, 145), np.linspace(150.0, 186.0, 145)])
    for axis, size in ((0, 192), (1, 256)):
        pos = near if axis == 0 else near * (256 / 192)
        kp = np.full((1, len(pos), 2), 100.0)
        kp[0, :, axis] = np.clip(pos, 4.0, size - 5.0)
        hm = codec.encode(kp, np.ones((1, len(pos))))["heatmap"]
        decoded = codec.decode((hm,))[0]
        np.testing.assert_allclose(decoded[0, :, axis], kp[0, :, axis], atol=1e-3)
    repro = codec.encode(np.array([[[2.87, 127.5]]]), np.ones((1, 1)))["heatmap"]
    np.testing.assert_allclose(codec.decode((repro,))[0][0, 0], [2.87, 127.5], atol=1e-3)
