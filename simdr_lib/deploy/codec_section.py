"""The ``codec`` section of ``infer_cfg.yml`` as the training config's :class:`CodecConfig`.

One schema for the codec's settings: :class:`simdr_lib.config.CodecConfig` (its fields, types
and defaults). The YAML config maps onto it in :mod:`simdr_lib.config`; ``infer_cfg.yml``
writes its fields (all but ``input_size``, which is a top-level key there) with
:func:`codec_section` and reads them back with :func:`codec_from_section`: a missing key takes
the dataclass default, each value must have its field's type, and then
:meth:`CodecConfig.validate`, the YAML config's own check, decides. The codec itself is built
from it by :func:`simdr_lib.factory.codec_from_settings`, for training and deployment alike.
"""

from __future__ import annotations

import math
import re
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from simdr_lib.config import MAX_SIGMA, CodecConfig, short_repr
from simdr_lib.deploy import checks
from simdr_lib.deploy.layout import file_error
from simdr_lib.errors import ConfigError, ExportError

#: the keys of the ``codec`` section, in the order they are written
SECTION_KEYS = tuple(f.name for f in fields(CodecConfig) if f.name != "input_size")
#: keys without a default: a codec section must say which codec it is
REQUIRED_KEYS = ("type",)
#: keys whose ``null`` means something (``flip_shift: null`` = exact shift, ``sigma: null``
#: = the type's default except for sa_simdr); any other null is an error, not a default
NULLABLE_KEYS = ("flip_shift", "sigma")
_HINTS = typing.get_type_hints(CodecConfig)


def codec_section(codec: CodecConfig) -> dict[str, Any]:
    """The ``codec`` mapping of ``infer_cfg.yml``: every field but ``input_size``, as plain
    YAML scalars of the field's type (``split_ratio: 2.0``, ``flip_shift: null``)."""
    return {name: _plain(getattr(codec, name), _HINTS[name]) for name in SECTION_KEYS}


def codec_from_section(raw: dict, input_size: tuple[int, int], path: Path) -> CodecConfig:
    """The validated codec settings of an ``infer_cfg.yml`` codec section.

    Keys this version does not know are ignored (as they always were); a missing key takes
    :class:`CodecConfig`'s default, except ``type``, which is required.

    Raises:
        ExportError: one line naming ``path`` and the key (``'codec.sigma' must be ...``).
    """
    for name in REQUIRED_KEYS:
        checks.get(raw, name, path, "codec.")
    defaults = CodecConfig()
    values: dict[str, Any] = {}
    for name in SECTION_KEYS:
        if name == "sigma" and raw.get(name) is None:
            if name in raw and values["type"] == "sa_simdr":  # its labels are made of sigma
                raise file_error(path, "'codec.sigma' must be set for sa_simdr, got null")
            values[name] = None  # unset: the type's default (CodecConfig.DEFAULT_SIGMA)
            continue
        if name not in raw:
            values[name] = getattr(defaults, name)
            continue
        if raw[name] is None and name not in NULLABLE_KEYS:
            raise file_error(path, f"'codec.{name}' must be set, got null")
        values[name] = _typed(raw[name], name, values, input_size, path)
    codec = CodecConfig(input_size=input_size, **values)
    try:
        codec.validate(str(path))
    except ConfigError as exc:
        raise _quoted(exc, path) from None
    return codec


def _plain(value: Any, hint: Any) -> Any:
    """``value`` as the plain scalar its type hint names (``Optional[float]``: None or float)."""
    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    kind = args[0] if args else hint
    return kind(value) if kind in (bool, int, float, str) else value


def _float_interval(
    name: str, values: dict[str, Any], size: tuple[int, int]
) -> tuple[float, float, str] | None:
    """The interval a float codec key's message states (``None``: any finite number).

    :meth:`CodecConfig.validate` checks the same limits; they are stated here so that the one
    line says the interval for a value that is not a finite number too.
    """
    if name == "flip_shift":
        if values.get("type") == "heatmap":
            return None  # the heatmap codec has no flip shift
        return 0.0, float(int(size[0] * values["split_ratio"])), "[)"
    return {
        "split_ratio": (0.0, math.inf, "(]"),  # the config rule: k > 0 leaving 2 bins
        "sigma": (0.0, MAX_SIGMA, "(]"),
        "label_smoothing": (0.0, 1.0, "[)"),
    }.get(name)


def _typed(value: Any, name: str, values: dict[str, Any], size: tuple[int, int], path: Path) -> Any:
    """``value`` checked against the type of field ``name`` (earlier fields are in ``values``)."""
    key = f"codec.{name}"
    hint = _HINTS[name]
    optional = type(None) in typing.get_args(hint)
    if optional and value is None:
        return None
    kind = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    if kind is bool:
        return checks.flag(value, key, path)
    if kind is int:
        return checks.integer(value, key, path)
    if kind is str:
        return checks.text(value, key, path)
    interval = _float_interval(name, values, size)
    if interval is not None:
        return checks.number(value, key, path, *interval)
    number = checks.finite(value)
    if number is None:
        raise file_error(path, f"'{key}' must be a finite number, got {short_repr(value)}")
    return number


def _quoted(exc: ConfigError, path: Path) -> ExportError:
    """A :meth:`CodecConfig.validate` message as infer_cfg.yml words it: the key quoted."""
    prefix = f"{path}: "
    msg = str(exc)[len(prefix) :] if str(exc).startswith(prefix) else str(exc)
    return file_error(path, re.sub(r"^codec\.(\w+)", r"'codec.\1'", msg))
