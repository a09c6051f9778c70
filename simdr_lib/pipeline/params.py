"""The notebooks a run executes and their parameters (declared defaults + given values)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from simdr_lib.errors import ConfigError, SimdrError
from simdr_lib.notebook_run import DEFAULT_RUN
from simdr_lib.paths import project_root
from simdr_lib.report.run_files import STUDY_NOTEBOOK

#: notebooks the pipeline runs only when named (``--notebooks``): long studies
ON_REQUEST_NOTEBOOKS = (STUDY_NOTEBOOK,)


class PipelineError(SimdrError):
    """A notebook failed, or the run folder does not fit the request (one line)."""


def list_notebooks(
    root: Path | None = None, names: Sequence[str] | None = None, on_request: bool = False
) -> list[Path]:
    """``notebooks/NN_*.ipynb`` in order: ``names`` (stems) if given, else the default set.

    The default set leaves out :data:`ON_REQUEST_NOTEBOOKS` (long studies) unless
    ``on_request`` (then: every numbered notebook).
    """
    folder = (root or project_root()) / "notebooks"
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())
    if not books:
        raise PipelineError(f"{folder}: no numbered notebooks (NN_name.ipynb)")
    if not names:
        return [p for p in books if on_request or p.stem not in ON_REQUEST_NOTEBOOKS]
    by_stem = {p.stem: p for p in books}
    unknown = [n for n in names if n not in by_stem]
    if unknown:
        raise ConfigError(
            f"unknown notebook {unknown[0]!r}; the notebooks are {', '.join(by_stem)}"
        )
    return [by_stem[n] for n in sorted(dict.fromkeys(names))]


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Declared parameters of a notebook (name -> default value) from its ``parameters`` cell.

    The cell is read by :func:`papermill.inspect_notebook` (one ``name = value  # help`` per
    assignment; papermill skips a line with two ``=``), which gives each default as source
    text; the value is that text read as a Python literal.
    """
    import ast

    import nbformat
    import papermill

    nb = nbformat.read(str(path), as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise PipelineError(f"{path}: no cell tagged 'parameters'")
    out: dict[str, Any] = {}
    for name, info in papermill.inspect_notebook(str(path)).items():
        try:
            out[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            raise PipelineError(
                f"{path}: parameter {name} = {info['default']} is not a literal value"
            ) from None
    return out


def coerce_parameter(name: str, value: Any, default: Any) -> Any:
    """``value`` (often a CLI string) converted to the type of the notebook's default."""
    if isinstance(value, str) and not isinstance(default, str):
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        value = parsed
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        value = str(value) if ok else value
    elif isinstance(default, (dict, list)):
        ok = isinstance(value, (dict, list))
    else:
        ok = True
    if not ok:
        want = type(default).__name__
        raise ConfigError(f"parameter {name}: expected {want}, got {value!r}")
    return value


def resolve_parameters(
    parameters: dict[str, Any] | None, books: Sequence[Path]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Merged parameters (notebook defaults + given) and each notebook's declared ones."""
    declared = {p.stem: notebook_parameters(p) for p in books}
    defaults: dict[str, Any] = {}
    for params in declared.values():
        for k, v in params.items():
            defaults.setdefault(k, v)
    merged = dict(defaults)
    for name, value in (parameters or {}).items():
        if name not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"unknown notebook parameter '{name}' (known: {known})")
        merged[name] = coerce_parameter(name, value, defaults[name])
    run = str(merged.get("run_name", DEFAULT_RUN))
    if not run or any(c in run for c in "/\\") or run in (".", ".."):
        raise ConfigError(f"run name must be a plain folder name, got {run!r}")
    return merged, declared
