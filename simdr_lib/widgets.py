"""ipywidgets explorers (need ``ipywidgets``, part of the ``notebooks`` extra).

:func:`label_explorer` (02): sliders for ``k`` and ``sigma`` redraw one joint's label
vectors. :func:`distribution_explorer` (06): pick a validation person and a joint, see its
predicted vs target 1D x / y distributions next to the crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def label_explorer(k: float = 2.0, sigma: float = 2.0, **plot_args: Any) -> Any:
    """Sliders ``k`` (bins per pixel) and ``sigma`` (bins) over :func:`plot_labels`.

    Starts at the given values; ``plot_args`` go to
    :func:`~simdr_lib.viz_examples.plot_labels` (position, smoothing, window).
    """
    import ipywidgets as w

    from simdr_lib.viz_examples import plot_labels

    k_slider = w.FloatSlider(value=k, min=0.5, max=4.0, step=0.5, description="k")
    sigma_slider = w.FloatSlider(value=sigma, min=0.5, max=8.0, step=0.25, description="sigma")
    return live_figure(
        [k_slider, sigma_slider],
        lambda: plot_labels(k_slider.value, sigma_slider.value, **plot_args),
    )


def live_figure(controls: Sequence[Any], draw: Any) -> Any:
    """``controls`` in a row above the figure ``draw()`` returns, redrawn on every change."""
    import ipywidgets as w
    from IPython.display import Image, display

    from simdr_lib.viz import figure_png

    out = w.Output()

    def redraw(*_: Any) -> None:
        fig = draw()
        with out:
            out.clear_output(wait=True)
            display(Image(figure_png(fig, dpi=80)))

    for control in controls:
        control.observe(redraw, "value")
    redraw()
    return w.VBox([w.HBox(list(controls)), out])


def person_options(
    records: Sequence[Any],
    scores: np.ndarray | None = None,
    limit: int = 300,
    metric: str = "OKS",
) -> list[tuple[str, int]]:
    """Dropdown entries ``(label, index)``: lowest score first when ``scores`` (N,) is given.

    ``metric`` names the score in the labels (``OKS`` | ``PCKh``).
    """
    n = len(records)
    order = list(range(n))
    if scores is not None:
        from simdr_lib.engine.oks import worst_first

        order = worst_first(scores)
    out = []
    for i in order[:limit]:
        finite = scores is not None and np.isfinite(scores[i])
        score = f", {metric} {scores[i]:.2f}" if finite else ""
        out.append((f"person {i} (image {records[i].image_id}{score})", i))
    return out


def limit_to_bins(fig: Any) -> Any:
    """Clip each distribution axis of a :func:`plot_joint_distributions` figure to its bins.

    The plot centres a window on the joint; near the crop's border it would run past the
    first / last bin (an empty stretch of axis). Axes without a plotted line (the crop
    image) are left alone. Returns ``fig``.
    """
    for ax in fig.axes:
        if not ax.lines:
            continue
        px = np.asarray(ax.lines[-1].get_xdata(), dtype=np.float64)
        lo, hi = ax.get_xlim()
        first, last = float(px.min()), float(px.max())
        ax.set_xlim(max(lo, first), min(hi, last))
    return fig


def distribution_explorer(
    cfg: Any,
    records: Sequence[Any],
    predictions: Any,
    scores: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    model: Any = None,
    flip_test: bool = True,
    metric: str = "OKS",
) -> Any:
    """A widget (person x joint -> crop + x / y distributions) for a GT-box evaluation.

    With ``model`` a chosen person's probabilities are computed on demand
    (:func:`~simdr_lib.viz_examples.person_probs`, ``flip_test`` as in the evaluation);
    without, ``predictions`` must hold them (``evaluate_model(..., keep_probs=True)``).
    ``scores`` (N,) order the people worst first (named ``metric``); ``names`` default to the
    joint names of ``cfg.data.dataset``.
    """
    import ipywidgets as w

    from simdr_lib.viz import plot_joint_distributions
    from simdr_lib.viz_examples import distribution_example, person_probs

    if model is None and len(getattr(predictions, "probs", ())) < 2:
        raise ValueError("predictions hold no x / y probabilities (keep_probs=True, SimDR head)")
    if names is None:
        from simdr_lib.data.dataset_kinds import joint_names_for

        names = joint_names_for(cfg.data.dataset)
    options = person_options(records, scores, metric=metric)
    person = w.Dropdown(options=options, description="person")
    joint = w.Dropdown(
        options=[("all joints", -1)] + [(n, j) for j, n in enumerate(names)], description="joint"
    )
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def probs_of(i: int) -> tuple[np.ndarray, np.ndarray] | None:
        if model is None:
            return None
        if i not in cache:
            x, y = person_probs(cfg, model, records, [i], flip_test)
            cache[i] = (x[0], y[0])
        return cache[i]

    def draw() -> Any:
        i = int(person.value)
        example = distribution_example(cfg, records, predictions, i, probs=probs_of(i))
        joints = None if joint.value < 0 else [int(joint.value)]
        return limit_to_bins(plot_joint_distributions(**example, joints=joints, names=names))

    return live_figure([person, joint], draw)
