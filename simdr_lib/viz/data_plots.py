"""Dataset figures: sample images with their ground-truth people, and split statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from simdr_lib.viz.drawing import draw_skeleton
from simdr_lib.viz.figures import grid_shape, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_samples(data: Any, n: int = 4, seed: int = 0, cols: int = 2) -> Figure:
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
    rows, cols = grid_shape(len(chosen), cols)
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
        people = "1 person" if len(recs) == 1 else f"{len(recs)} people"
        ax.set_title(f"image {image_id}: {people}", fontsize=9)
        ax.axis("off")
    for ax in axes[len(chosen) :]:
        ax.axis("off")
    return fig


def plot_dataset_stats(stats: dict[str, Any], boxes_xywh: np.ndarray | None = None) -> Figure:
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
