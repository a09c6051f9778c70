"""A pickle reader that can only build tensors, numbers and containers: nothing in a file runs.

``pickle.load`` calls whatever callable a file names (``os.system`` included), and both
``paddle.load`` and ``torch.load`` (before 2.6) unpickle. This module follows the Python
documentation's "Restricting Globals" recipe, and goes one step further: even the allowed
numpy callables never see the file's data. ``find_class`` answers every global name with
either a plain, harmless constructor (``tuple``, ``OrderedDict``, ...) or a *placeholder*
class of ours that records its arguments; the arrays are built afterwards by
:func:`resolve`, with ``np.frombuffer`` on bytes whose length was checked against the
declared shape and a dtype from a short list of plain numeric types. numpy's own
``ndarray.__setstate__`` / ``dtype.__setstate__`` are never called on file contents.

Allowed globals (everything else is refused with :class:`RefusedGlobal`, naming it):

- numpy arrays, dtypes and scalars as ``pickle`` writes them with numpy 1.x and 2.x
  (``numpy.core.multiarray._reconstruct`` / ``numpy._core...``, ``numpy.ndarray``,
  ``numpy.dtype``, ``...multiarray.scalar``, ``...numeric._frombuffer``);
- ``_codecs.encode(text, "latin1")`` and ``bytes()``, how protocol-2 pickles store ``bytes``;
- ``builtins`` tuple / list / set / frozenset / complex, ``collections.OrderedDict``;
- with ``torch=True`` (the ``.pth`` readers in :mod:`simdr_lib.weights.torch_files`): the
  storage classes and ``torch._utils._rebuild_tensor(_v2)`` / ``_rebuild_parameter`` /
  ``torch._tensor._rebuild_from_type_v2``, again as placeholders.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "MAX_DEPTH",
    "RefusedGlobal",
    "TorchStorage",
    "UnpickleError",
    "restricted_load",
    "resolve",
]

MAX_DEPTH = 64  # nesting of containers a weights file may have (ours: 4)
MAX_NODES = 20_000_000  # containers + values visited while resolving (cycles, sharing bombs)

#: plain numeric dtype codes a file may use (no object, void, string or datetime types)
_DTYPE_CODES = {
    "b1": "?",
    "?": "?",
    "bool": "?",
    **{c: c for c in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8")},
    **{c: c for c in ("c8", "c16")},
}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMERIC_MODULES = ("numpy.core.numeric", "numpy._core.numeric")


class UnpickleError(Exception):
    """The file is not a pickle this reader accepts (malformed, unsupported contents)."""


class RefusedGlobal(UnpickleError):
    """The pickle names a global outside the allow-list (``module.name`` in ``.name``)."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.name = f"{module}.{name}"


# ============================================================================ placeholders
class _DType:
    """``numpy.dtype(code, align, copy)`` as written by pickle; the real dtype is built later."""

    def __init__(self, code: Any = None, align: Any = False, copy: Any = True) -> None:
        if not isinstance(code, str) or code not in _DTYPE_CODES:
            raise UnpickleError(f"dtype {code!r} is not a plain numeric type")
        self.code = _DTYPE_CODES[code]
        self.order = "="

    def __setstate__(self, state: Any) -> None:
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        ok = isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
        if not ok or state[1] not in ("<", ">", "|", "=") or any(s is not None for s in state[2:5]):
            raise UnpickleError(f"dtype {self.code!r} with unsupported state {state!r:.80}")
        self.order = state[1]

    def real(self) -> np.dtype:
        dt = np.dtype(self.code)
        return dt.newbyteorder(self.order) if self.order in "<>" else dt


def _real_dtype(value: Any) -> np.dtype:
    if not isinstance(value, _DType):
        raise UnpickleError(f"array dtype must be a numpy dtype, got {type(value).__name__}")
    return value.real()


def _shape_of(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise UnpickleError(f"array shape must be a tuple of sizes, got {value!r:.80}")
    return value


def _array_from_bytes(data: Any, dtype: np.dtype, shape: tuple[int, ...], fortran: bool):
    if not isinstance(data, (bytes, bytearray)):
        raise UnpickleError(f"array data must be bytes, got {type(data).__name__}")
    size = math.prod(shape)
    if len(data) != size * dtype.itemsize:
        raise UnpickleError(
            f"array of shape {list(shape)} {dtype} needs {size * dtype.itemsize} bytes, "
            f"the file has {len(data)}"
        )
    flat = np.frombuffer(data, dtype=dtype, count=size).copy()
    return flat.reshape(shape, order="F" if fortran else "C")


class _Array:
    """``_reconstruct(ndarray, (0,), b'b')`` followed by BUILD ``(1, shape, dtype, F, data)``."""

    def __init__(self, cls: Any = None, shape: Any = None, typecode: Any = None) -> None:
        if cls is not _NDArrayClass:
            raise UnpickleError("only numpy.ndarray can be reconstructed")
        self.value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise UnpickleError(f"unsupported ndarray state {state!r:.80}")
        _, shape, dtype, fortran, data = state
        if not isinstance(fortran, bool):
            raise UnpickleError("ndarray order flag must be a bool")
        self.value = _array_from_bytes(data, _real_dtype(dtype), _shape_of(shape), fortran)


class _NDArrayClass:
    """Stands for ``numpy.ndarray`` (only ever passed to ``_reconstruct``)."""


def _scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy...multiarray.scalar(dtype, bytes)`` -> a numpy scalar."""
    return _array_from_bytes(data, _real_dtype(dtype), (), False)[()]


def _frombuffer(data: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """``numpy...numeric._frombuffer`` (protocol-5 arrays written in-band)."""
    if order not in ("C", "F"):
        raise UnpickleError(f"array order must be C or F, got {order!r}")
    return _array_from_bytes(data, _real_dtype(dtype), _shape_of(shape), order == "F")


def _codecs_encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    """How protocol 2 writes ``bytes``: ``_codecs.encode(str, "latin1")``; nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnpickleError(f"_codecs.encode is accepted only for latin1 text, got {encoding!r}")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``: how protocol 2 writes ``b""`` (``bytes(n)`` would allocate n bytes)."""
    if args:
        raise UnpickleError("bytes(...) with arguments is not accepted")
    return b""


class TorchStorage:
    """A PyTorch storage: element dtype and count, bytes filled in by the ``.pth`` reader."""

    def __init__(self, dtype: np.dtype, numel: int, key: str, bfloat16: bool = False) -> None:
        self.dtype, self.numel, self.key = dtype, numel, key
        self.bfloat16 = bfloat16  # stored as uint16, widened to float32 when read
        self.data: np.ndarray | None = None  # (numel,) once read


class _TorchStorageType:
    """``torch.FloatStorage`` etc.: only a marker for the element type."""

    def __init__(self, name: str, dtype: str) -> None:
        self.name, self.dtype = name, np.dtype(dtype)


class _TorchTensor:
    """``_rebuild_tensor_v2(storage, offset, size, stride, ...)``; viewed out after loading."""

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> None:
        if not isinstance(storage, TorchStorage):
            raise UnpickleError("a tensor must be built from a storage")
        self.storage, self.offset = storage, offset
        self.size, self.stride = _shape_of(tuple(size)), _shape_of(tuple(stride))
        if not isinstance(offset, int) or offset < 0 or len(self.size) != len(self.stride):
            raise UnpickleError("tensor offset / size / stride do not fit together")
        end = offset + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
        if math.prod(self.size) and end >= storage.numel:
            raise UnpickleError(
                f"tensor of size {list(self.size)} at offset {offset} reads past its storage "
                f"of {storage.numel} elements"
            )

    def real(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise UnpickleError(f"storage {self.storage.key!r} has no data in the file")
        if not math.prod(self.size):
            return np.zeros(self.size, dtype=data.dtype)
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * item for s in self.stride),
            writeable=False,
        )
        return np.array(view)


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    """``torch._utils._rebuild_parameter(data, requires_grad, hooks[, state])`` -> data."""
    if not isinstance(data, _TorchTensor):
        raise UnpickleError("a parameter must wrap a tensor")
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    """``torch._tensor._rebuild_from_type_v2``: only plain tensors / parameters."""
    if func not in (_TorchTensor, _rebuild_parameter) or new_type is not _TorchTensorClass:
        raise UnpickleError("only plain tensors can be rebuilt")
    if not isinstance(args, tuple):
        raise UnpickleError("tensor rebuild arguments must be a tuple")
    return func(*args)


class _TorchTensorClass:
    """Stands for ``torch.Tensor`` / ``torch.nn.parameter.Parameter``."""


_TORCH_STORAGES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",  # widened to float32 by the .pth reader
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


def _allowed(torch: bool) -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _codecs_encode,
        ("builtins", "bytes"): _empty_bytes,
        ("__builtin__", "bytes"): _empty_bytes,
        ("numpy", "ndarray"): _NDArrayClass,
        ("numpy", "dtype"): _DType,
    }
    for name in ("tuple", "list", "set", "frozenset", "complex"):  # not bytearray(10**12)
        table[("builtins", name)] = getattr(__import__("builtins"), name)
        table[("__builtin__", name)] = table[("builtins", name)]  # protocol 2 from Python 2
    for mod in _NUMPY_MODULES:
        table[(mod, "_reconstruct")] = _Array
        table[(mod, "scalar")] = _scalar
    for mod in _NUMERIC_MODULES:
        table[(mod, "_frombuffer")] = _frombuffer
    if torch:
        for name, dtype in _TORCH_STORAGES.items():
            table[("torch", name)] = _TorchStorageType(name, dtype)
        table[("torch._utils", "_rebuild_tensor")] = _TorchTensor
        table[("torch._utils", "_rebuild_tensor_v2")] = _TorchTensor
        table[("torch._utils", "_rebuild_parameter")] = _rebuild_parameter
        table[("torch._utils", "_rebuild_parameter_with_state")] = _rebuild_parameter
        table[("torch._tensor", "_rebuild_from_type_v2")] = _rebuild_from_type_v2
        table[("torch", "Tensor")] = _TorchTensorClass
        table[("torch.nn.parameter", "Parameter")] = _TorchTensorClass
    return table


_TABLES = {False: _allowed(False), True: _allowed(True)}


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh: BinaryIO, torch: bool, persistent_load: Any = None) -> None:
        super().__init__(fh, encoding="latin1")
        self._table = _TABLES[torch]
        self._persistent = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._table[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise UnpickleError("the pickle refers to external objects (persistent ids)")
        return self._persistent(pid)


def restricted_load(fh: BinaryIO | bytes, *, torch: bool = False, persistent_load: Any = None):
    """Unpickle one object with the allow-list; placeholders stay in it (see :func:`resolve`).

    Raises:
        RefusedGlobal: a global outside the allow-list (nothing was called).
        UnpickleError: malformed or truncated data, unsupported array contents.
    """
    if isinstance(fh, (bytes, bytearray)):
        fh = io.BytesIO(fh)
    try:
        return _Unpickler(fh, torch, persistent_load).load()
    except UnpickleError:
        raise
    except RecursionError:
        raise UnpickleError("the pickle is nested too deeply") from None
    except MemoryError:
        raise UnpickleError("the pickle needs more memory than this machine has") from None
    except Exception as exc:  # EOFError, UnpicklingError, ValueError, TypeError, ...
        kind = type(exc).__name__
        raise UnpickleError(f"truncated or corrupt ({kind}: {str(exc)[:80]})") from None


def resolve(obj: Any, *, paddle_tensors: bool = False) -> Any:
    """Replace placeholders by numpy arrays in the containers of ``obj`` (copies containers).

    ``paddle_tensors``: ``paddle.save`` writes a Tensor as the tuple ``(name, ndarray)``;
    such tuples become the ndarray (what ``paddle.load(..., return_numpy=True)`` returns).
    Cycles, nesting beyond :data:`MAX_DEPTH` and more than :data:`MAX_NODES` values raise
    :class:`UnpickleError`.
    """
    count = [0]

    def walk(node: Any, depth: int, path: tuple[int, ...]) -> Any:
        count[0] += 1
        if count[0] > MAX_NODES:
            raise UnpickleError(f"more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise UnpickleError(f"containers nested deeper than {MAX_DEPTH}")
        if isinstance(node, _Array):
            if node.value is None:
                raise UnpickleError("an array without data")
            return node.value
        if isinstance(node, _TorchTensor):
            return node.real()
        if isinstance(node, (_DType, _NDArrayClass, _TorchStorageType, TorchStorage)):
            return node.real() if isinstance(node, _DType) else None
        if type(node) in (dict, collections.OrderedDict):
            if id(node) in path:
                raise UnpickleError("a container contains itself")
            inner = (*path, id(node))
            out = type(node)()
            for key, value in node.items():
                out[walk(key, depth + 1, inner)] = walk(value, depth + 1, inner)
            return out
        if type(node) in (list, tuple, set, frozenset):
            if id(node) in path:
                raise UnpickleError("a container contains itself")
            inner = (*path, id(node))
            items = [walk(v, depth + 1, inner) for v in node]
            if (
                paddle_tensors
                and type(node) is tuple
                and len(items) == 2
                and isinstance(items[0], str)
                and isinstance(items[1], np.ndarray)
            ):
                return items[1]
            return type(node)(items)
        return node

    try:
        return walk(obj, 0, ())
    except TypeError as exc:  # e.g. an array used as a dict key or set member
        raise UnpickleError(f"unsupported contents ({exc})") from None
