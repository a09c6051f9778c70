"""Config loading: defaults, overrides, and one-line errors naming file and key path."""

from __future__ import annotations

import math
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
        ("codec.split_ratio=0", "codec.split_ratio"),
        ("codec.split_ratio=0.01", "fewer than 2 bins"),
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
    from simdr_lib.deploy.infer_config import codec_from_infer_config, infer_config_from_cfg
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


# ----------------------------------------------------------------------------- unreadable files


def _one_line(err: pytest.ExceptionInfo, *needles: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("name: café\n".encode("latin-1"), id="latin1"),
        pytest.param("name: run\n".encode("utf-16"), id="utf16"),
        pytest.param(b"\xff\xfe\x00garbage", id="binary"),
    ],
)
def test_config_that_is_not_utf8(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "latin.yml"
    p.write_bytes(data)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    _one_line(err, str(p), "not UTF-8")


def test_config_that_is_a_directory_or_unreadable(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    _one_line(err, str(tmp_path), "is a directory")
    p = tmp_path / "locked.yml"
    p.write_text("name: locked\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # chmod 000 does not stop root
    with pytest.raises(ConfigError) as err:
        load_config(p)
    _one_line(err, str(p), "cannot read", "Permission denied")


def test_config_nested_too_deeply(tmp_path: Path) -> None:
    p = tmp_path / "deep.yml"
    p.write_text("train: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    _one_line(err, str(p), "not valid YAML")


@pytest.mark.parametrize(
    "text,needle",
    [
        pytest.param("train:\n  lr: 2001-13-01\n", "not valid YAML (month", id="bad_date"),
        pytest.param("train:\n  lr: !!float abc\n", "not valid YAML", id="bad_tag"),
        pytest.param("data:\n  root: !!timestamp x\n", "not valid YAML", id="bad_timestamp"),
        pytest.param("train:\n  epochs: " + "9" * 5000 + "\n", "not valid YAML", id="5000_digits"),
        pytest.param('codec:\n  "split\\nratio": 2\n', "unknown config key", id="newline_key"),
    ],
)
def test_yaml_that_pyyaml_cannot_construct(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "odd.yml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    _one_line(err, str(p), needle)


def test_huge_values_are_shown_short() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, {"train.epochs": 10**5000})
    msg = _one_line(err, "'train.epochs' is out of range", "integer of about 5001 digits")
    assert len(msg) < 200
    with pytest.raises(ConfigError) as err:
        load_config(None, {"codec.input_size": list(range(1000))})
    assert len(_one_line(err, "'codec.input_size' must have 2 items")) < 200


# ----------------------------------------------------------------------------- non-finite numbers


def _leaf_keys(kind: type) -> list[str]:
    """Dotted config keys whose type hint is ``kind`` (or ``Optional[kind]``)."""
    import dataclasses
    import typing

    out = []
    for section in dataclasses.fields(Config):
        hint = typing.get_type_hints(Config)[section.name]
        if not dataclasses.is_dataclass(hint):
            continue
        for key, sub in typing.get_type_hints(hint).items():
            if sub is kind or kind in typing.get_args(sub):
                out.append(f"{section.name}.{key}")
    return out


FLOAT_KEYS = _leaf_keys(float)
INT_KEYS = _leaf_keys(int)


def test_every_float_and_int_key_is_listed() -> None:
    assert {"codec.split_ratio", "codec.flip_shift", "data.padding", "train.lr"} <= set(FLOAT_KEYS)
    assert {"train.epochs", "data.num_workers", "data.max_image_pixels"} <= set(INT_KEYS)


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan", ".NaN", "+.Inf", "1.0e+400"])
def test_non_finite_float_in_a_file_is_refused(tmp_path: Path, key: str, text: str) -> None:
    section, name = key.split(".")
    p = tmp_path / "nonfinite.yml"
    p.write_text(f"{section}:\n  {name}: {text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    _one_line(err, str(p), f"'{key}'", "finite")


def test_non_finite_overrides() -> None:
    for text in (".nan", ".inf", "-.inf"):  # YAML's spellings of NaN / infinity are floats
        with pytest.raises(ConfigError) as err:
            load_config(None, [f"train.lr={text}"])
        _one_line(err, "'train.lr' must be a finite number")
    for text in ("nan", "inf", "NaN"):  # plain words are strings in YAML
        with pytest.raises(ConfigError) as err:
            load_config(None, [f"train.lr={text}"])
        _one_line(err, "'train.lr' must be float, got str")
    for value in (float("nan"), float("inf"), 10**400):  # notebooks pass Python values
        with pytest.raises(ConfigError) as err:
            load_config(None, {"codec.sigma": value})
        _one_line(err, "'codec.sigma' must be a finite number")
    with pytest.raises(ConfigError) as err:
        load_config(None, {"codec.input_size": [96, float("nan")]})
    _one_line(err, "'codec.input_size[1]' must be int")


@pytest.mark.parametrize("key", INT_KEYS)
def test_huge_int_is_refused(tmp_path: Path, key: str) -> None:
    section, name = key.split(".")
    p = tmp_path / "huge.yml"
    p.write_text(f"{section}:\n  {name}: {10**30}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    _one_line(err, str(p), key)
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"{key}=-{10**30}"])
    _one_line(err, key)


# ----------------------------------------------------------------------------- absurd sizes


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["codec.input_size=[4, 64]"], "codec.input_size must be [W, H] with sides in [8, 4096]"),
        (["codec.input_size=[48, 5000]"], "codec.input_size"),
        (["codec.split_ratio=1000"], "codec.split_ratio 1000.0 is too large"),
        (["codec.input_size=[4096, 4096]", "codec.split_ratio=8.5"], "at most 32768"),
        (["codec.sigma=5000"], "codec.sigma must be in (0, 1000]"),
        (["codec.flip_shift=500"], "codec.flip_shift"),
        (["codec.flip_shift=-1"], "codec.flip_shift"),
        (["codec.heatmap_stride=0"], "codec.heatmap_stride"),
        (["train.batch_size=100000"], "train.batch_size must be in [1, 65536]"),
        (["train.epochs=200000"], "train.epochs must be in [1, 100000]"),
        (["train.eval_every=0"], "train.eval_every"),
        (["train.seed=-1"], "train.seed"),
        (["train.lr_gamma=0"], "train.lr_gamma"),
        (["train.warmup_start_factor=2"], "train.warmup_start_factor"),
        (["train.lr_steps=[-5, 10]"], "train.lr_steps"),
        (["eval.batch_size=100000"], "eval.batch_size must be in [1, 65536]"),
        (["eval.max_images=-1"], "eval.max_images"),
        (["data.num_workers=65"], "data.num_workers must be in [0, 64]"),
        (["data.scale_factor=1.5"], "data.scale_factor"),
        (["data.half_body_prob=2"], "data.half_body_prob"),
        (["model.num_joints=1001"], "model.num_joints must be in [1, 1000]"),
        (["model.tiny_width=5000"], "model.tiny_width must be in [1, 4096]"),
        (["model.backbone=hrnet_w100000"], "HRNet width must be at most 256"),
        (["model.backbone=hrnet_w²"], "model.backbone must be"),
        (["device=gpu:²"], "device"),
        (["name=.."], "name"),
        (
            ["model.head=heatmap", "codec.type=heatmap", "codec.heatmap_stride=8"],
            "codec.heatmap_stride must be 4",
        ),
        (
            ["model.head=heatmap", "codec.type=heatmap", "codec.heatmap_stride=5"],
            "codec.heatmap_stride 5 must divide codec.input_size",
        ),
    ],
)
def test_absurd_values_are_refused(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    _one_line(err, "<defaults>", needle)


def test_absurd_value_in_a_file_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "big.yml"
    p.write_text("train:\n  batch_size: 1000000\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    _one_line(err, str(p), "train.batch_size")


def test_limits_themselves_load() -> None:
    cfg = load_config(
        None,
        {
            "codec.input_size": [4096, 4096],
            "codec.split_ratio": 8.0,  # 32768 bins
            "codec.sigma": 1000,
            "codec.flip_shift": 32767.5,
            "train.batch_size": 65536,
            "train.epochs": 100000,
            "eval.batch_size": 65536,
            "data.num_workers": 64,
            "model.num_joints": 1000,
            "model.tiny_width": 4096,
            "train.seed": 2**32 - 1,
        },
    )
    assert cfg.codec.input_size == (4096, 4096) and cfg.train.batch_size == 65536
    assert load_config(None, ["codec.input_size=[8, 8]"]).codec.input_size == (8, 8)
    assert load_config(None, ["model.backbone=hrnet_w4"]).model.backbone == "hrnet_w4"


def test_strange_override_keys_and_strings() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, {1: 2})
    _one_line(err, "override key 1")
    with pytest.raises(ConfigError) as err:
        load_config(None, "{1: 2}")
    _one_line(err, "override key 1")
    with pytest.raises(ConfigError) as err:
        load_config(None, {"data.root": "a\0b"})
    _one_line(err, "'data.root' must not contain a NUL")
    with pytest.raises(ConfigError):
        load_config(None, ["train.lr_steps=" + "[" * 5000])


# ----------------------------------------------------------------------------- fuzz


def _value_strategies():
    """(keys, strategy for key) of random YAML values: mostly of the key's type, else any."""
    from hypothesis import strategies as st

    defaults = Config().to_dict()
    leaves = {
        f"{s}.{k}": d for s, v in defaults.items() if isinstance(v, dict) for k, d in v.items()
    }
    leaves.update({k: v for k, v in defaults.items() if not isinstance(v, dict)})
    leaves["codec.flip_shift"] = 1.0  # Optional[float]: draw floats too
    ints = st.integers() | st.sampled_from([0, -1, 1, 4, 8, 64, 4096, 4097, 65537, 10**30])
    floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
        [0.0, 0.5, 1.0, 1.5, 8.0, 1e308, -1e-300]
    )
    words = st.text(max_size=12) | st.sampled_from(
        ["nan", ".inf", "simdr", "sa_simdr", "heatmap", "gpu:1", "hrnet_w18", "tiny", "max", ".."]
    )
    scalars = st.none() | st.booleans() | ints | floats | words
    anything = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    )

    def typed(default):
        if isinstance(default, bool):
            return st.booleans()
        if isinstance(default, int):
            return ints
        if isinstance(default, float):
            return floats | ints
        if isinstance(default, str):
            return words
        return st.lists(ints | floats, min_size=0, max_size=3)  # input_size, lr_steps

    def strategy(key: str):
        typed_one = typed(leaves[key]) if key in leaves else st.nothing()
        return st.one_of(typed_one, typed_one, typed_one, anything)

    keys = [*leaves, "codec", "train.no_such_key", "nope"]
    return keys, strategy


def test_random_values_for_random_keys_load_or_raise_config_error(tmp_path_factory) -> None:
    """A few hundred random configs: each loads (finite numbers, sane sizes, an infer_cfg.yml
    that reads back) or raises one ConfigError line, from a file, a dict and ``-o`` overrides."""
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from simdr_lib.deploy.infer_config import infer_config_from_cfg, read_infer_config

    keys, strategy = _value_strategies()
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "fuzz.yml"

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True), st.data())
    def check(picked_keys: list, data) -> None:
        picked = {key: data.draw(strategy(key), label=key) for key in picked_keys}
        nested: dict = {}
        for key, value in picked.items():
            section, _, leaf = key.partition(".")
            if leaf and isinstance(nested.get(section, {}), dict):
                nested.setdefault(section, {})[leaf] = value
            else:
                nested[section] = value
        path.write_text(yaml.safe_dump(nested), encoding="utf-8")
        flow = [f"{k}={yaml.safe_dump(v, default_flow_style=True)}" for k, v in picked.items()]
        for attempt in (
            lambda: load_config(path),
            lambda: load_config(None, picked),
            lambda: load_config(None, flow),
        ):
            try:
                cfg = attempt()
            except ConfigError as exc:
                assert "\n" not in str(exc), str(exc)
            else:  # what loads is usable: finite numbers, in-range sizes
                assert cfg == cfg.validate()
                sections = [v for v in cfg.to_dict().values() if isinstance(v, dict)]
                floats = [v for s in sections for v in s.values() if isinstance(v, float)]
                assert all(math.isfinite(v) for v in floats), floats
                assert 8 <= min(cfg.codec.input_size) and max(cfg.codec.input_size) <= 4096
                # and its deployment description passes the infer_cfg.yml checks
                info = infer_config_from_cfg(cfg, "model.json").to_yaml_dict()
                (folder / "infer_cfg.yml").write_text(yaml.safe_dump(info), encoding="utf-8")
                assert read_infer_config(folder).codec == info["codec"]

    check()


def test_random_bytes_as_a_config_file(tmp_path_factory) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    path = tmp_path_factory.mktemp("fuzz") / "bytes.yml"
    prefixes = st.sampled_from(
        [b"", b"codec:\n  ", b"train: {lr: ", b"model:\n  - ", b"a: !!int ", b"a: !!timestamp "]
    )

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(prefixes, st.binary(max_size=64))
    def check(prefix: bytes, data: bytes) -> None:
        path.write_bytes(prefix + data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc), str(exc)

    check()


def test_split_ratio_below_one_is_legal() -> None:
    """One rule for k, in config and codec alike: > 0 with at least 2 bins per axis."""
    from simdr_lib.factory import codec_from_config

    cfg = load_config(None, {"codec.split_ratio": 0.5})
    assert codec_from_config(cfg).num_x_bins == int(cfg.codec.width * 0.5)
    with pytest.raises(ConfigError, match="fewer than 2 bins"):
        load_config(None, {"codec.input_size": [8, 64], "codec.split_ratio": 0.2})


HEATMAP = {"codec.type": "heatmap", "model.head": "heatmap"}


def test_heatmap_sigma_defaults_to_heatmap_pixels(tmp_path: Path) -> None:
    """A heatmap config without sigma gets 2 heatmap px, not SimDR's 4 bins."""
    from simdr_lib.factory import codec_from_config

    assert load_config(None).codec.sigma == 4.0  # SA-SimDR: bins
    cfg = load_config(None, HEATMAP)
    assert cfg.codec.sigma == 2.0 and codec_from_config(cfg).sigma == 2.0
    p = tmp_path / "hm.yml"
    p.write_text("model:\n  head: heatmap\ncodec:\n  type: heatmap\n")
    assert load_config(p).codec.sigma == 2.0
    p.write_text("model:\n  head: heatmap\ncodec:\n  type: heatmap\n  sigma: null\n")
    assert load_config(p).codec.sigma == 2.0
    # the saved config holds the number, and reloads to the same config
    save_config(cfg, tmp_path / "saved.yml")
    assert "sigma: 2.0" in (tmp_path / "saved.yml").read_text()
    assert load_config(tmp_path / "saved.yml") == cfg


def test_explicit_sigma_is_kept_and_default_follows_the_type() -> None:
    assert load_config(None, {**HEATMAP, "codec.sigma": 3.0}).codec.sigma == 3.0
    explicit = load_config(None, {"codec.sigma": 4.0})
    assert explicit.with_overrides(HEATMAP).codec.sigma == 4.0  # given, so kept
    assert load_config(None).with_overrides(HEATMAP).codec.sigma == 2.0
    back = load_config(None, HEATMAP).with_overrides(
        {"codec.type": "sa_simdr", "model.head": "simdr"}
    )
    assert back.codec.sigma == 4.0
