"""Evaluation figures: per-joint accuracy, protocol metrics, predictions vs ground truth,
1D distributions per joint and the worst-scored people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simdr_lib.data.dataset_kinds import (
    COCO_METRIC,
    MPII_METRIC,
    metric_kind_of,
    names_for_count,
)
from simdr_lib.viz.drawing import draw_markers, draw_skeleton, faded, joint_colors, zoom
from simdr_lib.viz.figures import bin_axis, grid_shape, mpl_rgb, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_per_joint(rows: Sequence[dict[str, Any]]) -> Figure:
    """Per-joint accuracy bars (OKS_j >= 0.5 rate, or PCKh@0.5 for MPII rows) with the mean
    error in px as text.

    ``rows`` as :func:`simdr_lib.engine.protocols.per_joint_rows` returns them (MPII rows
    carry ``mean_head_error``).
    """
    mpii = bool(rows) and "mean_head_error" in rows[0]
    kind = MPII_METRIC if mpii else COCO_METRIC
    fig = new_figure(8, 0.28 * max(len(rows), 4) + 1.0)
    ax = fig.subplots()
    names = [r["joint"] for r in rows]
    acc = [float(r["accuracy"]) if r["count"] else 0.0 for r in rows]
    colors = [mpl_rgb(c) for c in joint_colors(names)] if names else []
    y = np.arange(len(rows))
    ax.barh(y, acc, color=colors)
    for yi, r in zip(y, rows):
        text = f"{100 * r['accuracy']:.0f}%  err {r['mean_error_px']:.1f}px" if r["count"] else "-"
        ax.text(float(r["accuracy"] or 0.0) + 0.01, yi, text, va="center", fontsize=7)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)  # room for the labels right of the bars
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel(f"fraction of {kind.per_joint}")
    ax.set_title("per-joint accuracy (GT boxes)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_protocols(
    protocols: dict[str, dict[str, float]], keys: Sequence[str] | None = None
) -> Figure:
    """Grouped bars of ``keys`` for each evaluation protocol (flip on/off, GT/detected boxes).

    ``keys`` default to the stats' kind: COCO AP, AP50, AP75, AR (fractions) or MPII PCKh,
    PCKh@0.1 (percent, axis 0-100). Every bar carries its value (``-`` when missing), also a
    zero bar, whose label sits at the base; the legend is outside the axes so it never covers
    a label, and when every value is 0 (an untrained model) the axes say so.
    """
    kind = metric_kind_of(next(iter(protocols.values()), None))
    keys = kind.columns if keys is None else keys
    fig = new_figure(8, 3.2)
    ax = fig.subplots()
    names = list(protocols)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(keys))
    values = np.array([[float(protocols[n].get(k, np.nan)) for k in keys] for n in names])
    for i, name in enumerate(names):
        vals = values[i]
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=name)
        fmt = "{:.3f}" if kind.full == 1.0 else "{:.1f}"
        labels = [fmt.format(v) if np.isfinite(v) else "-" for v in vals]
        ax.bar_label(bars, labels=labels, fontsize=6, padding=1)
    finite = values[np.isfinite(values)]
    if not finite.size or not finite.any():
        note = "all metrics are 0" if finite.size else "no metrics"
        ax.text(0.5, 0.6, note, transform=ax.transAxes, ha="center", color="0.4", fontsize=9)
    ax.set_xticks(x, list(keys))
    ax.set_ylim(0, 1.1 * kind.full)
    ax.set_ylabel("COCO metric" if kind.full == 1.0 else "MPII PCKh (%)")
    if names:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title("evaluation protocols", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_predictions(
    images: Sequence[np.ndarray],
    gt_keypoints: Sequence[np.ndarray],
    pred_keypoints: Sequence[np.ndarray],
    pred_scores: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    threshold: float = 0.0,
) -> Figure:
    """Per image: ground truth (left) and predictions (right), image coordinates.

    ``gt_keypoints[i]`` ``(N_i, K, 3)``; ``pred_keypoints[i]`` ``(N_i, K, 2)``;
    ``pred_scores[i]`` ``(N_i, K)`` (joints with score <= ``threshold`` are not drawn).
    """
    n = len(images)
    fig = new_figure(7.6, 2.9 * max(n, 1))
    axes = np.atleast_2d(fig.subplots(max(n, 1), 2)).reshape(-1, 2)
    for i in range(n):
        k = np.asarray(pred_keypoints[i]).shape[-2]
        gt = np.asarray(gt_keypoints[i]).reshape(-1, k, 3)
        back = faded(images[i])
        left = draw_skeleton(back, gt[..., :2], (gt[..., 2] > 0).astype(float), 0.5)
        right = draw_skeleton(back, pred_keypoints[i], pred_scores[i], threshold)
        right = draw_markers(right, gt[..., :2], gt[..., 2])
        axes[i, 0].imshow(left)
        axes[i, 1].imshow(right)
        axes[i, 0].set_title((titles[i] + ": " if titles else "") + "ground truth", fontsize=8)
        axes[i, 1].set_title("prediction (crosses: ground truth)", fontsize=8)
        if not np.any(np.asarray(pred_scores[i]) > threshold):  # say why the panel is bare
            axes[i, 1].text(
                0.5,
                0.5,
                f"no joint scored > {threshold:g}:\nno skeleton drawn",
                transform=axes[i, 1].transAxes,
                ha="center",
                va="center",
                fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.5"},
            )
        for ax in axes[i]:
            ax.axis("off")
    return fig


def plot_joint_distributions(
    crop_rgb: np.ndarray,
    x_prob: np.ndarray,
    y_prob: np.ndarray,
    x_target: np.ndarray,
    y_target: np.ndarray,
    pred_keypoints: np.ndarray,
    gt_keypoints: np.ndarray,
    visible: np.ndarray,
    split_ratio: float,
    joints: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    window_px: float = 16.0,
    title: str = "",
) -> Figure:
    """Predicted vs target 1D x / y distributions of each joint of one person.

    Args:
        crop_rgb: ``(H, W, 3)`` the input crop. x_prob / y_prob: ``(K, L_x)`` / ``(K, L_y)``
            predicted probabilities; x_target / y_target: the training targets of the same
            crop (drawn normalized to sum 1, like the prediction). pred_keypoints,
            gt_keypoints: ``(K, 2)`` crop px. visible: ``(K,)`` COCO v of the ground truth.
        joints: joint indices to plot (default all K). names: joint names (default: the
            K-joint set, COCO or MPII).
        window_px: half width of the x range shown around the ground truth / prediction.
    """
    names = names_for_count(len(x_prob)) if names is None else names
    joints = list(range(len(x_prob))) if joints is None else list(joints)
    per_row = max(1, min(3, len(joints)))
    rows = -(-len(joints) // per_row)
    fig = new_figure(3.5 + 3.8 * per_row, max(1.35 * rows + 1.0, 3.0))
    gs = fig.add_gridspec(rows, 1 + 2 * per_row, width_ratios=[2.2] + [1] * (2 * per_row))
    _crop_panel(fig.add_subplot(gs[:, 0]), crop_rgb, pred_keypoints, gt_keypoints, visible)
    curves = {
        (j, axis): (np.asarray(prob, dtype=np.float64), _as_distribution(target))
        for j in joints
        for axis, prob, target in ((0, x_prob[j], x_target[j]), (1, y_prob[j], y_target[j]))
    }
    # one y-scale for every panel: an unlabelled joint's flat noise must not autoscale into a peak
    drawn = [np.r_[p, t if visible[j] > 0 else 0.0] for (j, _), (p, t) in curves.items()]
    top = float(np.nanmax(np.concatenate(drawn + [np.zeros(1)])))
    for i, j in enumerate(joints):
        r, c = divmod(i, per_row)
        for axis in (0, 1):
            ax = fig.add_subplot(gs[r, 1 + 2 * c + axis])
            prob, target = curves[j, axis]
            centre = gt_keypoints[j, axis] if visible[j] > 0 else pred_keypoints[j, axis]
            span = max(window_px, abs(pred_keypoints[j, axis] - centre) + 4)
            labelled = bool(visible[j] > 0)
            _distribution_panel(
                ax, bin_axis(len(prob), split_ratio), prob, target if labelled else None, axis
            )
            ax.set_xlim(centre - span, centre + span)
            ax.set_ylim(0, 1.05 * top if np.isfinite(top) and top > 0 else 1.0)
            _panel_title(ax, f"{names[j]} {'xy'[axis]}", labelled)
            if i == 0 and axis == 0:
                ax.legend(fontsize=5, loc="upper right", handlelength=1)
    fig.suptitle(title or "1D distributions per joint (grey: target, line: prediction)", fontsize=9)
    return fig


def _crop_panel(
    ax: Axes, crop_rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray, visible: np.ndarray
) -> None:
    """The zoomed crop with the predicted skeleton and ground-truth crosses (``(K, 2)`` px)."""
    big, pred_big, gt_big = zoom(faded(crop_rgb), pred, gt)
    img = draw_skeleton(big, pred_big[None], np.ones((1, len(pred))))
    ax.imshow(draw_markers(img, gt_big, visible))
    ax.set_title("prediction; crosses: ground truth", fontsize=8)
    ax.axis("off")


def _panel_title(ax: Axes, title: str, labelled: bool) -> None:
    """Title of a distribution panel; an unlabelled joint's panel is greyed and says so."""
    if labelled:
        ax.set_title(title, fontsize=7, pad=2)
    else:
        ax.set_title(f"{title} (not labelled)", fontsize=7, pad=2, color="0.45")
        ax.set_facecolor("0.92")


def _as_distribution(target: np.ndarray) -> np.ndarray:
    """``target`` as float64 scaled to sum 1 (unchanged when it sums to 0)."""
    t = np.asarray(target, dtype=np.float64)
    return t / t.sum() if t.sum() > 0 else t


def _distribution_panel(
    ax: Axes, px: np.ndarray, prob: np.ndarray, target: np.ndarray | None, axis: int
) -> None:
    """One x (``axis`` 0) or y (1) panel: the target filled grey (if given), the prediction."""
    if target is not None and target.sum() > 0:
        ax.fill_between(px, target, color="0.75", lw=0, label="target")
    ax.plot(px, prob, color="#c44e52" if axis == 0 else "#4c72b0", lw=1.0, label="pred")
    ax.tick_params(labelsize=5, length=2, pad=1)
    ax.set_yticks([])


def plot_worst_cases(
    crops: Sequence[np.ndarray],
    gt_keypoints: Sequence[np.ndarray],
    pred_keypoints: Sequence[np.ndarray],
    pred_scores: Sequence[np.ndarray],
    titles: Sequence[str],
    cols: int = 4,
) -> Figure:
    """Crops of the lowest-OKS people: prediction (skeleton) and ground truth (crosses).

    ``gt_keypoints[i]`` ``(K, 3)`` crop px + v; ``pred_keypoints[i]`` ``(K, 2)`` crop px.
    """
    n = len(crops)
    rows, cols = grid_shape(max(n, 1), cols)
    fig = new_figure(2.6 * cols, 3.1 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax, crop, gt, pred, sc, title in zip(
        axes, crops, gt_keypoints, pred_keypoints, pred_scores, titles
    ):
        big, pred_big, gt_big = zoom(faded(crop), pred, gt)
        img = draw_skeleton(big, pred_big[None], np.asarray(sc)[None], 0.0)
        img = draw_markers(img, gt_big[:, :2], gt[:, 2])
        ax.imshow(img)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    for ax in axes[n:]:
        ax.axis("off")
    return fig
