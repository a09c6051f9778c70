"""ipywidgets explorer: pick a validation person and a joint, see its predicted vs target 1D x / y
distributions next to the crop (needs ``ipywidgets``, part of the ``notebooks`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simdr_lib.keypoints import COCO_KEYPOINT_NAMES


def person_options(
    records: Sequence[Any], oks: np.ndarray | None = None, limit: int = 300
) -> list[tuple[str, int]]:
    """Dropdown entries ``(label, index)``: lowest OKS first when ``oks`` is given."""
    n = len(records)
    order = list(range(n))
    if oks is not None:
        from simdr_lib.report import worst_first

        order = worst_first(oks)
    out = []
    for i in order[:limit]:
        score = "" if oks is None or not np.isfinite(oks[i]) else f", OKS {oks[i]:.2f}"
        out.append((f"person {i} (image {records[i].image_id}{score})", i))
    return out


def distribution_explorer(
    cfg: Any,
    records: Sequence[Any],
    predictions: Any,
    oks: np.ndarray | None = None,
    names: Sequence[str] = COCO_KEYPOINT_NAMES,
) -> Any:
    """A widget (person x joint -> crop + x / y distributions) for a GT-box evaluation.

    ``predictions`` must hold the probabilities (``evaluate_model(..., keep_probs=True)``).
    """
    import ipywidgets as w
    from IPython.display import Image, display

    from simdr_lib.pipeline import distribution_example
    from simdr_lib.viz import figure_png, plot_joint_distributions

    if len(predictions.probs) < 2:
        raise ValueError("predictions hold no x / y probabilities (keep_probs=True, SimDR head)")
    person = w.Dropdown(options=person_options(records, oks), description="person")
    joint = w.Dropdown(
        options=[("all joints", -1)] + [(n, j) for j, n in enumerate(names)], description="joint"
    )
    out = w.Output()

    def redraw(*_: Any) -> None:
        example = distribution_example(cfg, records, predictions, int(person.value))
        joints = None if joint.value < 0 else [int(joint.value)]
        fig = plot_joint_distributions(**example, joints=joints, names=names)
        with out:
            out.clear_output(wait=True)
            display(Image(figure_png(fig, dpi=80)))

    person.observe(redraw, "value")
    joint.observe(redraw, "value")
    redraw()
    return w.VBox([w.HBox([person, joint]), out])
