"""Models: parameter counts vs. published numbers, shapes, names, validation, gradients."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from simdr_lib.errors import ConfigError
from simdr_lib.losses import build_loss
from simdr_lib.models import (
    HRNet,
    build_model,
    count_parameters,
    map_official_key,
    model_summary,
)

# Published counts: HRNet paper / official pose configs (heatmap), SimDR paper table (SimDR).
PUBLISHED = [
    ("hrnet_w32", "heatmap", (192, 256), 2.0, 28.5e6),
    ("hrnet_w48", "heatmap", (288, 384), 2.0, 63.6e6),
    ("hrnet_w32", "simdr", (192, 256), 2.0, 31.3e6),
    ("hrnet_w32", "simdr", (128, 128), 2.0, 29.1e6),
    ("hrnet_w32", "simdr", (64, 64), 2.0, 28.6e6),
]


@pytest.mark.parametrize("backbone,head,size,k,expected", PUBLISHED)
def test_parameter_counts_match_published(backbone, head, size, k, expected):
    model = build_model(backbone, head, 17, size, k)
    n = count_parameters(model)
    assert abs(n - expected) / expected < 0.01, f"{backbone}+{head} {size}: {n}"


@pytest.fixture(scope="module")
def hrnet_w32() -> HRNet:
    paddle.seed(0)
    return HRNet(32)


def test_hrnet_parameter_names_are_stable(hrnet_w32):
    names = {n for n, _ in hrnet_w32.named_parameters()}
    for name in [
        "stem.conv1.weight",
        "stem.bn2._variance",
        "stage1.0.downsample.0.weight",
        "stage1.3.conv3.weight",
        "transition1.0.0.weight",
        "transition1.1.0.0.weight",
        "transition3.3.0.1.bias",
        "stage2.0.branches.1.0.conv1.weight",
        "stage3.3.fuse_layers.2.0.1.0.weight",  # 1/4 -> 1/16: second strided conv
        "stage4.2.branches.3.3.bn2.weight",
        "stage4.2.fuse_layers.0.3.0.weight",
    ]:
        assert name in names, name
    # the last module fuses into the highest-resolution branch only
    assert not any(n.startswith("stage4.2.fuse_layers.1.") for n in names)
    assert any(n.startswith("stage4.1.fuse_layers.3.") for n in names)


def test_map_official_key(hrnet_w32):
    assert map_official_key("conv1.weight") == "backbone.stem.conv1.weight"
    assert map_official_key("module.layer1.0.bn3.running_mean") == "backbone.stage1.0.bn3._mean"
    assert (
        map_official_key("stage2.0.branches.1.0.bn1.running_var")
        == "backbone.stage2.0.branches.1.0.bn1._variance"
    )
    assert map_official_key("mlp_head_y.bias") == "head.mlp_head_y.bias"
    assert map_official_key("final_layer.weight") == "head.final_layer.weight"
    assert map_official_key("bn1.num_batches_tracked") is None
    assert map_official_key("incre_modules.0.0.conv1.weight") is None
    assert map_official_key("final_layer.0.weight") is None
    ours = {"backbone." + n for n, _ in hrnet_w32.named_parameters()}
    assert map_official_key("stage4.2.fuse_layers.0.1.1.running_var") in ours


def test_hrnet_forward_shape(hrnet_w32):
    # 64x64, not 64x48: HRNet needs W and H divisible by 32 (its 1/32 branch is upsampled x8)
    hrnet_w32.eval()
    with paddle.no_grad():
        out = hrnet_w32(paddle.randn([1, 3, 64, 64]))
    assert out.shape == [1, 32, 16, 16]
    assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("k", [2.0, 1.5])
def test_tiny_simdr_shapes(k):
    model = build_model("tiny", "simdr", 17, (96, 128), k)
    x_logits, y_logits = model(paddle.randn([2, 3, 128, 96]))
    assert x_logits.shape == [2, 17, int(96 * k)]
    assert y_logits.shape == [2, 17, int(128 * k)]
    summary = model_summary(model, (96, 128))
    assert summary["output_shapes"] == {
        "x_logits": (17, int(96 * k)),
        "y_logits": (17, int(128 * k)),
    }
    assert summary["feature_shape"] == (32, 32, 24)
    assert summary["params_total"] == summary["params_backbone"] + summary["params_head"]


def test_tiny_heatmap_shapes_and_size():
    model = build_model("tiny", "heatmap", 17, (48, 64))
    (heatmaps,) = model(paddle.randn([2, 3, 64, 48]))
    assert heatmaps.shape == [2, 17, 16, 12]
    summary = model_summary(model, (48, 64))
    assert summary["output_shapes"] == {"heatmaps": (17, 16, 12)}
    assert 1e5 <= summary["params_backbone"] <= 5e5


def test_tiny_accepts_sizes_divisible_by_4_only():
    model = build_model("tiny", "simdr", 5, (52, 68), 1.0)  # 1/4 maps of odd size (13 x 17)
    x_logits, y_logits = model(paddle.randn([1, 3, 68, 52]))
    assert x_logits.shape == [1, 5, 52] and y_logits.shape == [1, 5, 68]
    with pytest.raises(ConfigError, match=r"\[50, 64\]"):
        build_model("tiny", "simdr", 5, (50, 64))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(backbone="hrnet_w32", input_size=(192, 250)), r"\[192, 250\].*32"),
        (dict(backbone="hrnet_w48", input_size=(48, 64)), r"\[48, 64\].*32"),
        (dict(backbone="resnet50"), "unknown backbone 'resnet50'"),
        (dict(head="dsnt"), "unknown head 'dsnt'"),
        (dict(input_size=(96,)), "input_size"),
        (dict(num_joints=0), "num_joints"),
        (dict(split_ratio=0.0), "split_ratio"),
    ],
)
def test_build_model_validation(kwargs, match):
    args = dict(backbone="tiny", head="simdr", num_joints=17, input_size=(96, 128))
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        build_model(**args)


def test_count_parameters_skips_bn_statistics():
    bn = paddle.nn.BatchNorm2D(8)
    assert count_parameters(bn) == 16
    layer = paddle.nn.Sequential(paddle.nn.Linear(3, 4), bn)
    layer[0].weight.stop_gradient = True
    assert count_parameters(layer) == 12 + 4 + 16
    assert count_parameters(layer, trainable_only=True) == 4 + 16


def _random_simdr_targets(rng, n, k, wk, hk):
    def soft(m):
        logits = rng.normal(0.0, 3.0, (n, k, m))
        p = np.exp(logits - logits.max(-1, keepdims=True))
        return (p / p.sum(-1, keepdims=True)).astype("float32")

    return {
        "x_target": paddle.to_tensor(soft(wk)),
        "y_target": paddle.to_tensor(soft(hk)),
        "target_weight": paddle.ones([n, k]),
    }


def test_gradient_reaches_every_parameter():
    paddle.seed(1)
    model = build_model("tiny", "simdr", 17, (48, 64), 2.0)
    model.train()
    targets = _random_simdr_targets(np.random.default_rng(0), 2, 17, 96, 128)
    loss = build_loss("kl")(model(paddle.randn([2, 3, 64, 48])), targets)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if not p.stop_gradient]
    assert len(trainable) > 20
    for name, param in trainable:
        assert param.grad is not None, name
        assert np.isfinite(param.grad.numpy()).all(), name
    nonzero = [n for n, p in trainable if np.abs(p.grad.numpy()).max() > 0]
    assert len(nonzero) == len(trainable)


def test_adam_steps_reduce_loss():
    paddle.seed(2)
    model = build_model("tiny", "simdr", 4, (32, 32), 2.0, tiny_width=16)
    images = paddle.randn([4, 3, 32, 32])
    targets = _random_simdr_targets(np.random.default_rng(1), 4, 4, 64, 64)
    loss_fn = build_loss("kl")
    opt = paddle.optimizer.Adam(learning_rate=3e-3, parameters=model.parameters())
    losses = []
    for _ in range(8):
        loss = loss_fn(model(images), targets)
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
    assert losses[-1] < 0.9 * losses[0], losses
