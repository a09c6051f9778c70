"""Reading JSON annotation files safely, and the checks of single JSON values.

:func:`read_json` parses a file with its nesting depth and integer sizes bounded (Python's
parser recurses, and huge integers are slow to read): every failure is one
:class:`~simdr_lib.errors.DataError` naming the file and, where it can, the record and key
(``annotations[3]: 'segmentation'``). The value checks (ids within signed 64 bits, boxes and
coordinates within +-1e7 px, finite numbers) are shared by the COCO annotation checks
(:mod:`simdr_lib.data.coco_checks`), the detection loader and inference inputs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import reprlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from simdr_lib.errors import DataError

# ----------------------------------------------------------------------------------------------
# limits and small validation helpers

MAX_JSON_DEPTH = 32  # COCO needs 5 (file, section, record, segmentation, polygon)
COORD_MAX = 1e7  # |x|, |y|, |w|, |h| in px: beyond this a value is not a pixel coordinate
AREA_MAX = COORD_MAX**2  # px^2
IMAGE_SIDE_MAX = 1_000_000  # px, width or height of an image
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # ids: what numpy / pycocotools can hold
NUMBER_TYPES = frozenset((int, float))  # JSON numbers (``type(True)`` is bool, not int)
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # no line breaks in messages

_REPR = reprlib.Repr()  # bounded repr: deep or huge values print short and never recurse far
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxlong = 3, 8, 4, 40, 40


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_id(value: Any) -> bool:
    """An integer pycocotools and numpy can hold: signed 64-bit."""
    return is_int(value) and INT64_MIN <= value <= INT64_MAX


def is_number(value: Any) -> bool:
    """A finite JSON number (ints limited to 64 bits, so ``float()`` cannot overflow)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return is_id(value)


def short_value(value: Any, limit: int = 60) -> str:
    text = _REPR.repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_id(where: str, key: str, value: Any) -> int:
    """``value`` if it is a signed 64-bit integer id, else DataError ``where: 'key' ...``."""
    if not is_id(value):
        raise DataError(
            f"{where}: '{key}' must be an integer id in the signed 64-bit range, "
            f"got {short_value(value)}"
        )
    return value


def check_box(where: str, box: Any) -> list:
    """A detection ``bbox``: 4 finite numbers within +-COORD_MAX px, ``w, h >= 0``."""
    if not isinstance(box, list) or len(box) != 4 or not all(map(is_number, box)):
        raise DataError(f"{where}: 'bbox' must be 4 finite numbers, got {short_value(box)}")
    if max(map(abs, box)) > COORD_MAX:
        raise DataError(
            f"{where}: 'bbox' has a value beyond +-{COORD_MAX:.0e}, not a pixel coordinate: "
            f"{short_value(box)}"
        )
    if box[2] < 0 or box[3] < 0:
        raise DataError(f"{where}: 'bbox' has a negative width or height: {short_value(box)}")
    return box


def check_score(where: str, score: Any) -> float:
    """A detection ``score``: a finite number."""
    if not is_number(score):
        raise DataError(f"{where}: 'score' must be a finite number, got {short_value(score)}")
    return float(score)


# ----------------------------------------------------------------------------------------------
# reading JSON: nesting depth and integer size are checked, the spot at fault is named

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_BRACKET_STEP = np.zeros(256, dtype=np.int8)  # +1 for [ {, -1 for ] }, by byte value
_BRACKET_STEP[[ord("["), ord("{")]], _BRACKET_STEP[[ord("]"), ord("}")]] = 1, -1
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


def _max_depth(raw: bytes) -> int:
    """Deepest list/object nesting of JSON text, by a vectorized bracket count outside strings."""
    if b"\\" in raw:  # drop escaped backslashes, then escaped quotes (left to right, as JSON)
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = np.frombuffer(raw.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    in_string = np.bitwise_xor.accumulate(marks == ord('"'))
    step = _BRACKET_STEP[marks]
    step[in_string] = 0
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _find_in_json(
    text: str, max_depth: int | None = None, max_digits: int | None = None
) -> tuple[list, str] | None:
    """``(path of keys / indices, token)`` of the first container deeper than ``max_depth`` or
    the first integer longer than ``max_digits``; a slow tokenizer, for error messages only."""
    stack: list[list] = []  # [opening bracket, current key or index]
    key = None
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok in ("[", "{"):
            stack.append([tok, 0 if tok == "[" else None])
            if max_depth is not None and len(stack) > max_depth:
                return [k for _, k in stack[:-1]], tok
        elif tok in ("]", "}"):
            if stack:
                stack.pop()
        elif tok == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif tok == ":":
            if stack:
                stack[-1][1] = key
        elif tok[0] == '"':
            key = tok
        elif max_digits is not None and tok.lstrip("-").isdigit():
            if len(tok.lstrip("-")) > max_digits:
                return [k for _, k in stack], tok
    return None


def _path_label(path: list, what: str) -> str:
    """``annotations[3]: 'segmentation'`` (record, then key) for a JSON path."""
    keys = []
    for k in path:
        if isinstance(k, str):
            with contextlib.suppress(ValueError):
                k = json.loads(k)
        keys.append(k)
    parts = []
    if len(keys) >= 2 and isinstance(keys[0], str) and isinstance(keys[1], int):
        section = keys[0] if keys[0].isidentifier() else short_value(keys[0], 30)
        parts.append(f"{section}[{keys[1]}]")
        keys = keys[2:]
    elif keys and isinstance(keys[0], int):
        parts.append(f"{what.split()[0]} [{keys[0]}]")
        keys = keys[1:]
    if keys and isinstance(keys[0], str):
        parts.append(short_value(keys[0], 40))
    return ": ".join(parts) or "top level"


def _decode_json(p: Path, what: str, text: str) -> Any:
    """``json.loads`` with every failure as a DataError naming the spot at fault."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except RecursionError as exc:  # only with a max_depth beyond Python's recursion limit
        raise DataError(f"{p}: JSON nested too deeply to read") from exc
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits() (3.11+)
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
        found = _find_in_json(text, max_digits=limit) if limit else None
        if found is None:
            raise DataError(f"{p}: cannot read {what} ({exc})") from exc
        path, tok = found
        raise DataError(
            f"{p}: {_path_label(path, what)} holds an integer of {len(tok.lstrip('-'))} "
            f"digits, more than the {limit} Python reads"
        ) from exc


def read_json(path: str | os.PathLike, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON file; ``what`` names the file's role in the not-found message.

    Raises:
        DataError: missing file, not UTF-8, invalid JSON (with line and column), lists/objects
            nested deeper than ``max_depth`` or an integer too long for Python (these two name
            the record and key, e.g. ``annotations[3]: 'segmentation'``).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: {what} not found")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read {what} ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    if _max_depth(raw) > max_depth:
        found = _find_in_json(text, max_depth=max_depth)
        where = _path_label(found[0], what) if found else "top level"
        raise DataError(f"{p}: {where} nests lists/objects more than {max_depth} levels deep")
    del raw
    return _decode_json(p, what, text)
