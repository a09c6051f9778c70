"""The restricted weights reader: real files read exactly, crafted ones refused with one line."""

from __future__ import annotations

import collections
import io
import pickle
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import paddle
import pytest
from weights_helpers import (
    PEERS,
    Payload,
    evil_paddle_weights,
    evil_pth_legacy,
    evil_pth_zip,
    payload_is_live,
)

from simdr_lib.errors import CheckpointError
from simdr_lib.weights import read_weights
from simdr_lib.weights.unpickle import MAX_DEPTH, UnpickleError, resolve, restricted_load


def _same(a, b, where: str = "") -> None:
    """Deep equality of what two readers returned (arrays by value and dtype)."""
    if isinstance(b, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for k in b:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b), where
        for x, y in zip(a, b):
            _same(x, y, where)
    elif isinstance(b, float) and np.isnan(b):
        assert np.isnan(a), where
    else:
        assert a == b, (where, a, b)


@pytest.mark.compat
def test_paddle_files_read_like_paddle_load(tmp_path: Path) -> None:
    """Ours (state dict, checkpoint with nested dicts, scalars, NaN) and PaddleDetection's."""
    from simdr_lib.engine.checkpoint import atomic_paddle_save, save_checkpoint
    from simdr_lib.models import build_model

    model = build_model("tiny", "simdr", 17, (48, 64), tiny_width=8)
    atomic_paddle_save(model.state_dict(), tmp_path / "m.pdparams")
    save_checkpoint(
        tmp_path / "c.pdckpt",
        model=model.state_dict(),
        history=[{"epoch": 1, "loss": np.float64(0.5), "AP": float("nan")}],
        config={"codec": {"input_size": [48, 64]}},
        scheduler={"last_epoch": 3, "last_lr": 1e-3},
        scaler=None,
    )
    for path in (tmp_path / "m.pdparams", tmp_path / "c.pdckpt"):
        wf = read_weights(path)
        assert wf.container == "paddle"
        ref = paddle.load(str(path), return_numpy=True)
        for obj in (ref, wf.obj):
            obj.pop("StructuredToParameterName@@", None)  # paddle.load drops the name table
        _same(wf.obj, ref)
    peer = read_weights(PEERS / "ppdet_hrnet_w4_simdr_k2.pdparams").obj
    ref = paddle.load(str(PEERS / "ppdet_hrnet_w4_simdr_k2.pdparams"), return_numpy=True)
    assert set(peer) - set(ref) == {"StructuredToParameterName@@"}  # paddle.load drops it
    _same({k: v for k, v in peer.items() if k in ref}, ref)


def test_pth_zip_and_legacy_hold_the_same_tensors() -> None:
    zipped = read_weights(PEERS / "official_simdr_w4_k2.pth")
    legacy = read_weights(PEERS / "official_simdr_w4_k2_legacy.pth")
    assert (zipped.container, legacy.container) == ("pytorch-zip", "pytorch-legacy")
    assert list(zipped.obj) == list(legacy.obj) and len(zipped.obj) == 1758
    _same(zipped.obj, legacy.obj)
    assert zipped.obj["conv1.weight"].shape == (64, 3, 3, 3)
    assert zipped.obj["mlp_head_x.weight"].shape == (64, 128)  # PyTorch Linear: (out, in)
    assert zipped.obj["bn1.num_batches_tracked"].dtype == np.int64
    assert int(zipped.obj["bn1.num_batches_tracked"]) == 1000


@pytest.mark.parametrize("writer", [evil_paddle_weights, evil_pth_zip, evil_pth_legacy])
def test_a_file_that_runs_code_is_refused_and_nothing_runs(writer, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    state = {"w": np.ones((2, 2), np.float32)}
    args = (tmp_path / "evil.bin", marker) + ((state,) if writer is evil_paddle_weights else ())
    path = writer(*args)
    assert payload_is_live(path, marker), "the crafted file must really run its payload"
    if writer is evil_paddle_weights:  # paddle.load runs it *and* returns the real weights
        assert list(paddle.load(str(path))) == ["w"] and marker.exists()
        marker.unlink()
    with pytest.raises(CheckpointError) as info:
        read_weights(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    assert "refused to load: the file asks to call " in message
    assert "posix.system" in message or "operator.itemgetter" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(np.array([object(), 1], dtype=object), id="object-array"),
        pytest.param(np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]), id="structured-dtype"),
        pytest.param(np.array(["text"]), id="string-array"),
        pytest.param(collections.Counter(a=1), id="counter"),
        pytest.param(Payload(Path("/nonexistent/x")), id="os-system"),
    ],
)
def test_only_plain_numeric_arrays_and_containers_are_built(obj, tmp_path: Path) -> None:
    path = tmp_path / "x.pdparams"
    path.write_bytes(pickle.dumps({"t": obj}, protocol=4))
    with pytest.raises(CheckpointError, match=r"x\.pdparams: (refused|cannot read)"):
        read_weights(path)


def test_numpy_scalars_big_endian_and_protocol_2_arrays() -> None:
    values = {
        "be": np.arange(6, dtype=">f4").reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "bool": np.array([True, False]),
        "scalar": np.float64(2.5),
        "empty": np.zeros((0, 3), np.float32),
        "od": collections.OrderedDict(a=(1, "x"), b={1, 2}),
    }
    for protocol in (2, 4, 5):
        got = resolve(restricted_load(pickle.dumps(values, protocol=protocol)))
        _same(got, values)
        assert got["scalar"] == 2.5 and isinstance(got["od"], collections.OrderedDict)


class _Tensor:
    """Pickles as ``torch._utils._rebuild_tensor_v2(storage, 0, size, stride, ...)``."""

    def __init__(self, size: tuple, stride: tuple) -> None:
        self.size, self.stride = size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        args = (_STORAGE, 0, self.size, self.stride, False, collections.OrderedDict())
        return (rebuild, args)


_STORAGE = object()  # the one storage, written as a persistent id


def _torch_zip(path: Path, numel: int, size: tuple, stride: tuple, data: bytes, monkeypatch):
    """A zip .pth with one float tensor, pickled against stand-in ``torch`` modules."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage_type = type("FloatStorage", (), {"__module__": "torch", "__qualname__": "FloatStorage"})
    torch.FloatStorage = storage_type

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=2)
    pickler.persistent_id = lambda obj: (
        ("storage", storage_type, "0", "cpu", numel) if obj is _STORAGE else None
    )
    pickler.dump({"t": _Tensor(size, stride)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/data/0", data)
    return path


def test_torch_tensor_views_are_bounded_by_their_storage(tmp_path: Path, monkeypatch) -> None:
    data = np.arange(6, dtype="<f4").tobytes()
    ok = _torch_zip(tmp_path / "ok.pth", 6, (3, 2), (1, 3), data, monkeypatch)
    got = read_weights(ok).obj["t"]
    np.testing.assert_array_equal(got, np.arange(6, dtype=np.float32).reshape(2, 3).T)
    oob = _torch_zip(tmp_path / "oob.pth", 6, (3, 4), (4, 1), data, monkeypatch)
    with pytest.raises(CheckpointError, match="reads past its storage"):
        read_weights(oob)
    short = _torch_zip(tmp_path / "short.pth", 7, (6,), (1,), data, monkeypatch)
    with pytest.raises(CheckpointError, match="wrong size"):
        read_weights(short)


def test_truncated_empty_and_foreign_files_are_one_line_each(tmp_path: Path) -> None:
    src = (PEERS / "ppdet_hrnet_w4_simdr_k2.pdparams").read_bytes()
    cases = {
        "cut.pdparams": (src[: len(src) // 2], "truncated or corrupt"),
        "empty.pdparams": (b"", "is empty"),
        "notes.txt": (b'{"a": 1}', "text file"),
        "random.bin": (bytes(range(256)) * 4, "not a Paddle"),
        "other.zip": (None, "without exactly one data.pkl"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        if data is None:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("readme.txt", "hello")
        else:
            path.write_bytes(data)
        with pytest.raises(CheckpointError, match=expected) as info:
            read_weights(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(CheckpointError, match="not found"):
        read_weights(tmp_path / "missing.pdparams")


def test_cycles_and_deep_nesting_are_refused() -> None:
    loop: list = []
    loop.append(loop)
    with pytest.raises(UnpickleError, match="contains itself"):
        resolve(restricted_load(pickle.dumps({"a": loop}, protocol=4)))
    deep: list = []
    node = deep
    for _ in range(MAX_DEPTH + 5):
        node.append([])
        node = node[0]
    with pytest.raises(UnpickleError, match="nested deeper"):
        resolve(restricted_load(pickle.dumps(deep, protocol=4)))


def test_protocol_2_bytes_only_through_latin1() -> None:
    good = pickle.dumps(np.arange(3, dtype=np.uint8), protocol=2)
    assert resolve(restricted_load(good)).tolist() == [0, 1, 2]
    bad = good.replace(b"latin1", b"zlib\x00\x00")  # same length: another codec name
    with pytest.raises(UnpickleError):
        restricted_load(io.BytesIO(bad))
