"""Config files and overrides -> plain values checked against dataclass type hints.

The mechanics under :mod:`simdr_lib.config`, which holds what a config *is* (the sections,
their defaults and value checks): reading a YAML file safely (size, encoding and syntax
errors become one-line :class:`ConfigError` s), mapping a nested dict onto a dataclass by its
type hints (unknown keys and wrong types refused with the key's path), and parsing the
``-o key.sub=value`` / dict / YAML-string overrides.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Union

import yaml

from simdr_lib.errors import ConfigError

#: any integer key (beyond this numpy / paddle overflow)
MAX_INT = 2**63 - 1
#: config files above this size are refused before parsing
MAX_CONFIG_BYTES = 10_000_000


def read_config_yaml(p: Path) -> Any:
    """The parsed YAML of config file ``p``; one-line ConfigError if it cannot be read."""
    try:
        if p.is_dir():
            raise ConfigError(f"{p}: is a directory, not a config file")
        if not p.exists():
            raise ConfigError(f"{p}: config file not found")
        if not p.is_file():
            raise ConfigError(f"{p}: not a regular file (a config is a .yml file)")
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: config file is larger than {MAX_CONFIG_BYTES} bytes")
        data = p.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{p}: cannot read config file ({reason})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{p}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the config as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: not valid YAML{at}") from None
    except RecursionError:
        raise ConfigError(f"{p}: not valid YAML (nested too deeply)") from None
    except Exception as exc:  # PyYAML's constructors: `2001-13-01`, `!!int x`, 5000 digits
        raise ConfigError(f"{p}: not valid YAML ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:120]


def short_repr(value: Any) -> str:
    """``repr(value)`` for a one-line message: at most 80 characters, huge ints by size."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    try:
        text = repr(value)
    except Exception:  # ints beyond Python's 4300-digit str limit, very deep lists
        text = f"a {type(value).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


def tuples_to_lists(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: tuples_to_lists(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [tuples_to_lists(v) for v in obj]
    return obj


def build_dataclass(cls: type, raw: dict[str, Any], prefix: str, source: str) -> Any:
    """``cls(**raw)`` with every key known and every value of its hinted type (nested
    dataclasses for mappings); ``prefix`` is the key path so far, ``source`` the file."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls) if f.name != "source"}
    for key in raw:
        if key not in names:
            path = f"{prefix}{key}"
            raise ConfigError(
                f"{source}: unknown config key {short_repr(path)} "
                f"(known: {', '.join(sorted(names))})"
            )
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        hint = hints[key]
        path = f"{prefix}{key}"
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{path}' must be a mapping (section)")
            kwargs[key] = build_dataclass(hint, value, prefix=f"{path}.", source=source)
        else:
            kwargs[key] = _coerce(value, hint, path, source)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, path: str, source: str) -> Any:
    """Check ``value`` against a simple type hint; ints are accepted for floats."""
    origin = typing.get_origin(hint)
    if origin in (Union, getattr(types, "UnionType", Union)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], path, source)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{path}' must be a list, got {short_repr(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]", source) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(
                f"{source}: '{path}' must have {len(args)} items, got {short_repr(value)}"
            )
        return tuple(
            _coerce(v, a, f"{path}[{i}]", source) for i, (v, a) in enumerate(zip(value, args))
        )
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                raise ConfigError(
                    f"{source}: '{path}' is out of range (|value| <= 2**63 - 1), "
                    f"got {short_repr(value)}"
                )
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise ConfigError(
                    f"{source}: '{path}' must be a finite number, got {short_repr(value)}"
                )
            return number
    elif hint is str:
        if isinstance(value, str):
            if "\0" in value:
                raise ConfigError(f"{source}: '{path}' must not contain a NUL character")
            return value
        if value is None:
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # `-o name=2024` parses as an int; a run name is still text
    else:  # pragma: no cover - only the hints above are used
        return value
    raise ConfigError(
        f"{source}: '{path}' must be {hint.__name__}, "
        f"got {type(value).__name__} {short_repr(value)}"
    )


def parse_overrides(overrides: dict[str, Any] | list[str] | str | None) -> dict[str, Any]:
    """Dotted-key overrides from a dict, a ``["key=value", ...]`` list or a YAML mapping string."""
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    if isinstance(overrides, str):
        try:
            parsed = yaml.safe_load(overrides)
        except Exception:  # YAMLError, or a PyYAML constructor's ValueError, RecursionError
            parsed = None
        if not isinstance(parsed, dict):
            raise ConfigError(
                f"parameter overrides: expected a mapping like '{{train.batch_size: 16}}', "
                f"got {short_repr(overrides)}"
            )
        return parsed
    out: dict[str, Any] = {}
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"override {short_repr(item)}: expected key.sub=value")
        key, text = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else ""
        except Exception:  # YAMLError, or a PyYAML constructor's ValueError, RecursionError
            out[key.strip()] = text
    return out


def set_dotted(data: dict[str, Any], key: Any, value: Any, source: str) -> None:
    """Set ``data[a][b] = value`` for ``key`` ``"a.b"``; only keys that already exist."""
    if not isinstance(key, str):
        raise ConfigError(
            f"{source}: override key {short_repr(key)} must be a dotted name like train.lr"
        )
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        if part not in node or not isinstance(node[part], dict):
            raise ConfigError(
                f"{source}: unknown config key {short_repr('.'.join(parts[: i + 1]))}"
            )
        node = node[part]
    if parts[-1] not in node:
        raise ConfigError(f"{source}: unknown config key {short_repr(key)}")
    if isinstance(node[parts[-1]], dict):
        raise ConfigError(f"{source}: '{key}' is a section; set one of its keys")
    node[parts[-1]] = value
