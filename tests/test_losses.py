"""Losses: official reductions, zero at the target, stability, target weights, validation."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from simdr_lib.errors import ConfigError
from simdr_lib.losses import JointsMSELoss, KLDiscretLoss, NMTCriterion, build_loss

N, K, WK, HK = 3, 4, 12, 16


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _gaussian(centers: np.ndarray, length: int, sigma: float = 1.5) -> np.ndarray:
    g = np.exp(-((np.arange(length) - centers[..., None]) ** 2) / (2 * sigma**2))
    return (g / g.sum(-1, keepdims=True)).astype("float32")


def _smoothed_onehot(index: np.ndarray, length: int, eps: float) -> np.ndarray:
    t = np.full(index.shape + (length,), eps / (length - 1), dtype="float32")
    np.put_along_axis(t, index[..., None], 1.0 - eps, axis=-1)
    return t


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _kl_ref(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Elementwise KL t * (log t - log_softmax) in float64 with 0 log 0 = 0."""
    logits = logits.astype("float64")
    log_p = logits - logits.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    log_t = np.log(np.where(target > 0, target, 1.0))
    return target * (log_t - log_p)


def _simdr_case(rng, target_kind="gauss"):
    x_logits = rng.normal(0, 2, (N, K, WK)).astype("float32")
    y_logits = rng.normal(0, 2, (N, K, HK)).astype("float32")
    if target_kind == "gauss":
        x_t = _gaussian(rng.uniform(0, WK - 1, (N, K)), WK)
        y_t = _gaussian(rng.uniform(0, HK - 1, (N, K)), HK)
    else:
        x_t = _smoothed_onehot(rng.integers(0, WK, (N, K)), WK, 0.1)
        y_t = _smoothed_onehot(rng.integers(0, HK, (N, K)), HK, 0.1)
    weight = rng.integers(0, 2, (N, K)).astype("float32")
    weight[0, 0] = 1.0
    return x_logits, y_logits, {"x_target": x_t, "y_target": y_t, "target_weight": weight}


def _call(loss, x_logits, y_logits, targets) -> float:
    out = (paddle.to_tensor(x_logits), paddle.to_tensor(y_logits))
    tt = {k: paddle.to_tensor(v) for k, v in targets.items()}
    return float(loss(out, tt))


def test_kl_matches_official_reduction(rng):
    x_logits, y_logits, t = _simdr_case(rng)
    expected = 0.0  # official KLDiscretLoss loop: per joint, mean bins, x weight, mean batch
    for j in range(K):
        w = t["target_weight"][:, j]
        expected += (_kl_ref(x_logits[:, j], t["x_target"][:, j]).mean(-1) * w).mean()
        expected += (_kl_ref(y_logits[:, j], t["y_target"][:, j]).mean(-1) * w).mean()
    expected /= K
    assert _call(KLDiscretLoss(), x_logits, y_logits, t) == pytest.approx(expected, rel=1e-4)


def test_nmt_matches_official_reduction(rng):
    x_logits, y_logits, t = _simdr_case(rng, "onehot")
    expected = 0.0  # official NMTCritierion loop: per joint, sum bins, x weight, sum batch; / N
    for j in range(K):
        w = t["target_weight"][:, j]
        expected += (_kl_ref(x_logits[:, j], t["x_target"][:, j]).sum(-1) * w).sum()
        expected += (_kl_ref(y_logits[:, j], t["y_target"][:, j]).sum(-1) * w).sum()
    expected /= N
    assert _call(NMTCriterion(0.1), x_logits, y_logits, t) == pytest.approx(expected, rel=1e-4)


def test_nmt_is_named_for_the_official_nmt_critierion() -> None:
    """The 'nmt' loss is the official NMTCritierion (sum over bins / N), not NMTNORM; the old
    class name stays an alias with the same behaviour."""
    from simdr_lib import losses

    assert type(build_loss("nmt")) is NMTCriterion
    assert losses.NMTNormCriterion is NMTCriterion
    assert "NMTCritierion" in (NMTCriterion.__doc__ or "")


def test_nmt_index_targets_equal_smoothed_vectors(rng):
    x_logits, y_logits, t = _simdr_case(rng, "onehot")
    idx = {
        "x_target": t["x_target"].argmax(-1),
        "y_target": t["y_target"].argmax(-1),
        "target_weight": t["target_weight"],
    }
    loss = build_loss("nmt", label_smoothing=0.1)
    assert _call(loss, x_logits, y_logits, idx) == pytest.approx(
        _call(loss, x_logits, y_logits, t), rel=1e-5
    )


@pytest.mark.parametrize("kind,target_kind", [("kl", "gauss"), ("nmt", "onehot")])
def test_zero_at_target_and_positive_elsewhere(rng, kind, target_kind):
    x_logits, y_logits, t = _simdr_case(rng, target_kind)
    loss = build_loss(kind)
    perfect = _call(loss, np.log(t["x_target"]), np.log(t["y_target"]), t)
    assert abs(perfect) < 1e-5
    assert _call(loss, x_logits, y_logits, t) > 1e-3


@pytest.mark.parametrize("kind,target_kind", [("kl", "gauss"), ("nmt", "onehot")])
def test_finite_with_extreme_logits_and_zero_weights(rng, kind, target_kind):
    _, _, t = _simdr_case(rng, target_kind)
    x_t = t["x_target"].copy()
    x_t[..., ::2] = 0.0  # exact zeros in the target: no log(0)
    x_t /= x_t.sum(-1, keepdims=True)
    t["x_target"] = x_t
    x_logits = paddle.to_tensor(rng.choice([-1e4, 1e4], (N, K, WK)).astype("float32"))
    y_logits = paddle.to_tensor(rng.choice([-1e4, 1e4], (N, K, HK)).astype("float32"))
    x_logits.stop_gradient = False
    y_logits.stop_gradient = False
    loss = build_loss(kind)
    value = loss((x_logits, y_logits), {k: paddle.to_tensor(v) for k, v in t.items()})
    value.backward()
    assert np.isfinite(float(value)) and float(value) > 0
    assert np.isfinite(x_logits.grad.numpy()).all() and np.isfinite(y_logits.grad.numpy()).all()
    t["target_weight"] = np.zeros((N, K), "float32")
    assert _call(loss, x_logits.numpy(), y_logits.numpy(), t) == 0.0


@pytest.mark.parametrize("kind,target_kind", [("kl", "gauss"), ("nmt", "onehot")])
def test_zero_weight_removes_joint(rng, kind, target_kind):
    x_logits, y_logits, t = _simdr_case(rng, target_kind)
    t["target_weight"][1, 2] = 0.0
    loss = build_loss(kind)
    before = _call(loss, x_logits, y_logits, t)
    x_logits[1, 2] = rng.normal(0, 50, WK)
    y_logits[1, 2] = 1e4
    assert _call(loss, x_logits, y_logits, t) == pytest.approx(before, rel=1e-6)
    t["target_weight"][1, 2] = 1.0
    assert _call(loss, x_logits, y_logits, t) > before


def test_target_weight_shape_n_k_1_and_numpy_targets(rng):
    x_logits, y_logits, t = _simdr_case(rng)
    loss = KLDiscretLoss()
    reference = _call(loss, x_logits, y_logits, t)
    t3 = dict(t, target_weight=t["target_weight"][..., None])  # official (N, K, 1), as numpy
    value = loss((paddle.to_tensor(x_logits), paddle.to_tensor(y_logits)), t3)
    assert float(value) == pytest.approx(reference, rel=1e-6)


def test_mse_matches_official_and_respects_weights(rng):
    pred = rng.normal(size=(N, K, 8, 6)).astype("float32")
    gt = rng.uniform(size=(N, K, 8, 6)).astype("float32")
    weight = np.ones((N, K), "float32")
    weight[0, 1] = 0.0
    loss = JointsMSELoss()

    def run(p):
        targets = {"heatmap": paddle.to_tensor(gt), "target_weight": paddle.to_tensor(weight)}
        return float(loss((paddle.to_tensor(p),), targets))

    expected = 0.5 * np.mean(((pred - gt) * weight[..., None, None]) ** 2)
    assert run(pred) == pytest.approx(expected, rel=1e-5)
    assert run(gt) == 0.0
    changed = pred.copy()
    changed[0, 1] += 100.0
    assert run(changed) == pytest.approx(run(pred), rel=1e-6)


def test_errors_name_the_problem(rng):
    x_logits, y_logits, t = _simdr_case(rng)
    out = (paddle.to_tensor(x_logits), paddle.to_tensor(y_logits))
    with pytest.raises(ConfigError, match="unknown loss 'l1'"):
        build_loss("l1")
    with pytest.raises(ConfigError, match="'y_target'"):
        KLDiscretLoss()(out, {"x_target": t["x_target"], "target_weight": t["target_weight"]})
    bad = dict(t, x_target=t["x_target"][..., :-1])
    with pytest.raises(ConfigError, match=r"x_target has shape \[3, 4, 11\]"):
        KLDiscretLoss()(out, bad)
    with pytest.raises(ConfigError, match="label_smoothing"):
        build_loss("nmt", label_smoothing=1.0)
    with pytest.raises(ConfigError, match="heatmaps"):
        JointsMSELoss()(out, {"heatmap": t["x_target"], "target_weight": t["target_weight"]})
