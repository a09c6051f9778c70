"""ImageNet-pretrained HRNet weights in PaddleClas / official / our naming onto our backbone.

The fake PaddleClas files are generated from an independent description of the PaddleClas
``HRNet_W{w}_C`` layout (names and shapes from the channel widths, classifier included), not
from our model or from :func:`paddleclas_hrnet_name_map`, so the tests check the mapping.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from simdr_lib.errors import CheckpointError
from simdr_lib.models import build_model
from simdr_lib.weights import load_pretrained, map_state
from simdr_lib.weights.paddleclas import paddleclas_hrnet_name_map

BN = ("weight", "bias", "_mean", "_variance")


def paddleclas_layout(width: int, legacy: bool = False) -> dict[str, tuple[int, ...]]:
    """PaddleClas HRNet_W{width}_C tensor names -> shapes (ppcls legendary_models/hrnet.py)."""
    conv, bn = ("_conv", "_batch_norm") if legacy else ("conv", "bn")
    tr = ("tr1_1", "tr1_2", "tr2", "tr3") if legacy else ("conv_tr1_1", "conv_tr1_2")
    if not legacy:
        tr += ("conv_tr2", "conv_tr3")
    out: dict[str, tuple[int, ...]] = {}

    def cbn(name: str, cin: int, cout: int, k: int) -> None:
        out[f"{name}.{conv}.weight"] = (cout, cin, k, k)
        for t in BN:
            out[f"{name}.{bn}.{t}"] = (cout,)

    def bottleneck(name: str, cin: int, planes: int, down: bool) -> None:
        cbn(f"{name}.conv1", cin, planes, 1)
        cbn(f"{name}.conv2", planes, planes, 3)
        cbn(f"{name}.conv3", planes, planes * 4, 1)
        if down:
            cbn(f"{name}.conv_down", cin, planes * 4, 1)

    cbn("conv_layer1_1", 3, 64, 3)
    cbn("conv_layer1_2", 64, 64, 3)
    for i in range(4):
        bottleneck(f"layer1.{i}", 64 if i == 0 else 256, 64, i == 0)
    w = [width, 2 * width, 4 * width, 8 * width]
    cbn(tr[0], 256, w[0], 3)
    cbn(tr[1], 256, w[1], 3)
    cbn(tr[2], w[1], w[2], 3)
    cbn(tr[3], w[2], w[3], 3)
    for stage, modules in ((2, 1), (3, 4), (4, 3)):
        ch = w[:stage]
        for m in range(modules):
            p = f"st{stage}.stage_func_list.{m}"
            for b, c in enumerate(ch):
                for k in range(4):
                    cbn(f"{p}.basic_block_list.{b}.{k}.conv1", c, c, 3)
                    cbn(f"{p}.basic_block_list.{b}.{k}.conv2", c, c, 3)
            r = 0  # flat residual_func_list, all outputs (classifier keeps them all)
            for i in range(stage):
                for j in range(stage):
                    if j > i:
                        cbn(f"{p}.fuse_func.residual_func_list.{r}", ch[j], ch[i], 1)
                        r += 1
                    elif j < i:
                        pre = ch[j]
                        for k in range(i - j):
                            nxt = ch[i] if k == i - j - 1 else ch[j]
                            cbn(f"{p}.fuse_func.residual_func_list.{r}", pre, nxt, 3)
                            pre, r = nxt, r + 1
    cls = [32, 64, 128, 256]  # classification head
    for idx in range(4):
        bottleneck(f"last_cls.func_list.{idx}", w[idx], cls[idx], True)
    for idx, cout in enumerate((256, 512, 1024)):
        cbn(f"cls_head_conv_list.{idx}", cls[idx] * 4, cout, 3)
    cbn("conv_last", 1024, 2048, 1)
    fc = "out" if legacy else "fc"
    out[f"{fc}.weight"], out[f"{fc}.bias"] = (2048, 1000), (1000,)
    return out


def fake_weights(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.random(s, dtype=np.float32) + 0.5 for k, s in layout.items()}


def w32_model():
    return build_model("hrnet_w32", "simdr", 17, (192, 256))


def detect_format(names: dict[str, tuple[int, ...]], model) -> tuple[str, dict[str, str]]:
    """(layout, {our name: file name}) that :func:`map_state` finds for a file's names."""
    state = {k: np.full(s if isinstance(s, tuple) else (1,), i, np.float32)
             for i, (k, s) in enumerate(names.items())}  # fmt: skip
    mapped = map_state(state, model.state_dict(), model.backbone)
    keys = list(names)
    return mapped.layout, {k: keys[int(v.flat[0])] for k, v in mapped.tensors.items()}


# (our name, PaddleClas name), written out by hand from the two layouts
_F = "fuse_func.residual_func_list"
SPOT_CHECKS = [
    ("stem.conv1.weight", "conv_layer1_1.conv.weight"),
    ("stem.bn2._variance", "conv_layer1_2.bn._variance"),
    ("stage1.0.downsample.0.weight", "layer1.0.conv_down.conv.weight"),
    ("stage1.3.bn3.bias", "layer1.3.conv3.bn.bias"),
    ("transition1.1.0.0.weight", "conv_tr1_2.conv.weight"),
    ("transition3.3.0.1._mean", "conv_tr3.bn._mean"),
    ("stage2.0.branches.1.3.conv2.weight",
     "st2.stage_func_list.0.basic_block_list.1.3.conv2.conv.weight"),
    ("stage3.2.fuse_layers.2.0.1.0.weight", f"st3.stage_func_list.2.{_F}.5.conv.weight"),
    ("stage3.2.fuse_layers.2.1.0.1.weight", f"st3.stage_func_list.2.{_F}.6.bn.weight"),
    ("stage4.1.fuse_layers.3.2.0.0.weight", f"st4.stage_func_list.1.{_F}.15.conv.weight"),
    ("stage4.2.fuse_layers.0.3.0.weight", f"st4.stage_func_list.2.{_F}.2.conv.weight"),
]  # fmt: skip


def test_paddleclas_w32_file_loads_every_backbone_tensor(tmp_path):
    weights = fake_weights(paddleclas_layout(32))
    path = tmp_path / "HRNet_W32_C_pretrained.pdparams"
    paddle.save(weights, str(path))
    model = w32_model()
    lines: list[str] = []
    report = load_pretrained(model, path, log=lines.append)
    state = model.backbone.state_dict()
    assert report.layout == "paddleclas" and report.loaded == len(state) == 1460
    assert report.unexpected == len(weights) - len(state)
    assert report.missing == len(model.head.state_dict())  # ImageNet files have no pose head
    assert lines == [report.line() + " (backbone 1460/1460, head 0)"]
    assert "PaddleClas ImageNet HRNet layout, 1460/1466 tensors loaded" in lines[0]
    for ours, theirs in SPOT_CHECKS:
        np.testing.assert_array_equal(state[ours].numpy(), weights[theirs], err_msg=ours)
    # every backbone tensor holds a distinct file tensor (random values identify the source)
    by_bytes = {v.tobytes(): k for k, v in weights.items()}
    sources = [by_bytes.get(t.numpy().tobytes()) for t in state.values()]
    assert None not in sources and len(set(sources)) == len(state)
    assert not any(s.startswith(("last_cls", "cls_head", "conv_last", "fc.")) for s in sources)


def test_w48_file_into_w32_model_is_one_line_shape_error(tmp_path):
    layout = paddleclas_layout(48)
    layout = {k: s for k, s in layout.items() if not k.startswith(("last_cls", "cls_", "fc."))}
    path = tmp_path / "HRNet_W48_C_pretrained.pdparams"
    paddle.save({k: np.zeros(s, np.float16) for k, s in layout.items()}, str(path))
    with pytest.raises(CheckpointError, match="shape mismatches") as info:
        load_pretrained(w32_model(), path, log=None)
    assert "\n" not in str(info.value)
    assert "file [48, 256, 3, 3] vs model [32, 256, 3, 3]" in str(info.value)
    assert "the file is hrnet_w48, the config builds hrnet_w32" in str(info.value)


def test_unrelated_state_dict_reports_how_few_tensors_match(tmp_path):
    path = tmp_path / "other.pdparams"
    rng = np.random.default_rng(1)
    paddle.save({f"encoder.layers.{i}.weight": rng.random((4, 4)) for i in range(20)}, str(path))
    with pytest.raises(CheckpointError, match=r"only 0/1460 backbone tensors match") as info:
        load_pretrained(w32_model(), path, log=None)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def backbone():
    return w32_model()


def test_detects_each_naming(backbone):
    ours = backbone.backbone.state_dict()
    n = len(ours)
    legacy = paddleclas_layout(32, legacy=True)
    assert detect_format(legacy, backbone)[0] == "paddleclas-legacy"
    assert len(detect_format(legacy, backbone)[1]) == n
    prefixed = {"backbone." + k: tuple(v.shape) for k, v in ours.items()} | {"head.x.weight": (1,)}
    fmt, renamed = detect_format(prefixed, backbone)
    assert fmt == "simdr" and renamed == {"backbone." + k: "backbone." + k for k in ours}

    def official(name: str) -> str:
        name = name.replace("._mean", ".running_mean").replace("._variance", ".running_var")
        return name.removeprefix("stem.").replace("stage1.", "layer1.", 1)

    torch_names = {official(k): tuple(v.shape) for k, v in ours.items()}
    fmt, renamed = detect_format(torch_names | {"layer1.0.bn1.num_batches_tracked": ()}, backbone)
    assert fmt == "official" and renamed == {"backbone." + k: official(k) for k in ours}
    assert detect_format({"foo.weight": (1,)}, backbone) == ("none", {})


def test_se_hrnet_file_is_refused(backbone):
    names = paddleclas_layout(32)
    names["layer1.0.se.fc_squeeze.weight"] = (256, 16)
    with pytest.raises(CheckpointError, match="SE-HRNet"):
        detect_format(names, backbone)


def test_name_map_covers_backbone_and_skips_classifier():
    for width in (32, 48):
        table = paddleclas_hrnet_name_map(width)
        assert len(table) == len(set(table.values())) == 1460
        assert set(table) <= set(paddleclas_layout(width))
        assert not any(k.startswith(("last_cls", "cls_head", "conv_last", "fc.")) for k in table)


def test_imagenet_file_converts_to_a_backbone_file_for_pretrained(tmp_path):
    from simdr_lib.weights import convert_weights, read_weights

    weights = fake_weights(paddleclas_layout(32, legacy=True))
    src = tmp_path / "HRNet_W32_C_pretrained.pdparams"
    paddle.save(weights, str(src))
    lines: list[str] = []
    result = convert_weights(src, tmp_path / "w32_imagenet.pdparams", log=lines.append)
    assert result.layout == "paddleclas-legacy" and result.tensors == 1460
    assert "(PaddleClas ImageNet HRNet (older release) layout, hrnet_w32 backbone" in lines[0]
    assert lines[0].endswith(
        f"use it with --pretrained {result.output} with -o model.backbone=hrnet_w32"
    )
    meta = read_weights(result.output).obj["meta"]
    assert meta["architecture"]["backbone"] == "hrnet_w32" and meta["architecture"]["head"] is None
    assert meta["skipped_tensors"] == len(weights) - 1460  # the classifier
    direct, converted = w32_model(), w32_model()
    load_pretrained(direct, src, log=None)
    report = load_pretrained(converted, result.output, log=None)
    assert report.layout == "simdr" and report.unexpected == 0
    for key, value in direct.backbone.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), converted.backbone.state_dict()[key].numpy())
