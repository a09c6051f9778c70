"""Every shipped config builds a model whose real forward output fits its codec and loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest
from conftest import ROOT

from simdr_lib.config import load_config
from simdr_lib.factory import codec_from_config, loss_from_config, model_from_config

CONFIGS = sorted((ROOT / "configs").glob("*.yml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_forward_matches_codec_and_loss(path: Path) -> None:
    cfg = load_config(path)
    codec = codec_from_config(cfg)
    paddle.seed(0)
    model = model_from_config(cfg)
    model.eval()
    w, h = cfg.codec.input_size
    with paddle.no_grad():
        outputs = model(paddle.zeros([1, 3, h, w]))
    k = cfg.model.num_joints
    if cfg.codec.type == "heatmap":
        assert [list(o.shape) for o in outputs] == [[1, k, h // 4, w // 4]]
    else:
        assert list(outputs[0].shape) == [1, k, codec.num_x_bins]
        assert list(outputs[1].shape) == [1, k, codec.num_y_bins]
        assert codec.num_x_bins == int(w * cfg.codec.split_ratio)
    # the codec's targets for a person in the middle of the crop fit the loss
    kps = np.tile(np.array([[w / 2, h / 2]]), (1, k, 1))
    targets = codec.encode(kps, np.full((1, k), 2))
    loss = loss_from_config(cfg)(outputs, {n: paddle.to_tensor(t) for n, t in targets.items()})
    assert np.isfinite(float(loss))
