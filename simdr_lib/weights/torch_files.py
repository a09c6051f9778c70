"""PyTorch ``.pth`` files read without torch, through the restricted unpickler.

Two container formats (facts from ``torch/serialization.py``; checked on the official SimDR
files in ``tests/fixtures/peer_weights``):

- **zip** (``torch.save`` since 1.6): ``<folder>/data.pkl`` is the pickled object, whose
  persistent ids ``("storage", StorageType, key, location, numel)`` name the raw
  little-endian bytes in ``<folder>/data/<key>``; ``<folder>/byteorder`` may say ``big``.
- **legacy** (``_use_new_zipfile_serialization=False``): five pickles in a row (magic number
  ``0x1950a86a20f9469cfc6c``, protocol 1001, sys-info dict, the object with persistent ids
  ``("storage", StorageType, key, location, numel, view)``, the sorted list of storage keys),
  then per key an int64 element count and the raw bytes.

Tensors come back as numpy arrays; bfloat16 is widened to float32. The pre-0.4 tar format,
storage views and quantized tensors are refused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from simdr_lib.weights.unpickle import (
    TorchStorage,
    UnpickleError,
    resolve,
    restricted_load,
)

__all__ = ["LEGACY_MAGIC", "is_torch_legacy_magic", "read_torch_legacy", "read_torch_zip"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def is_torch_legacy_magic(obj: Any) -> bool:
    return isinstance(obj, int) and not isinstance(obj, bool) and obj == LEGACY_MAGIC


def _storage_for(pid: Any, storages: dict[str, TorchStorage], big_endian: bool) -> TorchStorage:
    """The :class:`TorchStorage` a persistent id names (one object per key)."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        raise UnpickleError(f"unsupported persistent id {pid!r:.80}")
    storage_type, key, _location, numel = pid[1:5]
    if len(pid) == 6 and pid[5] is not None:
        raise UnpickleError("storage views (legacy torch files) are not supported")
    dtype = getattr(storage_type, "dtype", None)
    if dtype is None or not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
        raise UnpickleError(f"unsupported storage {pid!r:.80}")
    if big_endian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    if key not in storages:
        storages[key] = TorchStorage(dtype, numel, key, storage_type.name == "BFloat16Storage")
    return storages[key]


def _fill(storage: TorchStorage, raw: bytes) -> None:
    expected = storage.numel * storage.dtype.itemsize
    if len(raw) != expected:
        raise UnpickleError(
            f"storage {storage.key!r} has {len(raw)} bytes, {expected} expected (truncated?)"
        )
    data = np.frombuffer(raw, dtype=storage.dtype).astype(storage.dtype.newbyteorder("="))
    if storage.bfloat16:
        data = (data.astype(np.uint32) << 16).view(np.float32)
    storage.data = data


def read_torch_zip(path: Path) -> Any:
    """The object in a zip-format ``.pth`` (tensors as numpy arrays)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnpickleError(f"not a readable zip archive ({exc})") from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise UnpickleError("a zip archive without exactly one data.pkl: not a PyTorch file")
        prefix = pickles[0][: -len("data.pkl")]
        order = prefix + "byteorder"
        big = order in names and archive.read(order).strip() == b"big"
        storages: dict[str, TorchStorage] = {}

        def persistent_load(pid: Any) -> TorchStorage:
            storage = _storage_for(pid, storages, big)
            if storage.data is None:
                name = f"{prefix}data/{storage.key}"
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    raise UnpickleError(f"storage {name} is missing from the archive") from None
                if info.file_size != storage.numel * storage.dtype.itemsize:
                    raise UnpickleError(f"storage {name} has the wrong size ({info.file_size})")
                _fill(storage, archive.read(info))
            return storage

        with archive.open(pickles[0]) as fh:
            obj = restricted_load(fh, torch=True, persistent_load=persistent_load)
    return resolve(obj)


def _read_exact(fh: BinaryIO, n: int, what: str) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise UnpickleError(f"truncated: {what} ends after {len(data)} of {n} bytes")
    return data


def read_torch_legacy(path: Path) -> Any:
    """The object in a legacy (pre-zip) ``.pth`` (tensors as numpy arrays)."""
    with open(path, "rb") as fh:
        if not is_torch_legacy_magic(restricted_load(fh)):
            raise UnpickleError("not a legacy PyTorch file (magic number missing)")
        if restricted_load(fh) != LEGACY_PROTOCOL:
            raise UnpickleError("unsupported legacy PyTorch protocol version")
        info = restricted_load(fh)
        big = isinstance(info, dict) and info.get("little_endian") is False
        storages: dict[str, TorchStorage] = {}
        obj = restricted_load(
            fh, torch=True, persistent_load=lambda pid: _storage_for(pid, storages, big)
        )
        keys = restricted_load(fh)
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            raise UnpickleError("the storage key list is malformed")
        for key in keys:
            if key not in storages:
                raise UnpickleError(f"storage {key!r} is listed but never used")
            storage = storages[key]
            count = int.from_bytes(_read_exact(fh, 8, f"storage {key}"), "big" if big else "little")
            if count != storage.numel:
                raise UnpickleError(
                    f"storage {key!r} holds {count} values, {storage.numel} expected"
                )
            _fill(storage, _read_exact(fh, count * storage.dtype.itemsize, f"storage {key}"))
    return resolve(obj)
