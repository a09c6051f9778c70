"""SimDR / SA-SimDR codec: round trips, label shapes, weights, flip test, confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simdr_lib.codec import HeatmapCodec, SimDRCodec, build_codec
from simdr_lib.errors import ConfigError
from simdr_lib.keypoints import COCO_FLIP_PAIRS, NUM_COCO_KEYPOINTS, flip_permutation

FAST = settings(max_examples=50, deadline=None)
sizes = st.integers(min_value=16, max_value=96)
ratios = st.floats(min_value=1.0, max_value=4.0, allow_nan=False)
sigmas = st.one_of(st.none(), st.floats(min_value=0.5, max_value=4.0))
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def _normalized(targets: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Encoded targets as probability vectors (rows summing to 1)."""
    x, y = targets["x_target"], targets["y_target"]
    return x / x.sum(-1, keepdims=True), y / y.sum(-1, keepdims=True)


def _in_crop(rng: np.random.Generator, codec: SimDRCodec, shape: tuple[int, int]) -> np.ndarray:
    """Random keypoints (N, K, 2) whose class bin floor(x*k + 0.5) lies in [0, L-1]."""
    k = codec.split_ratio
    hi = np.array([codec.num_x_bins, codec.num_y_bins]) - 0.5 - 1e-6
    return rng.uniform(-0.5 + 1e-6, hi, size=(*shape, 2)) / k


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_size": (0, 64)},
        {"input_size": (48.5, 64)},
        {"input_size": (48, 64, 3)},
        {"input_size": "48x64"},
        {"input_size": (48, 64), "split_ratio": 0.0},
        {"input_size": (48, 64), "split_ratio": -1.0},
        {"input_size": (48, 64), "split_ratio": 0.02},  # 0.96 x bins: fewer than 2
        {"input_size": (48, 64), "split_ratio": float("nan")},
        {"input_size": (48, 64), "sigma": 0.0},
        {"input_size": (48, 64), "sigma": -1.0},
        {"input_size": (48, 64), "label_smoothing": 1.0},
        {"input_size": (48, 64), "label_smoothing": -0.1},
        {"input_size": (48, 64), "normalize": "yes"},
        {"input_size": (48, 64), "confidence": "median"},
    ],
)
def test_invalid_config_raises_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError) as info:
        SimDRCodec(**kwargs)
    assert "\n" not in str(info.value)


def test_sizes_and_properties() -> None:
    codec = SimDRCodec(input_size=[192, 256], split_ratio=2.0)
    assert codec.input_size == (192, 256)
    assert (codec.num_x_bins, codec.num_y_bins) == (384, 512)
    assert not codec.is_gaussian
    odd = SimDRCodec(input_size=(17, 20), split_ratio=1.5, sigma=2.0)
    assert (odd.num_x_bins, odd.num_y_bins) == (25, 30)
    assert odd.is_gaussian
    assert SimDRCodec(input_size=(192, 256), split_ratio=2.0).flip_shift == 1.0


def test_both_codecs_have_the_codec_interface() -> None:
    from simdr_lib.codec import Codec, Decoded

    for codec in (SimDRCodec((48, 64), sigma=2.0), HeatmapCodec((48, 64))):
        assert isinstance(codec, Codec)
        kp = np.array([[[12.0, 20.0]]])  # on both grids: decodes exactly
        targets = codec.encode(kp, np.full((1, 1), 2))
        assert isinstance(targets, dict) and targets["target_weight"].shape == (1, 1)
        outputs = tuple(v for k, v in targets.items() if k != "target_weight")
        decoded = codec.decode(outputs)
        assert isinstance(decoded, Decoded) and decoded.keypoints.shape == (1, 1, 2)
        np.testing.assert_allclose(decoded.keypoints, kp, atol=1e-9)


def test_build_codec_kinds() -> None:
    simdr = build_codec("simdr", (48, 64), split_ratio=3.0, sigma=6.0, confidence="max")
    assert isinstance(simdr, SimDRCodec) and not simdr.is_gaussian and simdr.confidence == "max"
    sa = build_codec(kind="sa_simdr", input_size=(48, 64), sigma=6.0, normalize=False)
    assert sa.is_gaussian and sa.sigma == 6.0 and not sa.normalize
    hm = build_codec("heatmap", (48, 64), stride=4, use_dark=True)
    assert isinstance(hm, HeatmapCodec) and hm.sigma == 2.0 and hm.use_dark
    with pytest.raises(ConfigError):
        build_codec("sa_simdr", (48, 64))
    with pytest.raises(ConfigError):
        build_codec("regression", (48, 64))


def test_split_ratio_rule_is_k_above_zero_with_two_bins_per_axis() -> None:
    """k < 1 is legal (coarser bins than pixels): encode, decode and flip use the same formulas."""
    codec = SimDRCodec(input_size=(48, 64), split_ratio=0.5, sigma=1.0)
    assert (codec.num_x_bins, codec.num_y_bins) == (24, 32)
    assert codec.flip_shift == pytest.approx(-0.5)  # k - 1
    kp = _in_crop(np.random.default_rng(0), codec, (4, 17))
    targets = codec.encode(kp, np.full((4, 17), 2))
    decoded, _ = codec.decode(_normalized(targets))
    assert np.abs(decoded - kp).max() <= 1.0 / (2.0 * 0.5) + 1e-6
    SimDRCodec(input_size=(8, 8), split_ratio=0.25)  # exactly 2 bins per axis
    with pytest.raises(ConfigError, match="fewer than 2 bins"):
        SimDRCodec(input_size=(8, 64), split_ratio=0.24)
    for kind in ("simdr", "sa_simdr"):
        with pytest.raises(ConfigError, match="split_ratio"):
            build_codec(kind, (48, 64), split_ratio=0.0, sigma=2.0)


def test_mirrored_targets_flip_back_onto_the_original_for_k_below_one() -> None:
    codec = SimDRCodec(input_size=(48, 64), split_ratio=0.5, sigma=1.0)
    kp = np.array([[[10.0, 20.0], [30.0, 40.0]]])  # on the bin grid (even px)
    mirrored = kp.copy()
    mirrored[..., 0] = 47 - mirrored[..., 0]
    t = codec.encode(mirrored, np.full((1, 2), 2))
    back, _ = codec.decode(codec.flip_back((t["x_target"], t["y_target"]), ()))
    np.testing.assert_allclose(back, kp, atol=1.0 / (2 * 0.5))


def test_class_bin_rounds_half_up_where_the_official_encoder_rounds_half_to_even() -> None:
    """Documented in the module: ``floor(x*k + 0.5)``; ``np.around`` differs only at x*k = m+1/2."""
    codec = SimDRCodec(input_size=(48, 64), split_ratio=2.0, label_smoothing=0.0)
    kp = np.array([[[1.25, 1.75]]])  # x*k = 2.5, y*k = 3.5
    t = codec.encode(kp, np.ones((1, 1)))
    assert (t["x_target"][0, 0].argmax(), t["y_target"][0, 0].argmax()) == (3, 4)
    assert tuple(np.around(kp[0, 0] * 2.0)) == (2.0, 4.0)  # the official rounding


# ----------------------------------------------------------------------------- round trip
@FAST
@given(w=sizes, h=sizes, k=ratios, sigma=sigmas, seed=seeds)
def test_encode_decode_round_trip(w: int, h: int, k: float, sigma: float | None, seed: int):
    codec = SimDRCodec(input_size=(w, h), split_ratio=k, sigma=sigma)
    kp = _in_crop(np.random.default_rng(seed), codec, (3, 5))
    targets = codec.encode(kp, np.full((3, 5), 2))
    assert targets["x_target"].shape == (3, 5, codec.num_x_bins)
    assert targets["y_target"].shape == (3, 5, codec.num_y_bins)
    assert targets["x_target"].dtype == np.float32
    np.testing.assert_array_equal(targets["target_weight"], 1.0)
    decoded, scores = codec.decode(_normalized(targets))
    assert decoded.shape == (3, 5, 2)
    assert np.abs(decoded - kp).max() <= 1.0 / (2.0 * k) + 1e-6
    assert np.all((scores >= 0) & (scores <= 1))


def test_decode_accepts_arbitrary_lengths_but_checks_bins() -> None:
    codec = SimDRCodec(input_size=(16, 24), split_ratio=2.0)
    with pytest.raises(ConfigError, match="bins"):
        codec.decode((np.ones((1, 2, 31)), np.ones((1, 2, 48))))


# ----------------------------------------------------------------------------- labels
@FAST
@given(sigma=st.floats(min_value=1.0, max_value=6.0), frac=st.floats(0.0, 1.0), seed=seeds)
def test_gaussian_label_peak_and_std(sigma: float, frac: float, seed: int) -> None:
    codec = SimDRCodec(input_size=(96, 96), split_ratio=2.0, sigma=sigma)
    center = 40.0 + 100.0 * frac  # in bins, >= 6 sigma away from both ends of 192 bins
    kp = np.array([[[center / 2.0, center / 2.0]]])
    label = codec.encode(kp, np.ones((1, 1)))["x_target"][0, 0].astype(np.float64)
    assert np.argmax(label) == math.floor(center + 0.5) or np.isclose(center % 1, 0.5)
    bins = np.arange(label.size)
    mean = (bins * label).sum() / label.sum()
    std = math.sqrt(((bins - mean) ** 2 * label).sum() / label.sum())
    assert abs(mean - center) < 1e-3
    assert abs(std - sigma) < 0.03 * sigma
    assert abs(label.sum() - 1.0) < 1e-3  # normalize=True: a sampled pdf


def test_gaussian_peak_value_normalize_flag() -> None:
    kp = np.array([[[10.0, 12.0]]])
    for normalize, peak in [(True, 1.0 / (3.0 * math.sqrt(2 * math.pi))), (False, 1.0)]:
        codec = SimDRCodec(input_size=(32, 32), split_ratio=2.0, sigma=3.0, normalize=normalize)
        t = codec.encode(kp, np.ones((1, 1)))
        assert np.argmax(t["x_target"][0, 0]) == 20 and np.argmax(t["y_target"][0, 0]) == 24
        assert t["x_target"][0, 0].max() == pytest.approx(peak, rel=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_simdr_label_smoothing_formula(eps: float) -> None:
    codec = SimDRCodec(input_size=(16, 20), split_ratio=2.0, label_smoothing=eps)
    kp = np.array([[[3.3, 7.74]]])  # bins floor(6.6+0.5)=7 and floor(15.48+0.5)=15
    t = codec.encode(kp, np.ones((1, 1)))
    x = t["x_target"][0, 0]
    assert np.argmax(x) == 7 and np.argmax(t["y_target"][0, 0]) == 15
    assert x[7] == pytest.approx(1.0 - eps)
    np.testing.assert_allclose(np.delete(x, 7), eps / (x.size - 1), rtol=1e-6)
    assert x.sum() == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------- weights
def test_weights_simdr_out_of_range_bins_and_invisible() -> None:
    codec = SimDRCodec(input_size=(16, 20), split_ratio=2.0)  # 32 x bins, 40 y bins
    kp = np.array(
        [
            [
                [5.0, 5.0],  # inside
                [5.0, 5.0],  # inside but v=0
                [-0.25 - 1e-3, 5.0],  # x bin -1
                [-0.25 + 1e-3, 5.0],  # x bin 0
                [(32 - 0.5) / 2, 5.0],  # x bin 32 == L
                [(32 - 0.5) / 2 - 1e-3, 5.0],  # x bin 31
                [5.0, (40 - 0.5) / 2],  # y bin 40 == L
                [np.nan, 5.0],  # not finite
            ]
        ]
    )
    vis = np.array([[2, 0, 2, 2, 2, 2, 1, 2]])
    t = codec.encode(kp, vis)
    np.testing.assert_array_equal(t["target_weight"][0], [1, 0, 0, 1, 0, 1, 0, 0])
    zero = t["target_weight"][0] == 0
    assert np.all(t["x_target"][0, zero] == 0) and np.all(t["y_target"][0, zero] == 0)
    assert np.all(np.isfinite(t["x_target"]))


def test_weights_sa_simdr_three_sigma_window() -> None:
    sigma, k = 2.0, 2.0
    codec = SimDRCodec(input_size=(16, 20), split_ratio=k, sigma=sigma)  # 32 x bins
    last = codec.num_x_bins - 1
    centers_x = [-6.0 - 0.01, -6.0 + 0.01, -2.0, last + 6.0 + 0.01, last + 6.0 - 0.01]
    kp = np.array([[[c / k, 10.0] for c in centers_x] + [[5.0, (39 + 6.01) / k]]])
    t = codec.encode(kp, np.ones((1, 6), dtype=bool))
    np.testing.assert_array_equal(t["target_weight"][0], [0, 1, 1, 0, 1, 0])
    # a joint 1 px left of the crop keeps weight 1 and a truncated Gaussian peaking at bin 0
    x = t["x_target"][0, 2]
    assert np.argmax(x) == 0 and np.all(np.diff(x[:10]) < 0)
    expected = np.exp(-((np.arange(4) + 2.0) ** 2) / (2 * sigma**2)) / (
        sigma * math.sqrt(2 * math.pi)
    )
    np.testing.assert_allclose(x[:4], expected, rtol=1e-6)
    assert np.all(t["x_target"][0, [0, 3, 5]] == 0)


# ----------------------------------------------------------------------------- softmax, scores
def test_to_prob_is_stable_softmax() -> None:
    codec = SimDRCodec(input_size=(8, 10), split_ratio=1.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 8)).astype(np.float32)
    y = rng.normal(size=(2, 3, 10)).astype(np.float32)
    px, py = codec.to_prob((x, y))
    np.testing.assert_allclose(px, np.exp(x) / np.exp(x).sum(-1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(py.sum(-1), 1.0, rtol=1e-6)
    big = codec.to_prob((x * 1e4, y + 1e4))
    assert all(np.all(np.isfinite(v)) for v in big)
    np.testing.assert_allclose(big[0].sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(("rule", "expected"), [("min", 0.3), ("max", 0.6), ("mean", 0.45)])
def test_confidence_rule(rule: str, expected: float) -> None:
    codec = SimDRCodec(input_size=(4, 5), split_ratio=1.0, confidence=rule)
    x = np.array([[[0.1, 0.6, 0.1, 0.2]]])
    y = np.array([[[0.2, 0.2, 0.3, 0.1, 0.2]]])
    kp, scores = codec.decode((x, y))
    np.testing.assert_allclose(kp, [[[1.0, 2.0]]])
    assert scores[0, 0] == pytest.approx(expected)


@FAST
@given(seed=seeds, scale=st.floats(0.1, 100.0), rule=st.sampled_from(["min", "max", "mean"]))
def test_scores_are_probabilities(seed: int, scale: float, rule: str) -> None:
    codec = SimDRCodec(input_size=(12, 16), split_ratio=2.0, confidence=rule)
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(2, 4, 24)) * scale, rng.normal(size=(2, 4, 32)) * scale)
    probs = codec.to_prob(logits)
    _, scores = codec.decode(probs)
    assert np.all((scores >= 0) & (scores <= 1))
    mx, my = probs[0].max(-1), probs[1].max(-1)
    assert np.all(scores >= np.minimum(mx, my) - 1e-6) and np.all(
        scores <= np.maximum(mx, my) + 1e-6
    )


# ----------------------------------------------------------------------------- flip test
@pytest.mark.parametrize("k", [1.0, 2.0, 3.0])
def test_flip_back_is_involution_and_swaps_pairs(k: float) -> None:
    codec = SimDRCodec(input_size=(20, 24), split_ratio=k)
    rng = np.random.default_rng(1)
    n_j = NUM_COCO_KEYPOINTS
    x = rng.random((2, n_j, codec.num_x_bins))
    y = rng.random((2, n_j, codec.num_y_bins))
    once = codec.flip_back((x, y), COCO_FLIP_PAIRS)
    twice = codec.flip_back(once, COCO_FLIP_PAIRS)
    keep = codec.num_x_bins - int(k - 1)  # the last k-1 bins are edge-replicated
    np.testing.assert_array_equal(twice[0][..., :keep], x[..., :keep])
    np.testing.assert_array_equal(twice[1], y)
    perm = flip_permutation(n_j, COCO_FLIP_PAIRS)
    np.testing.assert_array_equal(once[1], y[:, perm])  # y: swapped, not mirrored
    assert perm[5] == 6
    # left shoulder of the output = mirrored right shoulder of the input, shifted by k-1 bins
    rev = x[:, 6, ::-1]
    np.testing.assert_array_equal(once[0][:, 5, :keep], rev[:, int(k - 1) :])


def test_flip_shift_direction_k2_matches_official() -> None:
    # k = 2: the reversed vector moves one bin towards lower indices (official SHIFT_HEATMAP)
    codec = SimDRCodec(input_size=(4, 4), split_ratio=2.0)
    # and the vacated last bin gets the vector's minimum
    x = np.array([5.0, 1, 2, 3, 4, 6, 7, 8]).reshape(1, 1, 8)
    back, _ = codec.flip_back((x, np.zeros((1, 1, 8))), ())
    np.testing.assert_array_equal(back[0, 0], [7, 6, 4, 3, 2, 1, 5, 1])


@FAST
@given(w=sizes, h=sizes, k=ratios, sigma=sigmas, seed=seeds)
def test_flip_encode_flip_back_decodes_to_original(
    w: int, h: int, k: float, sigma: float | None, seed: int
) -> None:
    codec = SimDRCodec(input_size=(w, h), split_ratio=k, sigma=sigma)
    rng = np.random.default_rng(seed)
    kp = _in_crop(rng, codec, (2, NUM_COCO_KEYPOINTS))
    # x and the mirrored x both in the crop (class bins inside the vector), edges included
    lo = max(0.0, (w - 1) - (codec.num_x_bins - 0.5 - 1e-6) / k)
    hi = min(w - 1.0, (codec.num_x_bins - 0.5 - 1e-6) / k)
    kp[..., 0] = rng.uniform(lo, hi, kp.shape[:2])
    perm = flip_permutation(NUM_COCO_KEYPOINTS, COCO_FLIP_PAIRS)
    flipped = kp[:, perm].copy()
    flipped[..., 0] = (w - 1) - flipped[..., 0]
    t = codec.encode(flipped, np.ones(kp.shape[:2]))
    np.testing.assert_array_equal(t["target_weight"], 1.0)
    back = codec.flip_back(_normalized(t), COCO_FLIP_PAIRS)
    decoded, _ = codec.decode(back)
    assert np.abs(decoded - kp).max() <= 1.0 / k + 1e-6


@pytest.mark.parametrize("k", [1.0, 2.0, 3.0])
def test_flip_back_of_flipped_gaussian_targets_is_exact_for_integer_k(k: float) -> None:
    codec = SimDRCodec(input_size=(32, 40), split_ratio=k, sigma=2.0)
    kp = np.random.default_rng(2).uniform(4.0, 27.0, size=(3, NUM_COCO_KEYPOINTS, 2))
    perm = flip_permutation(NUM_COCO_KEYPOINTS, COCO_FLIP_PAIRS)
    flipped = kp[:, perm].copy()
    flipped[..., 0] = 31.0 - flipped[..., 0]
    vis = np.ones(kp.shape[:2])
    bx, by = codec.flip_back(
        (codec.encode(flipped, vis)["x_target"], codec.encode(flipped, vis)["y_target"]),
        COCO_FLIP_PAIRS,
    )
    direct = codec.encode(kp, vis)
    keep = codec.num_x_bins - int(k - 1)
    np.testing.assert_allclose(bx[..., :keep], direct["x_target"][..., :keep], atol=1e-6)
    np.testing.assert_allclose(by, direct["y_target"], atol=1e-7)


def test_merge_flip_rules() -> None:
    rng = np.random.default_rng(3)
    za = (rng.normal(size=(2, 3, 16)), rng.normal(size=(2, 3, 20)))
    zb = (rng.normal(size=(2, 3, 16)), rng.normal(size=(2, 3, 20)))
    sa = SimDRCodec(input_size=(8, 10), split_ratio=2.0, sigma=2.0)
    merged = sa.merge_flip(sa.to_prob(za), sa.to_prob(zb))
    expected = sa.to_prob(tuple(0.5 * (a + b) for a, b in zip(za, zb)))
    for m, e in zip(merged, expected):
        np.testing.assert_allclose(m, e, rtol=1e-9, atol=1e-12)
    simdr = SimDRCodec(input_size=(8, 10), split_ratio=2.0)
    pa, pb = simdr.to_prob(za), simdr.to_prob(zb)
    merged = simdr.merge_flip(pa, pb)
    for m, a, b in zip(merged, pa, pb):
        np.testing.assert_allclose(m, 0.5 * (a + b))
    # zero probabilities do not produce NaN in the log-space merge
    zeros = (np.zeros((1, 1, 16)), np.zeros((1, 1, 20)))
    assert all(np.all(np.isfinite(v)) for v in sa.merge_flip(zeros, zeros))


def test_flip_shift_option_reproduces_the_peers_protocols() -> None:
    """null: exact k-1 bins; 1.0: official SHIFT_HEATMAP for any k; 0.0: the seed (no shift)."""
    rng = np.random.default_rng(3)
    x, y = rng.random((2, 17, 72)), rng.random((2, 17, 96))
    exact = build_codec("sa_simdr", (48, 64), 1.5, sigma=2.0)
    official = build_codec("sa_simdr", (48, 64), 1.5, sigma=2.0, flip_shift=1.0)
    seed = build_codec("sa_simdr", (48, 64), 1.5, sigma=2.0, flip_shift=0.0)
    assert exact.flip_shift == pytest.approx(0.5)
    assert (official.flip_shift, seed.flip_shift) == (1.0, 0.0)
    back = official.flip_back((x, y), ())[0]
    np.testing.assert_array_equal(back[..., :-1], x[..., ::-1][..., 1:])  # one bin left
    np.testing.assert_array_equal(seed.flip_back((x, y), ())[0], x[..., ::-1])
    half = exact.flip_back((x, y), ())[0]
    np.testing.assert_allclose(
        half[..., :-1], 0.5 * (x[..., ::-1][..., :-1] + x[..., ::-1][..., 1:])
    )
    for bad in (-1.0, 72.0, float("nan")):
        with pytest.raises(ConfigError, match="codec.flip_shift"):
            build_codec("simdr", (48, 64), 1.5, flip_shift=bad)
