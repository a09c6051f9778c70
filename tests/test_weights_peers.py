"""Weights written by PaddleDetection / the seed and the official PyTorch SimDR, loaded through
every public route (``-o weights=``, ``--pretrained``, ``simdr convert``) with the layout
detected, reproduce the peers' own outputs (``tests/fixtures/peer_weights/README.md``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import paddle
import pytest
from conftest import ROOT, cli_overrides, tiny_overrides
from weights_helpers import PEERS

from simdr_lib.cli import main
from simdr_lib.models import HeatmapHead, HRNet, PoseModel, SimDRHead
from simdr_lib.weights import (
    load_model_weights,
    load_pretrained,
    read_weights,
)

EXPECTED = np.load(PEERS / "expected.npz")
INPUT_WH = (32, 64)  # the fixtures' input: H x W = 64 x 32
ATOL_F64 = 1e-8
#: float32: 1e-4 on the SimDR logits (|values| <= 20); the heatmap (values up to 21) differs
#: by 1.4e-4, less than the peer's own float32 output differs from its float64 one (1.5e-4)
ATOL_F32 = {"simdr": 1e-4, "heatmap": 2e-4}

# file, head, expected output keys, layout
PEER_FILES = [
    ("ppdet_hrnet_w4_simdr_k2.pdparams", "simdr", ("ppdet_simdr_x", "ppdet_simdr_y")),
    ("ppdet_hrnet_w4_heatmap.pdparams", "heatmap", ("ppdet_heatmap",)),
    ("official_simdr_w4_k2.pth", "simdr", ("official_x", "official_y")),
    ("official_simdr_w4_k2_legacy.pth", "simdr", ("official_x", "official_y")),
]
LAYOUT = {"ppdet": "paddledetection", "official": "official"}


@pytest.fixture(scope="module")
def peer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixtures, plus the PaddleDetection heatmap model derived from the SimDR one."""
    folder = tmp_path_factory.mktemp("peers")
    for name in ("ppdet_hrnet_w4_simdr_k2.pdparams", "official_simdr_w4_k2.pth"):
        (folder / name).symlink_to(PEERS / name)
    (folder / "official_simdr_w4_k2_legacy.pth").symlink_to(
        PEERS / "official_simdr_w4_k2_legacy.pth"
    )
    simdr = read_weights(PEERS / "ppdet_hrnet_w4_simdr_k2.pdparams").obj
    heatmap = {k: v for k, v in simdr.items() if not k.startswith("mlp_head_")}
    names = heatmap["StructuredToParameterName@@"]  # paddle.load checks the table's names
    heatmap["StructuredToParameterName@@"] = {k: v for k, v in names.items() if k in heatmap}
    (folder / "ppdet_hrnet_w4_heatmap.pdparams").write_bytes(pickle.dumps(heatmap, protocol=4))
    return folder


def peer_model(head: str, dtype: str = "float32") -> PoseModel:
    layer = SimDRHead(4, 17, INPUT_WH, 2.0) if head == "simdr" else HeatmapHead(4, 17)
    model = PoseModel(HRNet(4), layer)
    if dtype != "float32":
        model.to(dtype=dtype)
    model.eval()
    return model


def max_diff(model: PoseModel, keys: tuple[str, ...], dtype: str) -> float:
    suffix = "_f64" if dtype == "float64" else ""
    with paddle.no_grad():
        outputs = model(paddle.to_tensor(EXPECTED["input"].astype(dtype)))
    return max(float(np.abs(o.numpy() - EXPECTED[k + suffix]).max()) for o, k in zip(outputs, keys))


def check_outputs(model_for: callable, head: str, keys: tuple[str, ...]) -> None:
    for dtype, atol in (("float32", ATOL_F32[head]), ("float64", ATOL_F64)):
        diff = max_diff(model_for(dtype), keys, dtype)
        assert diff <= atol, f"{dtype}: max abs difference {diff:.3g} > {atol:g}"


@pytest.mark.compat
@pytest.mark.parametrize(("name", "head", "keys"), PEER_FILES, ids=[f[0] for f in PEER_FILES])
def test_weights_route_reproduces_the_peer(name, head, keys, peer_dir: Path) -> None:
    """What ``-o weights=`` does (eval, export, infer, train --weights): strict, auto-detected."""
    lines: list[str] = []

    def loaded(dtype: str) -> PoseModel:
        model = peer_model(head, dtype)
        report = load_model_weights(model, peer_dir / name, log=lines.append)
        assert report.layout == LAYOUT[name.split("_")[0]]
        return model

    check_outputs(loaded, head, keys)
    total = 1466 if head == "simdr" else 1462
    title = "PaddleDetection / seed" if name.startswith("ppdet") else "official PyTorch"
    assert f"{title}" in lines[0] and f"{total}/{total} tensors loaded, 0 missing" in lines[0]
    if name.startswith("official"):
        assert lines[0].endswith("0 unexpected, 292 BN counters dropped")


@pytest.mark.compat
@pytest.mark.parametrize(("name", "head", "keys"), PEER_FILES, ids=[f[0] for f in PEER_FILES])
def test_convert_then_load_reproduces_the_peer(name, head, keys, peer_dir, tmp_path, capsys):
    out = tmp_path / "converted.pdparams"
    assert main(["convert", str(peer_dir / name), str(out)]) == 0
    said = capsys.readouterr().out
    assert f"-o model.backbone=hrnet_w4 -o model.head={head} -o model.num_joints=17" in said
    if head == "simdr":
        assert "-o codec.input_size=[32,64] -o codec.split_ratio=2" in said
    meta = read_weights(out).obj["meta"]
    assert meta["source_layout"] == LAYOUT[name.split("_")[0]]
    assert meta["architecture"]["backbone"] == "hrnet_w4"
    assert meta["conventions"]["preprocess"]["padding"] == 1.25

    def loaded(dtype: str) -> PoseModel:
        model = peer_model(head, dtype)
        assert load_model_weights(model, out, log=None).layout == "simdr"
        return model

    check_outputs(loaded, head, keys)
    assert main(["convert", str(peer_dir / name), str(out)]) == 2  # no silent overwrite
    assert "exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ppdet_hrnet_w4_simdr_k2.pdparams", "official_simdr_w4_k2.pth"])
def test_pretrained_route_loads_the_peer_backbone_and_fitting_head(name, peer_dir) -> None:
    """``--pretrained``: the backbone features match; a heatmap file gives the SimDR model its
    final conv (the seed fine-tunes from DARK-HRNet that way) and leaves the Linear heads."""
    prefix = "ppdet" if name.startswith("ppdet") else "official"
    for dtype, atol in (("float32", 1e-3), ("float64", ATOL_F64)):
        model = peer_model("simdr", dtype)
        lines: list[str] = []
        load_pretrained(model, peer_dir / name, log=lines.append)
        assert lines[0].endswith("(backbone 1460/1460, head 6)")
        with paddle.no_grad():
            feats = model.backbone(paddle.to_tensor(EXPECTED["input"].astype(dtype))).numpy()
        ref = EXPECTED[f"{prefix}_features" + ("_f64" if dtype == "float64" else "")]
        assert float(np.abs(feats - ref).max()) <= atol
    model = peer_model("simdr")
    before = model.head.mlp_head_x.weight.numpy().copy()
    lines = []
    load_pretrained(model, peer_dir / "ppdet_hrnet_w4_heatmap.pdparams", log=lines.append)
    assert lines[0].endswith("(backbone 1460/1460, head 2)")
    np.testing.assert_array_equal(model.head.mlp_head_x.weight.numpy(), before)
    ref = read_weights(peer_dir / "ppdet_hrnet_w4_heatmap.pdparams").obj["final_conv.weight"]
    np.testing.assert_array_equal(model.head.final_layer.weight.numpy(), ref)


def _w4_opts(small_dataset: Path, save_dir: Path, head: str = "simdr") -> list[str]:
    values = tiny_overrides(small_dataset, save_dir)
    values.update({"model.backbone": "hrnet_w4", "codec.input_size": "[32, 64]"})
    values.pop("model.tiny_width")
    if head == "heatmap":
        values.update({"model.head": "heatmap", "codec.type": "heatmap", "codec.sigma": 2.0})
    return cli_overrides(values)


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("ppdet_hrnet_w4_simdr_k2.pdparams", "simdr"),
        ("ppdet_hrnet_w4_heatmap.pdparams", "heatmap"),
        ("official_simdr_w4_k2_legacy.pth", "simdr"),
    ],
)
def test_cli_eval_and_train_accept_peer_files(
    name, head, peer_dir, small_dataset, tmp_path, capsys
):
    config = str(ROOT / "configs" / "demo_tiny.yml")
    opts = _w4_opts(small_dataset, tmp_path / "ckpt", head)
    out = tmp_path / "eval"
    weights = str(peer_dir / name)
    args = ["eval", "-c", config, *opts, "-o", f"weights={weights}", "--quiet"]
    assert main([*args, "--output_dir", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"weights {weights}: " in said and "0 missing, 0 unexpected" in said
    assert "AP" in said and any(out.iterdir())
    train = [
        "train",
        "-c",
        config,
        *opts,
        "-o",
        "train.epochs=1",
        "-o",
        "train.max_steps_per_epoch=1",
    ]
    assert main([*train, "--pretrained", weights, "--quiet"]) == 0
    said = capsys.readouterr().out
    assert f"pretrained weights {weights}: " in said and "backbone 1460/1460" in said


def test_a_heatmap_file_for_a_simdr_config_says_what_it_is(
    peer_dir, small_dataset, tmp_path, capsys
):
    config = str(ROOT / "configs" / "demo_tiny.yml")
    weights = peer_dir / "ppdet_hrnet_w4_heatmap.pdparams"
    opts = _w4_opts(small_dataset, tmp_path / "ckpt")
    assert main(["eval", "-c", config, *opts, "-o", f"weights={weights}", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "(PaddleDetection / seed (Paddle-SimDR) layout)" in err
    assert "4 missing (first: head.mlp_head_x.weight)" in err
    assert "the file is a heatmap model" in err and "--pretrained" in err
    sized = [*opts, "-o", "codec.input_size=[64, 64]"]
    assert main(["eval", "-c", config, *sized, "-o", f"weights={peer_dir / PEER_FILES[0][0]}"]) == 2
    err = capsys.readouterr().err
    assert "SimDR head is for codec.input_size [32, 64] and split_ratio 2" in err


def test_export_records_the_layout_and_conventions(peer_dir, small_dataset, tmp_path, capsys):
    import yaml

    config = str(ROOT / "configs" / "demo_tiny.yml")
    converted = tmp_path / "seed_w4.pdparams"
    assert main(["convert", str(peer_dir / PEER_FILES[0][0]), str(converted)]) == 0
    out = tmp_path / "export"
    opts = _w4_opts(small_dataset, tmp_path / "ckpt")
    rc = main(
        ["export", "-c", config, *opts, "-o", f"weights={converted}", "--output_dir", str(out)]
    )
    assert rc == 0, capsys.readouterr().err
    source = yaml.safe_load((out / "infer_cfg.yml").read_text())["source"]
    assert source["weights_layout"] == "simdr"
    assert source["converted_from"] == str(peer_dir / PEER_FILES[0][0])
    conventions = source["weights_conventions"]
    assert conventions["preprocess"]["channel_order"] == "RGB"
    assert conventions["protocol"]["flip_shift_bins"] == 0.0  # the seed's flip test


def test_recorded_preprocessing_is_what_the_data_pipeline_does() -> None:
    from simdr_lib.config import DataConfig
    from simdr_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from simdr_lib.weights.conventions import PREPROCESSING, preprocessing_mismatch

    assert PREPROCESSING["mean"] == [float(v) for v in IMAGENET_MEAN]
    assert PREPROCESSING["std"] == [float(v) for v in IMAGENET_STD]
    assert (PREPROCESSING["padding"], PREPROCESSING["pixel_std"]) == (
        DataConfig().padding,
        DataConfig().pixel_std,
    )
    note = preprocessing_mismatch({"preprocess": PREPROCESSING}, 1.0, 200.0)
    assert note == "data.padding 1 (the weights were trained with 1.25)"


def test_a_config_with_other_padding_is_pointed_out(peer_dir, small_dataset, tmp_path, capsys):
    config = str(ROOT / "configs" / "demo_tiny.yml")
    opts = [*_w4_opts(small_dataset, tmp_path / "ckpt"), "-o", "data.padding=1.0"]
    weights = peer_dir / PEER_FILES[0][0]
    assert main(["eval", "-c", config, *opts, "-o", f"weights={weights}", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "note: the config sets data.padding 1 (the weights were trained with 1.25)" in said
