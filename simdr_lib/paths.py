"""Where the project lives: notebooks run from the project root or from ``notebooks/``.

JupyterLab starts a notebook's kernel in the notebook's folder, papermill (``simdr pipeline``)
in the project root. :func:`project_root` finds the root either way (the nearest folder up
from the current directory holding ``pyproject.toml`` and ``notebooks/``), and every relative
path a notebook is given (config, data root, reports) is resolved against it.
"""

from __future__ import annotations

import os
from pathlib import Path

from simdr_lib.errors import ConfigError

MARKERS = ("pyproject.toml", "notebooks")


def is_project_root(folder: Path) -> bool:
    """True when ``folder`` holds ``pyproject.toml`` and a ``notebooks/`` folder."""
    return (folder / MARKERS[0]).is_file() and (folder / MARKERS[1]).is_dir()


def find_project_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest project root at or above ``start`` (default: cwd), else None."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_project_root(folder):
            return folder
    return None


def project_root(start: str | os.PathLike | None = None) -> Path:
    """Project root found from ``start`` / the cwd, else the checkout holding ``simdr_lib``.

    Raises:
        ConfigError: neither the current directory nor the package is inside a project
            folder (e.g. ``simdr_lib`` installed from a wheel and run from elsewhere).
    """
    root = find_project_root(start)
    if root is None:
        root = find_project_root(Path(__file__).resolve().parent)
    if root is None:
        where = Path(start if start is not None else Path.cwd()).resolve()
        raise ConfigError(
            f"{where}: not inside the project folder (no pyproject.toml + notebooks/ above it); "
            "cd into the simdr-notebooks checkout"
        )
    return root


def resolve(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """``path`` as given when absolute, else relative to ``root`` (default: project root)."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute():
        return p
    return Path(root if root is not None else project_root()) / p


def chdir_to_project_root(start: str | os.PathLike | None = None) -> Path:
    """``os.chdir`` to the project root (so relative config paths work); returns it."""
    root = project_root(start)
    if Path.cwd().resolve() != root:
        os.chdir(root)
    return root
