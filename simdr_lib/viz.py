"""Drawing and plots: skeleton overlays (cv2, for files) and matplotlib figures (notebooks).

Colours follow the generated dataset's convention: the person's left side blue, right side
red, centre line green. Images are RGB uint8 ``(H, W, 3)`` throughout. The ``plot_*``
functions return ``matplotlib.figure.Figure`` objects built without pyplot (see
:func:`new_figure`); notebooks show and save them through ``NotebookRun.show``.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from simdr_lib.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON

LEFT_RGB = (40, 110, 255)
RIGHT_RGB = (255, 60, 50)
CENTER_RGB = (40, 200, 80)


def joint_colors(names: Sequence[str] = COCO_KEYPOINT_NAMES) -> list[tuple[int, int, int]]:
    """RGB colour per joint: left blue, right red, others green."""
    return [
        LEFT_RGB if n.startswith("left") else RIGHT_RGB if n.startswith("right") else CENTER_RGB
        for n in names
    ]


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray | None = None,
    threshold: float = 0.0,
    skeleton: Sequence[tuple[int, int]] = COCO_SKELETON,
    names: Sequence[str] = COCO_KEYPOINT_NAMES,
    radius: int | None = None,
) -> np.ndarray:
    """Copy of ``image`` (RGB) with people drawn.

    ``keypoints`` is ``(N, K, 2)`` or ``(K, 2)`` px in the image; ``scores`` ``(N, K)`` or
    ``(K,)`` (joints with score <= ``threshold`` are not drawn); ``skeleton`` is 1-based pairs
    as in the COCO annotation file.
    """
    out = np.ascontiguousarray(image.copy())
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, len(names), 2)
    sc = (
        np.ones(kps.shape[:2])
        if scores is None
        else np.asarray(scores, dtype=np.float64).reshape(kps.shape[:2])
    )
    colors = joint_colors(names)
    r = radius or max(3, int(round(max(out.shape[:2]) / 100)))
    thick = max(2, r // 2)
    # a dark outline under every limb and joint keeps the overlay readable on any image,
    # including the generated people, which use the same left/right colours
    for person, person_scores in zip(kps, sc):
        ok = (person_scores > threshold) & np.isfinite(person).all(axis=1)
        pts = [tuple(int(v) for v in np.round(p)) for p in np.where(ok[:, None], person, 0)]
        limbs = [(a - 1, b - 1) for a, b in skeleton if ok[a - 1] and ok[b - 1]]
        for i, j in limbs:
            cv2.line(out, pts[i], pts[j], (0, 0, 0), thick + 2, cv2.LINE_AA)
        for i, j in limbs:
            color = colors[j] if colors[j] != CENTER_RGB else colors[i]
            cv2.line(out, pts[i], pts[j], color, thick, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, pts[j], r + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(out, pts[j], r, colors[j], -1, cv2.LINE_AA)
    return out


def draw_markers(
    image: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray | None = None,
    color: tuple[int, int, int] = (255, 255, 255),
    size: int | None = None,
) -> np.ndarray:
    """Copy of ``image`` with a cross at every labeled joint (ground truth next to predictions).

    ``keypoints`` ``(N, K, 2)`` or ``(K, 2)`` px; ``visible`` ``(N, K)`` COCO v (v == 0 skipped).
    """
    out = np.ascontiguousarray(image.copy())
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    vis = np.ones(len(kps)) if visible is None else np.asarray(visible).reshape(-1)
    s = size or max(5, int(round(max(out.shape[:2]) / 60)))
    for (x, y), v in zip(kps, vis):
        if v > 0 and np.isfinite(x) and np.isfinite(y):
            p = (int(round(x)), int(round(y)))
            cv2.drawMarker(out, p, (0, 0, 0), cv2.MARKER_CROSS, s + 2, 2, cv2.LINE_AA)
            cv2.drawMarker(out, p, color, cv2.MARKER_CROSS, s, 1, cv2.LINE_AA)
    return out


def faded(image: np.ndarray, amount: float = 0.45) -> np.ndarray:
    """``image`` blended towards white, so drawn skeletons stand out from the picture."""
    out = image.astype(np.float32) * (1.0 - amount) + 255.0 * amount
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def zoom(image: np.ndarray, *points: np.ndarray, min_side: int = 240) -> tuple[np.ndarray, ...]:
    """Nearest-neighbour upscale of a small crop (for drawing) and its points moved along.

    The integer factor makes the shorter side >= ``min_side``; a point at pixel centre ``x``
    goes to ``(x + 0.5) * f - 0.5``. Returns ``(image, *points)``.
    """
    f = max(1, int(np.ceil(min_side / max(1, min(image.shape[:2])))))
    if f == 1:
        return (image, *points)
    big = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST)
    moved = []
    for p in points:
        q = np.array(p, dtype=np.float64, copy=True)
        q[..., :2] = (q[..., :2] + 0.5) * f - 0.5
        moved.append(q)
    return (big, *moved)


# ============================================================================ matplotlib figures
# Figures are built with ``matplotlib.figure.Figure`` (no pyplot state): they never pop up or
# pile up in a notebook by themselves, work under any backend (also headless Agg), and are
# shown / saved explicitly (:func:`figure_png`, ``NotebookRun.show``).


def new_figure(width: float, height: float) -> Any:
    """A pyplot-free ``Figure`` of ``width`` x ``height`` inches with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_png(fig: Any, dpi: int = 96) -> bytes:
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


def _mpl_rgb(color: tuple[int, int, int]) -> tuple[float, float, float]:
    return (color[0] / 255.0, color[1] / 255.0, color[2] / 255.0)


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return -(-n // cols), cols


def plot_samples(data: Any, n: int = 4, seed: int = 0, cols: int = 2) -> Any:
    """``n`` random images of a :class:`~simdr_lib.data.coco.CocoKeypoints` with GT people.

    People are drawn with their skeleton (v > 0 joints) and their box (yellow).
    """
    from simdr_lib.data.images import load_image

    by_image: dict[int, list[Any]] = {}
    for rec in data.records:
        by_image.setdefault(rec.image_id, []).append(rec)
    ids = sorted(by_image)
    if not ids:
        fig = new_figure(4, 1)
        fig.text(0.5, 0.5, "no usable people", ha="center")
        return fig
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(ids, size=min(n, len(ids)), replace=False).tolist())
    rows, cols = _grid(len(chosen), cols)
    fig = new_figure(4.2 * cols, 3.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax, image_id in zip(axes, chosen):
        recs = by_image[image_id]
        img = load_image(recs[0].image_path)
        kps = np.stack([r.keypoints for r in recs])
        img = draw_skeleton(img, kps[..., :2], (kps[..., 2] > 0).astype(float), threshold=0.5)
        for r in recs:
            x, y, w, h = (int(round(v)) for v in r.box)
            cv2.rectangle(img, (x, y), (x + w, y + h), (255, 220, 0), 1, cv2.LINE_AA)
        ax.imshow(img)
        ax.set_title(f"image {image_id}: {len(recs)} people", fontsize=9)
        ax.axis("off")
    for ax in axes[len(chosen) :]:
        ax.axis("off")
    return fig


def plot_dataset_stats(stats: dict[str, Any], boxes_xywh: np.ndarray | None = None) -> Any:
    """People per image, labeled / visible joints per joint type and box sizes of one split.

    ``stats`` is :func:`simdr_lib.data.coco.dataset_stats`; ``boxes_xywh`` ``(N, 4)`` the
    usable boxes (for the size histogram; summary numbers are shown without it).
    """
    fig = new_figure(13, 3.8)
    ax_people, ax_joints, ax_boxes = fig.subplots(1, 3, width_ratios=[1, 1.6, 1])
    ppi = {int(k): int(v) for k, v in stats.get("people_per_image", {}).items()}
    xs = sorted(ppi)
    ax_people.bar(xs, [ppi[x] for x in xs], color="#4c72b0")
    ax_people.set_xlabel("usable people in the image")
    ax_people.set_ylabel("images")
    ax_people.set_xticks(xs)
    ax_people.set_title("people per image", fontsize=10)

    names = list(stats.get("labeled_joints", {}))
    y = np.arange(len(names))
    labeled = [stats["labeled_joints"][k] for k in names]
    visible = [stats.get("visible_joints", {}).get(k, 0) for k in names]
    ax_joints.barh(y - 0.2, labeled, height=0.4, label="labeled (v>0)", color="#8da0cb")
    ax_joints.barh(y + 0.2, visible, height=0.4, label="visible (v=2)", color="#4c72b0")
    ax_joints.set_yticks(y, names, fontsize=7)
    ax_joints.invert_yaxis()
    ax_joints.set_xlabel("people")
    ax_joints.legend(fontsize=7, loc="lower right")
    ax_joints.set_title("joints per joint type", fontsize=10)

    if boxes_xywh is not None and len(boxes_xywh):
        b = np.asarray(boxes_xywh, dtype=np.float64)
        ax_boxes.hist(np.sqrt(b[:, 2] * b[:, 3]), bins=20, color="#55a868")
        ax_boxes.set_xlabel("sqrt(box area) px")
        ax_boxes.set_ylabel("people")
    else:
        size = stats.get("box_size", {}).get("sqrt_area", {})
        text = "\n".join(f"{k}: {v:.1f}" for k, v in size.items()) or "no boxes"
        ax_boxes.text(0.5, 0.5, text, ha="center", va="center")
        ax_boxes.axis("off")
    ax_boxes.set_title("box size", fontsize=10)
    return fig


def _bin_axis(length: int, split_ratio: float) -> np.ndarray:
    """Pixel position of each of ``length`` bins (bin / k)."""
    return np.arange(length) / float(split_ratio)


def plot_label_vectors(
    crop_rgb: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray,
    x_target: np.ndarray,
    y_target: np.ndarray,
    split_ratio: float,
    joint: int,
    names: Sequence[str] = COCO_KEYPOINT_NAMES,
) -> Any:
    """One training sample: the crop with its joints and the x / y label vectors of ``joint``.

    ``keypoints`` ``(K, 2)`` crop px, ``visible`` ``(K,)``, targets ``(K, L_x)`` / ``(K, L_y)``.
    """
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
        px = _bin_axis(len(target), split_ratio)
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
) -> Any:
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
    px = _bin_axis(n, k)
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
            _bin_axis(nn, kk),
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


def plot_training_curves(history: Sequence[dict[str, float]], title: str = "") -> Any:
    """Loss per epoch (left) and validation AP per evaluated epoch (right)."""
    fig = new_figure(11, 3.4)
    ax_loss, ax_ap = fig.subplots(1, 2)
    epochs = np.array([float(r.get("epoch", i + 1)) for i, r in enumerate(history)])
    loss = np.array([float(r.get("loss", np.nan)) for r in history])
    ap = np.array([float(r.get("AP", np.nan)) for r in history])
    ax_loss.plot(epochs, loss, marker="o", ms=3, color="#4c72b0")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("loss", fontsize=10)
    ok = np.isfinite(ap)
    if ok.any():
        ax_ap.plot(epochs[ok], ap[ok], marker="o", ms=3, color="#55a868")
        best = int(np.nanargmax(np.where(ok, ap, -np.inf)))
        ax_ap.annotate(
            f"best {ap[best]:.3f}",
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
    ax_ap.set_ylim(0, 1)
    ax_ap.set_xlabel("epoch")
    ax_ap.set_ylabel("COCO AP (val)")
    ax_ap.set_title("validation AP", fontsize=10)
    for ax in (ax_loss, ax_ap):
        ax.grid(alpha=0.3)
        if len(epochs):
            ax.set_xlim(0.5, max(epochs.max(), 1) + 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_per_joint(rows: Sequence[dict[str, Any]]) -> Any:
    """Per-joint accuracy bars (OKS_j >= 0.5 rate) with the mean error in px as text.

    ``rows`` as :func:`simdr_lib.report.per_joint_accuracy` returns them.
    """
    fig = new_figure(8, 0.28 * max(len(rows), 4) + 1.0)
    ax = fig.subplots()
    names = [r["joint"] for r in rows]
    acc = [float(r["accuracy"]) if r["count"] else 0.0 for r in rows]
    colors = [_mpl_rgb(c) for c in joint_colors(names)] if names else []
    y = np.arange(len(rows))
    ax.barh(y, acc, color=colors)
    for yi, r in zip(y, rows):
        text = f"{100 * r['accuracy']:.0f}%  err {r['mean_error_px']:.1f}px" if r["count"] else "-"
        ax.text(float(r["accuracy"] or 0.0) + 0.01, yi, text, va="center", fontsize=7)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)  # room for the labels right of the bars
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("fraction of labeled joints with keypoint similarity OKS_j >= 0.5")
    ax.set_title("per-joint accuracy (GT boxes)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_protocols(
    protocols: dict[str, dict[str, float]], keys: Sequence[str] = ("AP", "AP50", "AP75", "AR")
) -> Any:
    """Grouped bars of ``keys`` for each evaluation protocol (flip on/off, GT/detected boxes)."""
    fig = new_figure(8, 3.2)
    ax = fig.subplots()
    names = list(protocols)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(keys))
    for i, name in enumerate(names):
        vals = [float(protocols[name].get(k, np.nan)) for k in keys]
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=6)
    ax.set_xticks(x, list(keys))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("COCO metric")
    ax.legend(fontsize=7, loc="lower right")
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
) -> Any:
    """Per image: ground truth (left) and predictions (right), image coordinates.

    ``gt_keypoints[i]`` ``(N_i, K, 3)``; ``pred_keypoints[i]`` ``(N_i, K, 2)``;
    ``pred_scores[i]`` ``(N_i, K)`` (joints with score <= ``threshold`` are not drawn).
    """
    n = len(images)
    fig = new_figure(7.6, 2.9 * max(n, 1))
    axes = np.atleast_2d(fig.subplots(max(n, 1), 2)).reshape(-1, 2)
    for i in range(n):
        gt = np.asarray(gt_keypoints[i]).reshape(-1, len(COCO_KEYPOINT_NAMES), 3)
        back = faded(images[i])
        left = draw_skeleton(back, gt[..., :2], (gt[..., 2] > 0).astype(float), 0.5)
        right = draw_skeleton(back, pred_keypoints[i], pred_scores[i], threshold)
        right = draw_markers(right, gt[..., :2], gt[..., 2])
        axes[i, 0].imshow(left)
        axes[i, 1].imshow(right)
        axes[i, 0].set_title((titles[i] + ": " if titles else "") + "ground truth", fontsize=8)
        axes[i, 1].set_title("prediction (crosses: ground truth)", fontsize=8)
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
    names: Sequence[str] = COCO_KEYPOINT_NAMES,
    window_px: float = 16.0,
    title: str = "",
) -> Any:
    """Predicted vs target 1D x / y distributions of each joint of one person.

    Args:
        crop_rgb: ``(H, W, 3)`` the input crop. x_prob / y_prob: ``(K, L_x)`` / ``(K, L_y)``
            predicted probabilities; x_target / y_target: the training targets of the same
            crop (drawn normalized to sum 1, like the prediction). pred_keypoints,
            gt_keypoints: ``(K, 2)`` crop px. visible: ``(K,)`` COCO v of the ground truth.
        joints: joint indices to plot (default all K).
        window_px: half width of the x range shown around the ground truth / prediction.
    """
    joints = list(range(len(x_prob))) if joints is None else list(joints)
    per_row = max(1, min(3, len(joints)))
    rows = -(-len(joints) // per_row)
    fig = new_figure(3.5 + 3.8 * per_row, max(1.35 * rows + 1.0, 3.0))
    gs = fig.add_gridspec(rows, 1 + 2 * per_row, width_ratios=[2.2] + [1] * (2 * per_row))
    ax_img = fig.add_subplot(gs[:, 0])
    big, pred_big, gt_big = zoom(faded(crop_rgb), pred_keypoints, gt_keypoints)
    img = draw_skeleton(big, pred_big[None], np.ones((1, len(pred_keypoints))))
    img = draw_markers(img, gt_big, visible)
    ax_img.imshow(img)
    ax_img.set_title("prediction; crosses: ground truth", fontsize=8)
    ax_img.axis("off")
    for i, j in enumerate(joints):
        r, c = divmod(i, per_row)
        for a, (prob, target, axis) in enumerate(
            ((x_prob[j], x_target[j], 0), (y_prob[j], y_target[j], 1))
        ):
            ax = fig.add_subplot(gs[r, 1 + 2 * c + a])
            px = _bin_axis(len(prob), split_ratio)
            t = np.asarray(target, dtype=np.float64)
            t = t / t.sum() if t.sum() > 0 else t
            if visible[j] > 0 and t.sum() > 0:
                ax.fill_between(px, t, color="0.75", lw=0, label="target")
            ax.plot(px, prob, color="#c44e52" if axis == 0 else "#4c72b0", lw=1.0, label="pred")
            centre = gt_keypoints[j, axis] if visible[j] > 0 else pred_keypoints[j, axis]
            span = max(window_px, abs(pred_keypoints[j, axis] - centre) + 4)
            ax.set_xlim(centre - span, centre + span)
            ax.set_title(f"{names[j]} {'xy'[axis]}", fontsize=7, pad=2)
            ax.tick_params(labelsize=5, length=2, pad=1)
            ax.set_yticks([])
            if i == 0 and a == 0:
                ax.legend(fontsize=5, loc="upper right", handlelength=1)
    fig.suptitle(title or "1D distributions per joint (grey: target, line: prediction)", fontsize=9)
    return fig


def plot_worst_cases(
    crops: Sequence[np.ndarray],
    gt_keypoints: Sequence[np.ndarray],
    pred_keypoints: Sequence[np.ndarray],
    pred_scores: Sequence[np.ndarray],
    titles: Sequence[str],
    cols: int = 4,
) -> Any:
    """Crops of the lowest-OKS people: prediction (skeleton) and ground truth (crosses).

    ``gt_keypoints[i]`` ``(K, 3)`` crop px + v; ``pred_keypoints[i]`` ``(K, 2)`` crop px.
    """
    n = len(crops)
    rows, cols = _grid(max(n, 1), cols)
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
