"""Training-label figures: one sample's x / y label vectors, SimDR vs SA-SimDR labels and k."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from simdr_lib.data.dataset_kinds import names_for_count
from simdr_lib.viz.drawing import draw_markers, draw_skeleton, zoom
from simdr_lib.viz.figures import bin_axis, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_label_vectors(
    crop_rgb: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray,
    x_target: np.ndarray,
    y_target: np.ndarray,
    split_ratio: float,
    joint: int,
    names: Sequence[str] | None = None,
) -> Figure:
    """One training sample: the crop with its joints and the x / y label vectors of ``joint``.

    ``keypoints`` ``(K, 2)`` crop px, ``visible`` ``(K,)``, targets ``(K, L_x)`` / ``(K, L_y)``;
    ``names`` default to the K-joint set (COCO or MPII).
    """
    names = names_for_count(len(keypoints)) if names is None else names
    fig = new_figure(12, 3.6)
    ax_img, ax_x, ax_y = fig.subplots(1, 3, width_ratios=[0.8, 1.4, 1.4])
    big, kps = zoom(crop_rgb, keypoints)
    img = draw_skeleton(big, kps[None], (visible > 0).astype(float)[None], 0.5)
    img = draw_markers(img, kps[joint][None], visible[joint][None], (255, 255, 0))
    ax_img.imshow(img)
    ax_img.set_title(f"input crop {crop_rgb.shape[1]}x{crop_rgb.shape[0]}", fontsize=9)
    ax_img.axis("off")
    for ax, target, coord, label in (
        (ax_x, x_target[joint], keypoints[joint, 0], "x"),
        (ax_y, y_target[joint], keypoints[joint, 1], "y"),
    ):
        px = bin_axis(len(target), split_ratio)
        ax.plot(px, target, color="#4c72b0", lw=1.2)
        ax.axvline(coord, color="#c44e52", ls="--", lw=0.8, label=f"{label} = {coord:.1f} px")
        ax.set_xlabel(f"{label} (px in the crop; {len(target)} bins, k={split_ratio:g})")
        ax.set_title(f"{names[joint]}: {label} label vector", fontsize=9)
        ax.legend(fontsize=7)
    return fig


def plot_label_comparison(
    position_px: float = 37.3,
    length_px: int = 96,
    split_ratios: Sequence[float] = (1.0, 2.0, 3.0),
    sigmas: Sequence[float] = (1.0, 2.0, 4.0),
    label_smoothing: float = 0.1,
    window_px: float = 8.0,
) -> Figure:
    """SimDR (one-hot + label smoothing) vs SA-SimDR (Gaussian, several σ), and the effect of k.

    Left: labels at k=2 for a joint at ``position_px``; right: one-hot labels for several
    split ratios k, with the coordinate each one decodes to (quantization error = 1/(2k) px
    at most).
    """
    from simdr_lib.codec.simdr import gaussian_labels, smoothed_onehot_labels

    fig = new_figure(12, 3.6)
    ax_a, ax_b = fig.subplots(1, 2)
    k = 2.0
    n = int(length_px * k)
    px = bin_axis(n, k)
    c = np.array([[position_px * k]])
    onehot, _ = smoothed_onehot_labels(c, n, label_smoothing)
    ax_a.step(
        px, onehot[0, 0], where="mid", color="black", lw=1.2, label=f"SimDR ε={label_smoothing}"
    )
    for sigma in sigmas:
        g, _ = gaussian_labels(c, n, float(sigma), True)
        ax_a.plot(px, g[0, 0], lw=1.2, label=f"SA-SimDR σ={sigma:g} bins")
    ax_a.axvline(position_px, color="#c44e52", ls="--", lw=0.8)
    ax_a.set_xlim(position_px - window_px, position_px + window_px)
    ax_a.set_xlabel(f"x (px); joint at {position_px} px, k={k:g}")
    ax_a.set_ylabel("label value")
    ax_a.set_title("label vectors: one-hot + smoothing vs Gaussian", fontsize=9)
    ax_a.legend(fontsize=7)
    for i, kk in enumerate(split_ratios):
        nn = int(length_px * kk)
        lab, _ = smoothed_onehot_labels(np.array([[position_px * kk]]), nn, 0.0)
        decoded = float(np.argmax(lab[0, 0])) / kk
        ax_b.step(
            bin_axis(nn, kk),
            lab[0, 0] * (1.0 - 0.15 * i),
            where="mid",
            lw=1.2,
            label=f"k={kk:g}: {nn} bins, decodes to {decoded:.2f} px",
        )
    ax_b.axvline(position_px, color="#c44e52", ls="--", lw=0.8, label=f"true x {position_px}")
    ax_b.set_xlim(position_px - window_px / 2, position_px + window_px / 2)
    ax_b.set_xlabel("x (px)")
    ax_b.set_title(
        "split ratio k: bins per pixel (finer k, smaller quantization error)", fontsize=9
    )
    ax_b.legend(fontsize=7)
    return fig
