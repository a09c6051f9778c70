"""Export folder and predictor: files per Paddle line, validation of the folder (one-line
ExportError naming the file), batching of all people of an image, image channel handling."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from deploy_helpers import DEMO, max_abs

from simdr_lib.errors import ExportError

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A random-init tiny model (48x64) saved as weights and exported; no dataset involved."""
    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.deploy import export_model
    from simdr_lib.factory import model_from_config

    base = tmp_path_factory.mktemp("export")
    over = {
        "codec.input_size": [48, 64],
        "model.tiny_width": 16,
        "device": "cpu",
        "data.root": str(base / "no_dataset_here"),
    }
    cfg = load_config(DEMO, over)
    paddle.seed(1)
    model = model_from_config(cfg)
    weights = base / "w.pdparams"
    paddle.save(model.state_dict(), str(weights))
    out = export_model(cfg, weights, base / "model")
    return {"cfg": cfg, "weights": weights, "dir": out, "base": base}


def _copy(exported: dict, name: str) -> Path:
    dst = exported["base"] / name
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(exported["dir"], dst)
    return dst


def _model_file(folder: Path) -> Path:
    return folder / ("model.json" if (folder / "model.json").exists() else "model.pdmodel")


def _edit_cfg(folder: Path, edit) -> None:
    path = folder / "infer_cfg.yml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _one_line_error(folder: Path, must_name: str, **kwargs) -> str:
    from simdr_lib.deploy import load_predictor

    with pytest.raises(ExportError) as info:
        load_predictor(folder, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and must_name in msg, msg
    return msg


# ----------------------------------------------------------------------------- export


def test_export_folder_contents(exported: dict) -> None:
    import paddle

    names = {p.name for p in exported["dir"].iterdir()}
    pir = int(paddle.__version__.split(".")[0]) >= 3
    assert ("model.json" in names) == pir and ("model.pdmodel" in names) != pir
    assert {"model.pdiparams", "infer_cfg.yml"} <= names
    assert not any(n.startswith(".") for n in names)
    assert not list(exported["base"].glob(".model.tmp-*"))


def test_reexport_replaces_a_previous_export(exported: dict) -> None:
    from simdr_lib.deploy import export_model

    folder = _copy(exported, "reexport")
    stale = folder / ("model.pdmodel" if _model_file(folder).name == "model.json" else "model.json")
    stale.write_text("stale file of another Paddle line")
    (folder / "model.onnx").write_bytes(b"stale")
    export_model(exported["cfg"], exported["weights"], folder)
    assert not stale.exists() and not (folder / "model.onnx").exists()


def test_export_without_weights_is_one_line_error(exported: dict) -> None:
    from simdr_lib.deploy import export_model

    with pytest.raises(ExportError, match="no weights given"):
        export_model(exported["cfg"], None, exported["base"] / "nothing")


def test_export_cli_needs_no_dataset(exported: dict, capsys) -> None:
    from simdr_lib.cli import main

    out = exported["base"] / "cli_export"
    rc = main(
        [
            "export",
            "-c",
            str(DEMO),
            "-o",
            f"weights={exported['weights']}",
            "-o",
            "codec.input_size=[48,64]",
            "-o",
            "model.tiny_width=16",
            "-o",
            "data.root=/nonexistent/dataset",
            "--output_dir",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert "exported demo_tiny to" in capsys.readouterr().out
    assert (out / "infer_cfg.yml").is_file()


def test_export_cli_bad_weights_one_line(exported: dict, capsys) -> None:
    from simdr_lib.cli import main

    bad = exported["base"] / "bad.pdparams"
    bad.write_bytes(b"\x00garbage")
    rc = main(["export", "-c", str(DEMO), "-o", f"weights={bad}", "--output_dir", "x"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err and "bad.pdparams" in err


def test_onnx_export_without_paddle2onnx_is_clear(exported: dict, monkeypatch) -> None:
    import sys

    from simdr_lib.deploy import export_model

    monkeypatch.setitem(sys.modules, "paddle2onnx", None)  # import raises ImportError
    with pytest.raises(ExportError) as info:
        export_model(exported["cfg"], exported["weights"], exported["base"] / "o", onnx=True)
    msg = str(info.value)
    assert "\n" not in msg and "paddle2onnx" in msg and "pip install" in msg


# ----------------------------------------------------------------------------- validation


def test_missing_model_file(exported: dict) -> None:
    folder = _copy(exported, "no_model")
    model = _model_file(folder)
    model.unlink()
    _one_line_error(folder, model.name)


def test_missing_params_file(exported: dict) -> None:
    folder = _copy(exported, "no_params")
    (folder / "model.pdiparams").unlink()
    _one_line_error(folder, "model.pdiparams")


def test_missing_infer_cfg(exported: dict) -> None:
    folder = _copy(exported, "no_cfg")
    (folder / "infer_cfg.yml").unlink()
    _one_line_error(folder, "infer_cfg.yml")


def test_missing_directory(exported: dict) -> None:
    _one_line_error(exported["base"] / "does_not_exist", "does_not_exist")


def test_wrong_schema_version(exported: dict) -> None:
    folder = _copy(exported, "schema")
    _edit_cfg(folder, lambda d: d.update(schema_version=99))
    msg = _one_line_error(folder, "infer_cfg.yml")
    assert "schema_version 99" in msg


def test_not_yaml(exported: dict) -> None:
    folder = _copy(exported, "garbage")
    (folder / "infer_cfg.yml").write_text("input_size: [48, 64\n  : : :\n")
    _one_line_error(folder, "infer_cfg.yml")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d.update(input_size=[64, 64]), id="input_size"),
        pytest.param(lambda d: d.update(input_size=[64, 48]), id="input_size_swapped"),
        pytest.param(
            lambda d: (d.update(input_size=[64, 64]), d["model"].update(input_shape=None)),
            id="input_size_and_shape",
        ),
        pytest.param(lambda d: d["codec"].update(split_ratio=3.0), id="split_ratio"),
        pytest.param(lambda d: d["codec"].update(type="heatmap"), id="codec_type"),
        pytest.param(
            lambda d: d.update(joint_names=d["joint_names"][:15], flip_pairs=[[1, 2]]),
            id="joints",
        ),
        pytest.param(lambda d: d["preprocess"].update(channel_order="BGR"), id="bgr"),
        pytest.param(lambda d: d["preprocess"].update(mean=[0.5, 0.5]), id="mean"),
        pytest.param(lambda d: d.update(flip_pairs=[[1, 40]]), id="flip_pairs"),
        pytest.param(lambda d: d.pop("codec"), id="no_codec"),
    ],
)
def test_mismatched_infer_cfg(exported: dict, edit) -> None:
    folder = _copy(exported, "mismatch")
    _edit_cfg(folder, edit)
    _one_line_error(folder, "infer_cfg.yml")


def test_model_file_of_other_line_named(exported: dict) -> None:
    """infer_cfg.yml names a model file that is not there (the other line's is)."""
    folder = _copy(exported, "other_line")
    model = _model_file(folder)
    other = "model.pdmodel" if model.name == "model.json" else "model.json"
    _edit_cfg(folder, lambda d: d["model"].update(model_file=other))
    msg = _one_line_error(folder, other)
    assert "does not match" in msg


def test_onnx_backend_without_onnx_file(exported: dict) -> None:
    _one_line_error(exported["dir"], "model.onnx", backend="onnx")


def test_cli_infer_bad_model_dir_one_line(exported: dict, tmp_path: Path, capsys) -> None:
    from simdr_lib.cli import main

    folder = _copy(exported, "cli_bad")
    _edit_cfg(folder, lambda d: d.update(schema_version=0))
    img = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(img), np.zeros((40, 30, 3), np.uint8))
    rc = main(["infer", "--model_dir", str(folder), "--input", str(img), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err
    assert "infer_cfg.yml" in err


# ----------------------------------------------------------------------------- predictor


class _Recorder:
    """Wraps a runner and records the batch size of every run."""

    def __init__(self, runner) -> None:
        self.runner, self.batches = runner, []

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def run(self, x):
        self.batches.append(int(x.shape[0]))
        return self.runner.run(x)


def _image(h: int = 120, w: int = 160) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_all_people_of_an_image_in_one_batch(exported: dict) -> None:
    from simdr_lib.deploy import load_predictor

    pred = load_predictor(exported["dir"], batch_size=32)
    pred.runner = _Recorder(pred.runner)
    boxes = np.array([[5, 5, 40, 80], [50, 10, 45, 90], [100, 20, 50, 95]], float)
    kps, scores = pred.predict_image(_image(), boxes, flip_test=True)
    assert kps.shape == (3, 17, 2) and scores.shape == (3, 17)
    assert pred.runner.batches == [3, 3]  # original + mirrored, each one batch of 3 people
    pred.runner.batches.clear()
    pred.predict_image(_image(), boxes, flip_test=False)
    assert pred.runner.batches == [3]
    assert np.all((scores >= 0) & (scores <= 1))


def test_batch_size_splits_large_inputs(exported: dict) -> None:
    from simdr_lib.deploy import load_predictor

    pred = load_predictor(exported["dir"], batch_size=4)
    pred.runner = _Recorder(pred.runner)
    x = np.random.default_rng(0).standard_normal((10, 3, 64, 48)).astype(np.float32)
    probs = pred.predict_crops(x)
    assert pred.runner.batches == [4, 4, 2]
    assert probs[0].shape == (10, 17, 96) and probs[1].shape == (10, 17, 128)
    np.testing.assert_allclose(probs[0].sum(-1), 1.0, atol=1e-4)  # softmax is in the graph
    with pytest.raises(ValueError, match="crops must be"):
        pred.predict_crops(x[:, :, :48, :64])


def test_whole_image_when_no_boxes(exported: dict) -> None:
    from simdr_lib.deploy import load_predictor

    pred = load_predictor(exported["dir"])
    img = _image()
    a = pred.predict_image(img, None)
    b = pred.predict_image(img, np.zeros((0, 4)))
    c = pred.predict_image(img, [[0, 0, 160, 120]])
    assert a[0].shape == (1, 17, 2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[0], c[0])


def test_grayscale_and_rgba_arrays(exported: dict) -> None:
    from simdr_lib.deploy import load_predictor

    pred = load_predictor(exported["dir"])
    gray = _image()[:, :, 0]
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    rgba = np.concatenate([rgb, np.full_like(gray[:, :, None], 255)], axis=2)
    ref = pred.predict_image(rgb, [[10, 10, 100, 100]])
    for img in (gray, gray[:, :, None], rgba):
        kps, scores = pred.predict_image(img, [[10, 10, 100, 100]])
        np.testing.assert_array_equal(kps, ref[0])
        np.testing.assert_array_equal(scores, ref[1])


def test_dynamic_predictor_same_interface(exported: dict) -> None:
    from simdr_lib.deploy import load_predictor, predictor_from_config

    dyn = predictor_from_config(exported["cfg"], exported["weights"])
    sta = load_predictor(exported["dir"])
    assert dyn.backend.startswith("paddle") and "dygraph" in dyn.backend
    boxes = [[5, 5, 60, 100], [70, 10, 60, 100]]
    kd, sd = dyn.predict_image(_image(), boxes)
    ks, ss = sta.predict_image(_image(), boxes)
    assert max_abs(kd, ks) <= 0.5 and max_abs(sd, ss) <= 1e-4


def test_heatmap_baseline_exports_and_predicts(tmp_path: Path) -> None:
    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.deploy import export_model, load_predictor
    from simdr_lib.factory import model_from_config

    cfg = load_config(
        DEMO,
        {
            "model.head": "heatmap",
            "codec.type": "heatmap",
            "codec.input_size": [48, 64],
            "model.tiny_width": 16,
        },
    )
    weights = tmp_path / "hm.pdparams"
    paddle.save(model_from_config(cfg).state_dict(), str(weights))
    pred = load_predictor(export_model(cfg, weights, tmp_path / "hm"))
    probs = pred.predict_crops(np.zeros((2, 3, 64, 48), np.float32))
    assert len(probs) == 1 and probs[0].shape == (2, 17, 16, 12)
    kps, scores = pred.predict_image(_image(), [[10, 10, 50, 90]])
    assert kps.shape == (1, 17, 2)


@pytest.mark.skipif(
    __import__("paddle").__version__.split(".")[0] >= "3", reason="PaddlePaddle 2.x only"
)
def test_pir_export_on_paddle2_is_explained(exported: dict) -> None:
    folder = _copy(exported, "pir_on_26")
    (folder / "model.pdmodel").rename(folder / "model.json")
    _edit_cfg(folder, lambda d: d["model"].update(model_file="model.json"))
    msg = _one_line_error(folder, "model.json")
    assert "PaddlePaddle 3" in msg


def test_paddle2onnx_crash_becomes_one_line_error(exported: dict, monkeypatch) -> None:
    """paddle2onnx exits its process on unsupported graphs: reported as one ExportError."""
    try:
        import paddle2onnx  # noqa: F401
    except Exception as exc:  # not installed, or paddle2onnx 2.x on PaddlePaddle 2.6
        pytest.skip(f"paddle2onnx not usable here: {type(exc).__name__}")
    from simdr_lib.deploy import onnx
    from simdr_lib.deploy.export import export_model

    crash = (
        "import sys\nprint('\\x1b[0;31m2026-01-01 [ERROR]\\tFailed to convert PaddlePaddle "
        "model: (Unimplemented) boom\\n  [Hint: more]\\x1b[0m')\nsys.exit(255)\n"
    )
    monkeypatch.setattr(onnx, "_P2O_SCRIPT", crash)
    out = exported["base"] / "onnx_crash"
    with pytest.raises(ExportError) as info:
        export_model(exported["cfg"], exported["weights"], out, onnx=True)
    msg = str(info.value)
    assert "\n" not in msg and "cannot convert" in msg and "boom" in msg and "exit 255" in msg
    assert not (out / "model.onnx").exists()


def test_pir_scale_patch_for_paddle2onnx(tmp_path: Path) -> None:
    import json

    from simdr_lib.deploy.onnx import _pir_for_paddle2onnx

    scale = {"#": "0.a_array", "D": [{"#": "0.a_f64", "D": 2.0}, {"#": "0.a_f64", "D": 2.0}]}
    other = {"#": "0.a_f64", "D": 0.5}
    program = {
        "program": {
            "ops": [
                {"#": "1.nearest_interp", "A": [{"AT": scale, "N": "scale"}]},
                {"#": "1.scale", "A": [{"AT": other, "N": "scale"}]},
            ]
        }
    }
    src = tmp_path / "model.json"
    src.write_text(json.dumps(program))
    (tmp_path / "p").mkdir()
    patched = json.loads(_pir_for_paddle2onnx(src, tmp_path / "p").read_text())
    ops = patched["program"]["ops"]
    assert [d["#"] for d in ops[0]["A"][0]["AT"]["D"]] == ["0.a_f32", "0.a_f32"]
    assert ops[1]["A"][0]["AT"]["#"] == "0.a_f64"  # only interpolate scales change
    assert json.loads(src.read_text()) == program  # the exported file is untouched


def test_pdmodel_format_export(exported: dict) -> None:
    """--format pdmodel (what Paddle 2.6 Inference reads) gives the same outputs."""
    from simdr_lib.deploy import export_model, load_predictor

    out = export_model(
        exported["cfg"], exported["weights"], exported["base"] / "legacy", program_format="pdmodel"
    )
    assert (out / "model.pdmodel").is_file() and not (out / "model.json").exists()
    legacy, default = load_predictor(out), load_predictor(exported["dir"])
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 48)).astype(np.float32)
    for a, b in zip(legacy.predict_crops(x), default.predict_crops(x)):
        assert max_abs(a, b) <= 1e-4


def test_json_format_needs_paddle3(exported: dict) -> None:
    import paddle

    from simdr_lib.deploy import export_model

    if int(paddle.__version__.split(".")[0]) >= 3:
        out = export_model(
            exported["cfg"], exported["weights"], exported["base"] / "pir", program_format="json"
        )
        assert (out / "model.json").is_file()
    else:
        with pytest.raises(ExportError, match="cannot write the PIR model.json"):
            export_model(exported["cfg"], exported["weights"], "x", program_format="json")
    with pytest.raises(ExportError, match="format must be one of"):
        export_model(exported["cfg"], exported["weights"], "x", program_format="onnx")


def test_gpu_request_on_a_cpu_build_is_one_line(exported: dict) -> None:
    import paddle

    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        pytest.skip("a GPU is available here")
    _one_line_error(exported["dir"], "device=gpu", device="gpu")


# ----------------------------------------------------------------------------- infer_cfg.yml values


def _infer_cfg_dict() -> dict:
    """A valid infer_cfg.yml as a dict (defaults: 17 COCO joints, SA-SimDR 96x128)."""
    from simdr_lib.config import load_config
    from simdr_lib.deploy.infer_config import infer_config_from_cfg

    return infer_config_from_cfg(load_config(None), "model.json").to_yaml_dict()


def _write_infer_cfg(folder: Path, data: dict) -> Path:
    """Only infer_cfg.yml: read_infer_config does not look at the model files."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "infer_cfg.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _set(data: dict, key: str, value) -> None:
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value


def test_hand_written_infer_cfg_reads(tmp_path: Path) -> None:
    from simdr_lib.deploy import read_infer_config

    _write_infer_cfg(tmp_path, _infer_cfg_dict())
    info = read_infer_config(tmp_path)
    assert info.input_size == (96, 128) and info.num_joints == 17 and len(info.flip_pairs) == 8
    assert info.codec["flip_shift"] is None and info.flip_test is True


def test_infer_cfg_takes_every_split_ratio_the_config_takes(tmp_path: Path) -> None:
    """k < 1 trains (codec.base.check_split_ratio), so its export must load too."""
    from simdr_lib.config import load_config
    from simdr_lib.deploy import read_infer_config

    load_config(None, {"codec.split_ratio": 0.5, "codec.input_size": [96, 128]})
    data = _infer_cfg_dict()
    data["codec"]["split_ratio"] = 0.5
    _write_infer_cfg(tmp_path, data)
    assert read_infer_config(tmp_path).codec["split_ratio"] == 0.5


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("preprocess.padding", "abc", "'preprocess.padding' must be a finite number"),
        ("preprocess.padding", NAN, "'preprocess.padding'"),
        ("preprocess.padding", 0, "'preprocess.padding'"),
        ("preprocess.pixel_std", -200, "'preprocess.pixel_std' must be a finite number in (0"),
        ("preprocess.pixel_std", INF, "'preprocess.pixel_std'"),
        ("preprocess.pixel_std", True, "'preprocess.pixel_std'"),
        ("preprocess.std", [0, 0, 0], "'preprocess.std' must be finite numbers > 0"),
        ("preprocess.std", [0.2, -0.2, 0.2], "'preprocess.std[1]'"),
        ("preprocess.std", [NAN, 0.2, 0.2], "'preprocess.std[0]'"),
        ("preprocess.mean", [0.5, INF, 0.5], "'preprocess.mean' must be finite numbers"),
        ("preprocess.mean", [0.5, "x", 0.5], "'preprocess.mean'"),
        ("preprocess", "RGB", "'preprocess' must be a mapping"),
        ("flip_pairs", [[1, 2], [2, 3]], "'flip_pairs' must swap distinct joints"),
        ("flip_pairs", [[1, 2], [3, 3]], "repeats joint 3"),
        ("flip_pairs", [[True, 2]], "'flip_pairs' must be a list of index pairs"),
        ("flip_pairs", [[1, 17]], "'flip_pairs' must be a list of index pairs in [0, 16]"),
        ("skeleton", [[0, 1]], "'skeleton' must be a list of index pairs in [1, 17]"),
        ("postprocess.in_vis_thresh", 1.0, "'postprocess.in_vis_thresh' must be a finite number"),
        ("postprocess.in_vis_thresh", -0.1, "'postprocess.in_vis_thresh'"),
        ("postprocess.in_vis_thresh", NAN, "'postprocess.in_vis_thresh'"),
        ("postprocess.flip_test", "yes", "'postprocess.flip_test' must be true or false"),
        ("postprocess.flip_test", 1, "'postprocess.flip_test'"),
        ("postprocess", [1], "'postprocess' must be a mapping"),
        ("codec.split_ratio", INF, "'codec.split_ratio' must be a finite number"),
        ("codec.split_ratio", NAN, "'codec.split_ratio'"),
        ("codec.split_ratio", "2", "'codec.split_ratio'"),
        ("codec.split_ratio", 1e300, "'codec.split_ratio' 1e+300 is too large"),
        ("codec.split_ratio", 1000.0, "at most 32768"),
        ("codec.split_ratio", 0.0, "'codec.split_ratio' must be a finite number in (0, inf)"),
        ("codec.split_ratio", -2.0, "'codec.split_ratio'"),
        ("codec.split_ratio", 0.01, "leaves fewer than 2 bins for input_size [96, 128]"),
        ("codec.sigma", NAN, "'codec.sigma' must be a finite number in (0, 1000]"),
        ("codec.sigma", -INF, "'codec.sigma'"),
        ("codec.sigma", 5000.0, "'codec.sigma'"),
        ("codec.sigma", None, "'codec.sigma'"),  # SA-SimDR needs it
        ("codec.flip_shift", NAN, "'codec.flip_shift' must be a finite number"),
        ("codec.flip_shift", INF, "'codec.flip_shift'"),
        ("codec.flip_shift", -1.0, "'codec.flip_shift'"),
        ("codec.flip_shift", 192.0, "'codec.flip_shift' must be a finite number in [0, 192)"),
        ("codec.label_smoothing", 1.0, "'codec.label_smoothing'"),
        ("codec.confidence", "median", "'codec.confidence'"),
        ("codec.normalize", "yes", "'codec.normalize'"),
        ("codec.heatmap_stride", 0, "'codec.heatmap_stride'"),
        ("codec", [1, 2], "'codec' must be a mapping"),
        ("input_size", [4, 4], "'input_size' must be [W, H] (two integers in [8, 4096] px)"),
        ("input_size", [96, 100000], "'input_size'"),
        ("input_size", [96.0, 128], "'input_size'"),
        ("input_size", [10**30, 128], "'input_size'"),
        ("joint_names", [f"j{i}" for i in range(16)], "'flip_pairs' must be a list of index"),
        ("joint_names", ["nose"] * 17, "'joint_names' must be unique"),
        ("joint_names", [f"j{i}" for i in range(1001)], "'joint_names' lists 1001 joints"),
        ("model.params_file", "../../w.pdparams", "'model.params_file' must be a file name"),
        ("model.onnx_file", "/tmp/x.onnx", "'model.onnx_file'"),
        ("model.head", "transformer", "'model.head' must be simdr or heatmap"),
        ("model.input_name", 3, "'model.input_name' must be a string"),
        ("model", "model.json", "'model' must be a mapping"),
        ("schema_version", True, "schema_version True is not supported"),
        ("source", "a run", "'source' must be a mapping"),
    ],
)
def test_bad_infer_cfg_value_names_file_and_key(
    tmp_path: Path, key: str, value, needle: str
) -> None:
    from simdr_lib.deploy import read_infer_config

    data = _infer_cfg_dict()
    _set(data, key, value)
    if key == "input_size":  # keep model.input_shape consistent: the size itself is at fault
        data["model"]["input_shape"] = None
    path = _write_infer_cfg(tmp_path, data)
    with pytest.raises(ExportError) as err:
        read_infer_config(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and needle in msg, msg


@pytest.mark.parametrize(
    "data,needle",
    [
        pytest.param("input_size: [96, 128]\n".encode("utf-16"), "not UTF-8", id="utf16"),
        pytest.param(b"codec: {type: caf\xe9}\n", "not UTF-8", id="latin1"),
        pytest.param(b"codec: " + b"[" * 5000, "not valid YAML", id="deep"),
        pytest.param(b"input_size: [96, 2001-13-01]\n", "not valid YAML (month", id="date"),
        pytest.param(b"schema_version: " + b"9" * 5000, "not valid YAML", id="digits"),
    ],
)
def test_unreadable_infer_cfg_text(tmp_path: Path, data: bytes, needle: str) -> None:
    from simdr_lib.deploy import read_infer_config

    (tmp_path / "infer_cfg.yml").write_bytes(data)
    with pytest.raises(ExportError) as err:
        read_infer_config(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "infer_cfg.yml") in msg and needle in msg, msg


def test_infer_cfg_from_a_heatmap_config_reads(tmp_path: Path) -> None:
    from simdr_lib.config import load_config
    from simdr_lib.deploy.infer_config import infer_config_from_cfg, read_infer_config

    cfg = load_config(None, ["model.head=heatmap", "codec.type=heatmap", "codec.sigma=2"])
    data = infer_config_from_cfg(cfg, "model.json").to_yaml_dict()
    _write_infer_cfg(tmp_path, data)
    assert read_infer_config(tmp_path).codec["type"] == "heatmap"
    data["codec"]["heatmap_stride"] = 5  # does not divide 96 x 128
    _write_infer_cfg(tmp_path, data)
    with pytest.raises(ExportError, match="'codec.heatmap_stride' 5 must divide"):
        read_infer_config(tmp_path)


def test_random_infer_cfg_values_read_or_raise_export_error(tmp_path_factory) -> None:
    """Random values for random infer_cfg.yml keys: read, or one ExportError line."""
    import math

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from simdr_lib.deploy import read_infer_config

    base = _infer_cfg_dict()
    keys = [
        f"{s}.{k}" if isinstance(v, dict) else s
        for s, v in base.items()
        for k in (v if isinstance(v, dict) else [None])
    ]
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.sampled_from([0, 1, 2, 16, 17, 4096, 10**30])
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=8)
    )
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=6)
    folder = tmp_path_factory.mktemp("fuzz_infer")

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(keys), values, min_size=1, max_size=2))
    def check(edits: dict) -> None:
        data = yaml.safe_load(yaml.safe_dump(base))  # a deep copy
        for key, value in edits.items():
            _set(data, key, value)
        _write_infer_cfg(folder, data)
        try:
            info = read_infer_config(folder)
        except ExportError as exc:
            assert "\n" not in str(exc) and "infer_cfg.yml" in str(exc), str(exc)
        else:
            numbers = [*info.mean, *info.std, info.padding, info.pixel_std, info.in_vis_thresh]
            assert all(math.isfinite(v) for v in numbers) and min(info.std) > 0
            assert isinstance(info.flip_test, bool)

    check()


# ----------------------------------------------------------------------------- one codec schema

# infer_cfg.yml as simdr_lib.export wrote it before simdr_lib.deploy (paddle_version aside):
# the file format must not change, so old exported folders keep loading.
WRITTEN_BEFORE = """\
schema_version: 1
generator: simdr_lib.export
paddle_version: PADDLE
model:
  model_file: model.json
  params_file: model.pdiparams
  onnx_file: model.onnx
  backbone: tiny
  head: simdr
  input_name: image
  input_shape: [-1, 3, 128, 96]
input_size: [96, 128]
codec: {type: simdr, split_ratio: 1.5, sigma: 4.0, label_smoothing: 0.1, normalize: true,
  confidence: min, heatmap_stride: 4, use_dark: false, flip_shift: 1.0}
preprocess:
  channel_order: RGB
  scale: 1/255
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
  padding: 1.25
  pixel_std: 200.0
postprocess: {flip_test: true, in_vis_thresh: 0.01}
joint_names: [joint_0, joint_1, joint_2, joint_3, joint_4]
flip_pairs: []
skeleton: []
source: {name: run, config: <defaults> (with overrides)}
"""


def test_infer_cfg_text_is_unchanged() -> None:
    import paddle

    from simdr_lib.config import load_config
    from simdr_lib.deploy.infer_config import infer_config_from_cfg, infer_config_yaml

    over = ["codec.type=simdr", "codec.flip_shift=1", "codec.split_ratio=1.5"]
    cfg = load_config(None, [*over, "model.num_joints=5"])
    text = infer_config_yaml(infer_config_from_cfg(cfg, "model.json", "model.onnx"))
    assert text == WRITTEN_BEFORE.replace("PADDLE", paddle.__version__)


def test_infer_cfg_of_older_versions_reads(tmp_path: Path) -> None:
    """The first schema-1 files had no codec.flip_shift (it then defaults to the exact k-1)."""
    from simdr_lib.config import load_config
    from simdr_lib.deploy.infer_config import read_infer_config
    from simdr_lib.factory import codec_from_config

    old = WRITTEN_BEFORE.replace(", flip_shift: 1.0}", "}").replace("model.onnx", "")
    (tmp_path / "infer_cfg.yml").write_text(old.replace("PADDLE", "2.6.2"))
    info = read_infer_config(tmp_path)
    assert info.codec["flip_shift"] is None and info.codec_settings.split_ratio == 1.5
    assert info.num_joints == 5 and info.onnx_file == "" and info.paddle_version == "2.6.2"
    cfg = load_config(None, ["codec.type=simdr", "codec.split_ratio=1.5"])
    assert info.codec_settings == cfg.codec
    assert codec_from_config(cfg).num_x_bins == 144


@pytest.mark.parametrize(
    "over",
    [
        [],
        ["codec.type=simdr", "codec.flip_shift=1", "codec.split_ratio=3", "codec.sigma=7"],
        ["model.head=heatmap", "codec.type=heatmap", "codec.sigma=2", "codec.use_dark=true"],
        ["codec.confidence=mean", "codec.normalize=false", "codec.label_smoothing=0.25"],
    ],
)
def test_codec_settings_round_trip_through_infer_cfg(tmp_path: Path, over: list) -> None:
    """config -> infer_cfg.yml -> CodecConfig gives back the config's codec section."""
    from simdr_lib.config import load_config
    from simdr_lib.deploy.infer_config import (
        codec_from_infer_config,
        infer_config_from_cfg,
        read_infer_config,
    )
    from simdr_lib.factory import codec_from_config

    cfg = load_config(None, over)
    _write_infer_cfg(tmp_path, infer_config_from_cfg(cfg, "model.json").to_yaml_dict())
    info = read_infer_config(tmp_path)
    assert info.codec_settings == cfg.codec and info.input_size == tuple(cfg.codec.input_size)
    a, b = codec_from_infer_config(info), codec_from_config(cfg)
    assert type(a) is type(b) and vars(a) == vars(b)


def test_infer_cfg_codec_accepted_exactly_when_the_config_accepts_it(tmp_path_factory) -> None:
    """The codec section of infer_cfg.yml reads iff CodecConfig.validate (the YAML config's
    check) passes: same limits, boundaries included."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from simdr_lib.config import CodecConfig
    from simdr_lib.deploy.infer_config import read_infer_config
    from simdr_lib.errors import ConfigError

    base = _infer_cfg_dict()
    folder = tmp_path_factory.mktemp("same_limits")
    floats = st.sampled_from([0.0, 1e-9, 0.5, 0.99, 1.0, 1.5, 2.0, 95.0, 191.0, 192.0, 999.0])
    floats = floats | st.sampled_from([1000.0, 1000.5, 1e300]) | st.floats(0, 2000)
    codecs = st.fixed_dictionaries(
        {
            "type": st.sampled_from(["simdr", "sa_simdr", "heatmap"]),
            "split_ratio": floats,
            "sigma": floats,
            "label_smoothing": floats,
            "heatmap_stride": st.sampled_from([0, 1, 4, 5, 32, 48, 64, 4096, 4097]),
            "flip_shift": st.none() | floats,
        }
    )

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(codecs)
    def check(codec: dict) -> None:
        data = yaml.safe_load(yaml.safe_dump(base))
        data["codec"].update(codec)
        data["model"]["head"] = "heatmap" if codec["type"] == "heatmap" else "simdr"
        _write_infer_cfg(folder, data)
        try:
            CodecConfig(input_size=(96, 128), **{**data["codec"]}).validate("cfg")
            config_ok = True
        except ConfigError:
            config_ok = False
        try:
            read_infer_config(folder)
            infer_ok = True
        except ExportError as exc:
            assert "\n" not in str(exc) and "'codec." in str(exc), str(exc)
            infer_ok = False
        assert infer_ok == config_ok, codec

    check()


def test_every_runner_implements_the_runner_protocol(exported: dict) -> None:
    import inspect

    from simdr_lib.deploy import runners
    from simdr_lib.deploy.predictor import load_predictor, predictor_from_config

    static = load_predictor(exported["dir"])
    dynamic = predictor_from_config(exported["cfg"], exported["weights"])
    for pred in (static, dynamic):
        assert isinstance(pred.runner, runners.Runner)
        x = np.zeros((2, 3, 64, 48), np.float32)
        assert [o.shape for o in pred.runner.run(x)] == [(2, 17, 96), (2, 17, 128)]
        assert pred.runner.input_shape()[1:] in ([3, 64, 48], [-1, 64, 48])
    wanted = {"input_shape", "run", "describe"}
    for cls in (runners.PaddleRunner, runners.OnnxRunner, runners.DynamicRunner):
        methods = {n for n, _ in inspect.getmembers(cls, inspect.isfunction)}
        assert wanted <= methods, cls


def test_infer_cfg_codec_without_sigma_takes_the_types_default(tmp_path: Path) -> None:
    """A hand-written codec section without sigma: heatmap 2 px, SA-SimDR 4 bins (not 4 px)."""
    from simdr_lib.config import DEFAULT_SIGMA
    from simdr_lib.deploy.codec_section import codec_from_section

    where = tmp_path / "infer_cfg.yml"
    for kind in ("heatmap", "sa_simdr", "simdr"):
        codec = codec_from_section({"type": kind}, (96, 128), where)
        assert codec.sigma == DEFAULT_SIGMA[kind]
    assert codec_from_section({"type": "heatmap", "sigma": None}, (96, 128), where).sigma == 2.0
