"""Training-progress figures: loss / validation AP per epoch and its live notebook view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib.data.dataset_kinds import metric_kind_of
from simdr_lib.viz.figures import figure_png, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FEW_EPOCHS = 3  # up to this many epochs the curves are drawn as large, labelled points


def plot_training_curves(history: Sequence[dict[str, float]], title: str = "") -> Figure:
    """Loss per epoch (left) and validation AP (MPII: PCKh@0.5 %) per evaluated epoch (right)."""
    fig = new_figure(11, 3.4)
    ax_loss, ax_ap = fig.subplots(1, 2)
    epochs = np.array([float(r.get("epoch", i + 1)) for i, r in enumerate(history)])
    loss = np.array([float(r.get("loss", np.nan)) for r in history])
    ap = np.array([float(r.get("AP", np.nan)) for r in history])
    kind = metric_kind_of(history[-1] if history else None)  # MPII rows also hold "PCKh"
    # a run of one to three epochs is a few dots, not a line: big markers and their values
    few = len(epochs) <= FEW_EPOCHS
    ms = 7 if few else 3
    ax_loss.plot(epochs, loss, marker="o", ms=ms, color="#4c72b0")
    if few:
        for e, v in zip(epochs, loss):
            if np.isfinite(v):
                ax_loss.annotate(
                    f"{v:.4g}", (e, v), xytext=(6, 4), textcoords="offset points", fontsize=8
                )
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("loss", fontsize=10)
    ok = np.isfinite(ap)
    if ok.any():
        ax_ap.plot(epochs[ok], ap[ok], marker="o", ms=ms, color="#55a868")
        best = int(np.nanargmax(np.where(ok, ap, -np.inf)))
        ax_ap.annotate(
            f"best {ap[best]:.3f}" if kind.full == 1.0 else f"best {ap[best]:.1f}",
            (epochs[best], ap[best]),
            xytext=(-10, 8),
            textcoords="offset points",
            ha="right",
            fontsize=8,
        )
    else:
        ax_ap.text(
            0.5, 0.5, "not evaluated yet", ha="center", va="center", transform=ax_ap.transAxes
        )
    ax_ap.set_ylim(0, kind.full)
    ax_ap.set_xlabel("epoch")
    ax_ap.set_ylabel(f"{kind.name} (val)")
    ax_ap.set_title(f"validation {kind.key}", fontsize=10)
    for ax in (ax_loss, ax_ap):
        ax.grid(alpha=0.3)
        if len(epochs):
            ax.set_xlim(0.5, max(epochs.max(), 1) + 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


class LiveCurve:
    """Loss / AP curve redrawn in place after every epoch (a notebook display handle).

    Use as ``train(..., on_epoch_end=LiveCurve().update)``; outside IPython it does nothing.
    """

    def __init__(self, history: Sequence[dict[str, float]] = (), title: str = "") -> None:
        self.history = list(history)
        self.title = title
        self._handle: Any = None

    def update(self, row: dict[str, float]) -> None:
        self.history.append(dict(row))
        try:
            from IPython import get_ipython
            from IPython.display import Image, display
        except ImportError:  # pragma: no cover - IPython ships with the notebooks extra
            return
        if get_ipython() is None:
            return
        png = figure_png(plot_training_curves(self.history, self.title), dpi=80)
        if self._handle is None:
            self._handle = display(Image(png), display_id=True)
        else:
            self._handle.update(Image(png))
