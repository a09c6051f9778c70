"""TIPC-like lite_train_lite_infer chain: train a few steps on generated data -> save / load
checkpoints -> export (config + weights only) -> Paddle Inference (and onnxruntime when
installed) -> decoded keypoints within 0.5 px and distributions within 1e-4 of the dynamic
model, with the flip test on, on the same evaluation crops.

The tests marked ``compat`` also run on PaddlePaddle 2.6 (``make test`` runs them in
``.venv-paddle26``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from deploy_helpers import max_abs, train_tiny

pytestmark = pytest.mark.compat

KP_TOL = 0.5  # px
PROB_TOL = 1e-4


@pytest.fixture(scope="module")
def chain(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train (8 epochs x 3 steps), export from a config whose dataset does not exist."""
    from simdr_lib.deploy import export_model

    base = tmp_path_factory.mktemp("chain")
    cfg, weights = train_tiny(small_dataset, base / "ckpt")
    no_data = cfg.with_overrides({"data.root": str(base / "no_such_dataset")})
    out = export_model(no_data, weights, base / "export")
    return {"cfg": cfg, "weights": weights, "export": out, "base": base}


def _dynamic_prob_fn(cfg, weights):
    from simdr_lib.engine.predict import dynamic_prob_fn, probability_model
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    model = model_from_config(cfg)
    load_model_weights(model, weights)
    return dynamic_prob_fn(probability_model(model, cfg.model.head))


def _val_predictions(cfg, prob_fn, codec):
    from simdr_lib.data.loaders import eval_records, load_split
    from simdr_lib.engine.model_eval import predict_records

    records = eval_records(cfg, load_split(cfg, "val"), True)
    preds = predict_records(cfg, prob_fn, records, codec, True, progress=False, keep_probs=True)
    return records, preds


def test_checkpoints_save_and_load(chain: dict) -> None:
    """The run's last.pdckpt and model_final.pdparams load into a fresh model identically."""
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights
    from simdr_lib.weights import read_checkpoint as load_checkpoint

    cfg = chain["cfg"]
    ckpt = load_checkpoint(chain["weights"].parent / "last.pdckpt")
    assert ckpt["epoch"] in (7, 8) and "optimizer" in ckpt
    a, b = model_from_config(cfg), model_from_config(cfg)
    load_model_weights(a, chain["weights"])
    load_model_weights(b, chain["weights"].parent / "last.pdckpt")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key].numpy(), sb[key].numpy(), err_msg=key)


def test_export_writes_static_model_for_this_paddle(chain: dict) -> None:
    import paddle
    import yaml

    out = chain["export"]
    names = {p.name for p in out.iterdir()}
    major = int(paddle.__version__.split(".")[0])
    want = "model.json" if major >= 3 else "model.pdmodel"
    assert {want, "model.pdiparams", "infer_cfg.yml"} <= names, names
    info = yaml.safe_load((out / "infer_cfg.yml").read_text())
    assert info["schema_version"] == 1 and info["model"]["model_file"] == want
    assert info["input_size"] == [48, 64] and info["preprocess"]["channel_order"] == "RGB"
    assert info["paddle_version"] == paddle.__version__
    assert len(info["joint_names"]) == 17 and [1, 2] in info["flip_pairs"]


def test_paddle_inference_matches_dynamic_with_flip(chain: dict) -> None:
    """Static graph (Paddle Inference, oneDNN as configured) vs dygraph on val crops."""
    from simdr_lib.deploy import load_predictor
    from simdr_lib.factory import codec_from_config

    cfg = chain["cfg"]
    codec = codec_from_config(cfg)
    _, dyn = _val_predictions(cfg, _dynamic_prob_fn(cfg, chain["weights"]), codec)
    predictor = load_predictor(chain["export"], batch_size=16)
    _, sta = _val_predictions(cfg, predictor.predict_crops, codec)
    assert len(dyn.keypoints_img) >= 12
    uniform = 1.0 / dyn.probs[0].shape[-1]
    peak = float(np.max(dyn.probs[0]))
    assert peak > 2.5 * uniform, f"model too untrained for a meaningful parity test ({peak})"
    assert max_abs(sta.keypoints_img, dyn.keypoints_img) <= KP_TOL
    for s, d in zip(sta.probs, dyn.probs):
        assert max_abs(s, d) <= PROB_TOL
    assert max_abs(sta.scores, dyn.scores) <= PROB_TOL


def test_predict_image_equals_evaluation_path(chain: dict) -> None:
    """The predictor's own crop + flip + decode + inverse affine reproduce evaluation."""
    from simdr_lib.data.images import load_image
    from simdr_lib.deploy import load_predictor
    from simdr_lib.factory import codec_from_config

    cfg = chain["cfg"]
    records, dyn = _val_predictions(
        cfg, _dynamic_prob_fn(cfg, chain["weights"]), codec_from_config(cfg)
    )
    predictor = load_predictor(chain["export"])
    by_image: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        by_image.setdefault(rec.image_path, []).append(i)
    for path, idx in list(by_image.items())[:6]:
        boxes = np.stack([records[i].box for i in idx])
        kps, scores = predictor.predict_image(load_image(path), boxes, flip_test=True)
        assert kps.shape == (len(idx), 17, 2) and scores.shape == (len(idx), 17)
        assert max_abs(kps, dyn.keypoints_img[idx]) <= KP_TOL
        assert max_abs(scores, dyn.scores[idx]) <= PROB_TOL


def test_exported_model_coco_ap_equals_dynamic(chain: dict) -> None:
    from simdr_lib.deploy import evaluate_exported, load_predictor
    from simdr_lib.engine.model_eval import evaluate_model
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    cfg = chain["cfg"]
    model = model_from_config(cfg)
    load_model_weights(model, chain["weights"])
    dyn = evaluate_model(cfg, model, progress=False).stats
    sta = evaluate_exported(cfg, load_predictor(chain["export"]))
    assert abs(sta["AP"] - dyn["AP"]) < 1e-3, (sta["AP"], dyn["AP"])


@pytest.mark.parametrize("use_mkldnn", [False])
def test_plain_cpu_kernels_match_too(chain: dict, use_mkldnn: bool) -> None:
    from simdr_lib.deploy import load_predictor

    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 64, 48)).astype(np.float32)
    a = load_predictor(chain["export"], use_mkldnn=use_mkldnn)
    b = load_predictor(chain["export"])
    assert "plain" in a.backend
    for pa, pb in zip(a.predict_crops(x), b.predict_crops(x)):
        assert max_abs(pa, pb) <= PROB_TOL


def test_onnx_matches_dynamic_with_flip(chain: dict) -> None:
    """paddle2onnx + onnxruntime (skipped when the `onnx` extra is not installed)."""
    pytest.importorskip("onnxruntime")
    try:
        import paddle2onnx  # noqa: F401
    except Exception as exc:  # ImportError, or ValueError from paddle2onnx 2.x on Paddle 2.6
        pytest.skip(f"paddle2onnx not usable here: {type(exc).__name__}")
    from simdr_lib.deploy import export_model, load_predictor
    from simdr_lib.factory import codec_from_config

    cfg = chain["cfg"]
    out = export_model(cfg, chain["weights"], chain["base"] / "export_onnx", onnx=True)
    assert (out / "model.onnx").is_file()
    codec = codec_from_config(cfg)
    _, dyn = _val_predictions(cfg, _dynamic_prob_fn(cfg, chain["weights"]), codec)
    predictor = load_predictor(out, backend="onnx")
    assert predictor.backend.startswith("onnxruntime")
    _, onx = _val_predictions(cfg, predictor.predict_crops, codec)
    assert max_abs(onx.keypoints_img, dyn.keypoints_img) <= KP_TOL
    for s, d in zip(onx.probs, dyn.probs):
        assert max_abs(s, d) <= PROB_TOL
