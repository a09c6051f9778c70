"""One-line checks of the values of a YAML file (``infer_cfg.yml``), each naming file and key.

Every check returns the value in its Python type or raises ``ExportError("<file>: '<key>' must
be ..., got <value>")``; numbers must be finite (NaN, +-inf, 5000-digit integers and bools are
refused).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from simdr_lib.config import MAX_INPUT_SIDE, MIN_INPUT_SIDE, short_repr
from simdr_lib.deploy.layout import file_error


def read_yaml(path: Path) -> Any:
    """The parsed YAML of ``path``: one-line ExportError if unreadable, not UTF-8 or not YAML."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise file_error(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise file_error(
            path, f"not UTF-8 text (byte at offset {exc.start}); re-export the model"
        ) from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise file_error(path, f"not valid YAML{at}") from None
    except Exception as exc:  # PyYAML's constructors: `2001-13-01`, `!!int x`, 5000 digits
        raise file_error(path, f"not valid YAML ({str(exc).splitlines()[0][:120]})") from None


def get(node: dict, key: str, path: Path, where: str = "") -> Any:
    """``node[key]``; a missing key says to re-export (``where`` prefixes the key path)."""
    if not isinstance(node, dict) or key not in node:
        raise file_error(
            path, f"missing key '{where}{key}' (re-export the model with simdr export)"
        )
    return node[key]


def section(raw: dict, key: str, path: Path, required: bool = True) -> dict:
    """The mapping ``raw[key]`` (``{}`` when absent and not ``required``)."""
    if not required and raw.get(key) is None:
        return {}
    node = get(raw, key, path)
    if not isinstance(node, dict):
        raise file_error(path, f"'{key}' must be a mapping, got {type(node).__name__}")
    return node


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, a bool, NaN, +-inf, too large)."""
    if not is_number(value):
        return None
    try:
        v = float(value)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def number(
    value: Any, key: str, path: Path, low: float, high: float = math.inf, closed: str = "[]"
) -> float:
    """``value`` as a finite float in ``low..high``; ``closed`` "[]", "[)" or "(]" says which
    ends belong to the interval."""
    v = finite(value)
    ok = v is not None and (v >= low if closed[0] == "[" else v > low)
    ok = ok and (v <= high if closed[1] == "]" else v < high)
    if not ok:
        top = "inf)" if math.isinf(high) else f"{high:g}{closed[1]}"
        interval = f"{closed[0]}{low:g}, {top}"
        raise file_error(
            path, f"'{key}' must be a finite number in {interval}, got {short_repr(value)}"
        )
    return float(v)


def flag(value: Any, key: str, path: Path) -> bool:
    if not isinstance(value, bool):
        raise file_error(path, f"'{key}' must be true or false, got {short_repr(value)}")
    return value


def integer(value: Any, key: str, path: Path) -> int:
    if not is_int(value):
        raise file_error(path, f"'{key}' must be an integer, got {short_repr(value)}")
    return int(value)


def text(value: Any, key: str, path: Path) -> str:
    if not isinstance(value, str):
        raise file_error(path, f"'{key}' must be a string, got {short_repr(value)}")
    return value


def file_name(value: Any, key: str, path: Path, empty: bool = False) -> str:
    """A file name inside the model folder (no directories: the folder is self-contained)."""
    name = text(value, key, path)
    if empty and not name:
        return name
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise file_error(
            path, f"'{key}' must be a file name in the model folder, got {short_repr(name)}"
        )
    return name


def floats(value: Any, n: int, key: str, path: Path, positive: bool = False) -> tuple[float, ...]:
    """A list of ``n`` finite numbers (all > 0 with ``positive``)."""
    ok = isinstance(value, list) and len(value) == n and all(is_number(v) for v in value)
    if not ok:
        raise file_error(path, f"'{key}' must be a list of {n} numbers, got {short_repr(value)}")
    out = tuple(finite(v) for v in value)
    for i, v in enumerate(out):
        if v is None or (positive and v <= 0):
            need = "finite numbers > 0" if positive else "finite numbers"
            raise file_error(
                path, f"'{key}' must be {need}, got {short_repr(value)} ('{key}[{i}]')"
            )
    return tuple(float(v) for v in value)


def pairs(
    value: Any, key: str, path: Path, low: int, high: int, swap: bool = False
) -> tuple[tuple[int, int], ...]:
    """Index pairs in ``[low, high]``; ``swap``: a permutation (no (i, i), no joint twice)."""
    ok = isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(is_int(i) for i in p) for p in value
    )
    if not ok or any(not (low <= i <= high) for p in value for i in p):
        raise file_error(path, f"'{key}' must be a list of index pairs in [{low}, {high}]")
    if swap:
        seen: set[int] = set()
        for a, b in value:
            if a == b or a in seen or b in seen:
                raise file_error(
                    path,
                    f"'{key}' must swap distinct joints, each in at most one pair; "
                    f"[{a}, {b}] repeats joint {a if a == b or a in seen else b}",
                )
            seen.update((a, b))
    return tuple((int(a), int(b)) for a, b in value)


def input_size(size: Any, path: Path) -> tuple[int, int]:
    """``[W, H]``: two integers in the training config's limits."""
    ok = isinstance(size, list) and len(size) == 2 and all(is_int(v) for v in size)
    if not ok or not all(MIN_INPUT_SIDE <= v <= MAX_INPUT_SIDE for v in size):
        raise file_error(
            path,
            f"'input_size' must be [W, H] (two integers in [{MIN_INPUT_SIDE}, "
            f"{MAX_INPUT_SIDE}] px), got {short_repr(size)}",
        )
    return int(size[0]), int(size[1])
