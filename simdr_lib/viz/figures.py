"""Pyplot-free matplotlib figures: creating, rendering to PNG, choosing a headless backend.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state): they never pop up or
pile up in a notebook by themselves, work under any backend (also headless Agg), and are
shown / saved explicitly (:func:`figure_png`, ``NotebookRun.show``). matplotlib is imported
inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free ``Figure`` of ``width`` x ``height`` inches with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_png(fig: Figure, dpi: int = 96) -> bytes:
    """PNG bytes of ``fig``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def use_headless_backend() -> str:
    """Pick a non-interactive matplotlib backend when there is no display; returns it.

    In a Jupyter kernel the inline backend is kept (it is non-interactive and puts figures in
    the notebook); a plain headless Python process (no ``DISPLAY``) gets ``Agg``; with a
    display nothing changes.
    """
    import matplotlib

    in_kernel = "ipykernel" in sys.modules
    headless = os.environ.get("SIMDR_HEADLESS") == "1" or not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform != "linux"
    )
    if in_kernel:
        backend = str(matplotlib.get_backend())
        if headless and "inline" not in backend and backend.lower() != "agg":
            matplotlib.use("module://matplotlib_inline.backend_inline")
    elif headless:
        matplotlib.use("Agg")
    return str(matplotlib.get_backend())


def mpl_rgb(color: tuple[int, int, int]) -> tuple[float, float, float]:
    return (color[0] / 255.0, color[1] / 255.0, color[2] / 255.0)


def grid_shape(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return -(-n // cols), cols


def bin_axis(length: int, split_ratio: float) -> np.ndarray:
    """Pixel position of each of ``length`` bins (bin / k)."""
    return np.arange(length) / float(split_ratio)
