"""Config loading: defaults, overrides, and one-line errors naming file and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from simdr_lib.config import Config, load_config, save_config
from simdr_lib.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load_and_roundtrip(path: Path, tmp_path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name == path.stem
    save_config(cfg, tmp_path / "c.yml")
    again = load_config(tmp_path / "c.yml")
    assert again == cfg


def test_official_values_in_acceptance_config() -> None:
    cfg = load_config(CONFIGS[0].parent / "sa_simdr_hrnet_w48_384x288.yml")
    assert cfg.codec.input_size == (288, 384)
    assert cfg.codec.split_ratio == 1.5 and cfg.codec.sigma == 4.0
    assert cfg.model.backbone == "hrnet_w48" and cfg.eval.in_vis_thresh == 0.005
    assert cfg.train.lr_steps == (170, 200) and cfg.train.epochs == 210


def test_overrides_cli_and_dict() -> None:
    cfg = load_config(None, ["train.epochs=3", "codec.split_ratio=1.5", "weights=a/b.pdparams"])
    assert cfg.train.epochs == 3 and cfg.codec.split_ratio == 1.5 and cfg.weights == "a/b.pdparams"
    cfg2 = cfg.with_overrides({"eval.use_gt_bbox": False, "codec.input_size": [48, 64]})
    assert cfg2.eval.use_gt_bbox is False and cfg2.codec.input_size == (48, 64)
    assert cfg2.train.epochs == 3


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    p = tmp_path / "bad.yml"
    p.write_text("codec:\n  split_ratoi: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert str(p) in msg and "codec.split_ratoi" in msg and "\n" not in msg


def test_unknown_override_key() -> None:
    with pytest.raises(ConfigError, match="train.epoch'"):
        load_config(None, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["train.epochs"])


@pytest.mark.parametrize(
    "text,key",
    [
        ("train:\n  epochs: ten\n", "train.epochs"),
        ("train:\n  epochs: 2.5\n", "train.epochs"),
        ("eval:\n  flip_test: 1\n", "eval.flip_test"),
        ("codec:\n  input_size: [192]\n", "codec.input_size"),
        ("codec:\n  input_size: 192\n", "codec.input_size"),
        ("model: hrnet\n", "model"),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, key: str) -> None:
    p = tmp_path / "bad.yml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert f"'{key}'" in str(err.value) and str(p) in str(err.value)


@pytest.mark.parametrize(
    "override,needle",
    [
        ("codec.type=simcc", "codec.type"),
        ("codec.split_ratio=0.5", "codec.split_ratio"),
        ("model.backbone=resnet", "model.backbone"),
        ("device=tpu", "device"),
        ("train.lr_steps=[200, 170]", "lr_steps"),
        ("model.head=heatmap", "heatmap"),
    ],
)
def test_invalid_values(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(None, [override])


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.yml"
    p.write_text("train: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yml")


def test_defaults_are_valid() -> None:
    assert Config().validate().codec.width == 96


def test_flip_shift_is_null_or_a_number_and_reaches_the_codec_and_infer_cfg() -> None:
    from simdr_lib.export import codec_from_infer_config, infer_config_from_cfg
    from simdr_lib.factory import codec_from_config

    assert load_config(None).codec.flip_shift is None
    cfg = load_config(None, ["codec.flip_shift=1", "codec.split_ratio=1.5"])
    assert cfg.codec.flip_shift == 1.0 and codec_from_config(cfg).flip_shift == 1.0
    assert load_config(None, ["codec.flip_shift=null"]).codec.flip_shift is None
    info = infer_config_from_cfg(cfg, model_file="model.json")
    assert info.to_yaml_dict()["codec"]["flip_shift"] == 1.0
    assert codec_from_infer_config(info).flip_shift == 1.0
    with pytest.raises(ConfigError, match="'codec.flip_shift' must be float"):
        load_config(None, ["codec.flip_shift=abc"])
    with pytest.raises(ConfigError, match="model.backbone must be tiny"):
        load_config(None, ["model.backbone=hrnet_wide"])
    assert load_config(None, ["model.backbone=hrnet_w18"]).model.backbone == "hrnet_w18"
