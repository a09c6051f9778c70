"""Drawing and plots: skeleton overlays (cv2, for files) and matplotlib figures (notebooks).

Images are RGB uint8 ``(H, W, 3)`` throughout. The ``plot_*`` functions return
``matplotlib.figure.Figure`` objects built without pyplot (see :func:`new_figure`); notebooks
show and save them through ``NotebookRun.show``. matplotlib is imported only when a figure is
made. Every public name of the submodules is re-exported here, so ``from simdr_lib import viz;
viz.plot_x(...)`` and ``from simdr_lib.viz import X`` work.

Submodules: :mod:`.drawing` (cv2 overlays), :mod:`.figures` (figure plumbing),
:mod:`.data_plots`, :mod:`.label_plots`, :mod:`.training_plots`, :mod:`.eval_plots`.
"""

from simdr_lib.viz.data_plots import plot_dataset_stats, plot_samples
from simdr_lib.viz.drawing import (
    CENTER_RGB,
    LEFT_RGB,
    RIGHT_RGB,
    draw_markers,
    draw_skeleton,
    faded,
    joint_colors,
    zoom,
)
from simdr_lib.viz.eval_plots import (
    plot_joint_distributions,
    plot_per_joint,
    plot_predictions,
    plot_protocols,
    plot_worst_cases,
)
from simdr_lib.viz.figures import figure_png, new_figure, use_headless_backend
from simdr_lib.viz.label_plots import plot_label_comparison, plot_label_vectors
from simdr_lib.viz.training_plots import LiveCurve, plot_training_curves

__all__ = [
    "CENTER_RGB",
    "LEFT_RGB",
    "RIGHT_RGB",
    "LiveCurve",
    "draw_markers",
    "draw_skeleton",
    "faded",
    "figure_png",
    "joint_colors",
    "new_figure",
    "plot_dataset_stats",
    "plot_joint_distributions",
    "plot_label_comparison",
    "plot_label_vectors",
    "plot_per_joint",
    "plot_predictions",
    "plot_protocols",
    "plot_samples",
    "plot_training_curves",
    "plot_worst_cases",
    "use_headless_backend",
    "zoom",
]
