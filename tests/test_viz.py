"""Drawing and figures: every plot renders headless, geometry helpers keep coordinates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simdr_lib import viz
from simdr_lib.keypoints import COCO_KEYPOINT_NAMES

K = len(COCO_KEYPOINT_NAMES)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_ok(fig) -> bytes:
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    data = viz.figure_png(fig, dpi=30)
    assert data.startswith(PNG_MAGIC) and len(data) > 500
    return data


def _person(rng: np.random.Generator, w: int = 48, h: int = 64) -> np.ndarray:
    return np.c_[rng.uniform(5, w - 5, K), rng.uniform(5, h - 5, K)]


def test_draw_markers_and_skeleton_copy_the_image() -> None:
    img = np.zeros((40, 30, 3), np.uint8)
    kps = np.array([[10.0, 10.0]] * K)
    vis = np.zeros(K)
    vis[0] = 2
    out = viz.draw_markers(img, kps, vis, (255, 255, 255))
    assert out[10, 10].max() > 200 and img.max() == 0
    assert viz.draw_markers(img, kps, np.zeros(K)).max() == 0  # unlabeled: nothing drawn
    assert viz.draw_skeleton(img, kps[None], np.ones((1, K))).max() > 0


def test_zoom_moves_points_with_the_pixel_centres() -> None:
    img = np.zeros((64, 48, 3), np.uint8)
    img[10, 20] = 255
    big, pts, gt = viz.zoom(img, np.array([[20.0, 10.0]]), np.array([[20.0, 10.0, 2.0]]))
    f = big.shape[1] // 48
    assert f >= 5 and big.shape == (64 * f, 48 * f, 3)
    x, y = pts[0]
    assert big[int(round(y)), int(round(x))].max() == 255
    assert gt[0, 2] == 2.0  # visibility untouched
    same = viz.zoom(np.zeros((300, 300, 3), np.uint8), np.ones((1, 2)))
    assert same[0].shape == (300, 300, 3) and np.array_equal(same[1], np.ones((1, 2)))


def test_every_plot_renders_without_a_display() -> None:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    kps = _person(rng)
    vis = np.full(K, 2.0)
    x_t = rng.random((K, 96))
    y_t = rng.random((K, 128))
    _png_ok(viz.plot_label_vectors(crop, kps, vis, x_t, y_t, 2.0, joint=3))
    _png_ok(viz.plot_label_comparison(sigmas=(1.0, 2.0)))
    history = [{"epoch": 1, "loss": 0.3, "AP": float("nan")}, {"epoch": 2, "loss": 0.2, "AP": 0.4}]
    _png_ok(viz.plot_training_curves(history, "t"))
    _png_ok(viz.plot_training_curves([], "empty"))
    rows = [
        {"joint": n, "count": 3, "accuracy": 0.5, "mean_oks": 0.6, "mean_error_px": 1.5}
        for n in COCO_KEYPOINT_NAMES
    ]
    rows[0] = {
        "joint": "nose",
        "count": 0,
        "accuracy": None,
        "mean_oks": None,
        "mean_error_px": None,
    }
    _png_ok(viz.plot_per_joint(rows))
    _png_ok(viz.plot_protocols({"a": {"AP": 0.5, "AP50": 0.9}, "b": {"AP": 0.4}}))
    gt = np.c_[kps, vis][None]
    _png_ok(viz.plot_predictions([crop], [gt], [kps[None]], [np.ones((1, K))], ["img"]))
    probs = rng.dirichlet(np.ones(96), K), rng.dirichlet(np.ones(128), K)
    fig = viz.plot_joint_distributions(crop, *probs, x_t, y_t, kps, kps, vis, 2.0)
    assert len(fig.axes) == 1 + 2 * K
    one = viz.plot_joint_distributions(crop, *probs, x_t, y_t, kps, kps, vis, 2.0, joints=[4])
    assert len(one.axes) == 3
    _png_ok(one)
    _png_ok(viz.plot_worst_cases([crop] * 3, [gt[0]] * 3, [kps] * 3, [np.ones(K)] * 3, "abc"))


def test_dataset_plots(small_dataset: Path) -> None:
    from simdr_lib.config import load_config
    from simdr_lib.data.coco import dataset_stats
    from simdr_lib.data.loaders import load_split

    cfg = load_config(None, {"data.root": str(small_dataset)})
    val = load_split(cfg, "val")
    stats = dataset_stats(val)
    _png_ok(viz.plot_dataset_stats(stats, np.stack([r.box for r in val.records])))
    _png_ok(viz.plot_dataset_stats(stats))
    fig = viz.plot_samples(val, n=3)
    assert sum(len(ax.images) > 0 for ax in fig.axes) == 3
    _png_ok(fig)


def test_live_curve_is_silent_outside_ipython() -> None:
    curve = viz.LiveCurve()
    curve.update({"epoch": 1, "loss": 0.1, "AP": 0.2})
    assert curve.history == [{"epoch": 1, "loss": 0.1, "AP": 0.2}]


@pytest.mark.skipif(sys.platform != "linux", reason="DISPLAY semantics are X11's")
def test_headless_python_gets_the_agg_backend() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("MPLBACKEND", None)
    code = "from simdr_lib.viz import use_headless_backend; print(use_headless_backend())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().lower() == "agg"


def test_widget_explorer_builds_for_a_person_and_joint(small_dataset: Path) -> None:
    pytest.importorskip("ipywidgets")
    from types import SimpleNamespace

    from simdr_lib.config import load_config
    from simdr_lib.data.loaders import load_split
    from simdr_lib.widgets import distribution_explorer, person_options

    cfg = load_config(
        None, {"data.root": str(small_dataset), "codec.input_size": [48, 64], "device": "cpu"}
    )
    records = load_split(cfg, "val").records[:3]
    rng = np.random.default_rng(0)
    preds = SimpleNamespace(
        probs=(rng.dirichlet(np.ones(96), (3, K)), rng.dirichlet(np.ones(128), (3, K)))
    )
    oks = np.array([0.9, np.nan, 0.2])
    options = person_options(records, oks)
    assert [i for _, i in options] == [2, 0, 1] and "OKS 0.20" in options[0][0]
    box = distribution_explorer(cfg, records, preds, oks)
    person, joint = box.children[0].children
    joint.value = 5  # redraws without error
    assert person.value == 2 and len(box.children) == 2


# ------------------------------------------------------------------ readability fixes (issue 12)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_protocols_of_an_untrained_model_are_readable() -> None:
    keys = ("AP", "AP50", "AP75", "AR")
    zeros = {k: 0.0 for k in keys}
    fig = viz.plot_protocols({"flip": dict(zeros), "no flip": dict(zeros)}, keys)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if "0.00" in t.get_text()]
    assert len(labels) == 2 * len(keys)  # one value label per bar, also at zero
    legend = ax.get_legend()
    assert legend is not None
    legend_box = legend.get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    for t in labels:
        box = t.get_window_extent(renderer)
        assert not _overlaps(box, legend_box), t.get_text()
        assert axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1  # inside the axes
    assert any("0" in t.get_text() and "all" in t.get_text() for t in ax.texts)  # says why


def test_predictions_panel_says_when_no_joint_passes_the_threshold() -> None:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    kps = _person(rng)
    gt = np.c_[kps, np.full(K, 2.0)][None]
    low = np.full((1, K), 0.01)
    fig = viz.plot_predictions(
        [crop, crop], [gt, gt], [kps[None]] * 2, [low, low + 0.5], threshold=0.05
    )
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert any("no joint scored" in s and "0.05" in s for s in texts[1])  # row 0, prediction
    assert not any("no joint" in s for s in texts[3])  # row 1 has joints drawn
    assert not texts[0] and not texts[2]  # ground-truth panels untouched


def test_joint_distributions_share_a_scale_and_mark_unlabelled_joints() -> None:
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    kps = _person(rng)
    vis = np.full(K, 2.0)
    vis[[1, 2]] = 0  # unlabelled in the ground truth
    x_p = np.full((K, 96), 1e-3)
    y_p = np.full((K, 128), 1e-3)
    x_p[:, 40] = 0.8  # labelled joints: a clear peak
    y_p[:, 50] = 0.8
    x_p[[1, 2]] = rng.uniform(0, 2e-3, (2, 96))  # unlabelled: noise that autoscale blows up
    y_p[[1, 2]] = rng.uniform(0, 2e-3, (2, 128))
    x_t, y_t = rng.random((K, 96)), rng.random((K, 128))
    fig = viz.plot_joint_distributions(
        crop, x_p, y_p, x_t, y_t, kps, kps, vis, 2.0, joints=[0, 1, 2, 3]
    )
    panels = fig.axes[1:]
    assert len(panels) == 8
    assert len({tuple(np.round(ax.get_ylim(), 9)) for ax in panels}) == 1  # one y-scale
    unlabelled = [ax for ax in panels if "not labelled" in ax.get_title()]
    assert len(unlabelled) == 4  # joints 1 and 2, x and y
    labelled = [ax for ax in panels if ax not in unlabelled]
    assert all(ax.get_facecolor() != labelled[0].get_facecolor() for ax in unlabelled)


def test_training_curves_of_a_single_epoch_show_the_point() -> None:
    fig = viz.plot_training_curves([{"epoch": 1, "loss": 0.3, "AP": 0.02}])
    ax_loss, ax_ap = fig.axes
    for ax in (ax_loss, ax_ap):
        (line,) = ax.lines
        assert line.get_marker() not in (None, "", "None") and line.get_markersize() >= 6
    assert any("0.3" in t.get_text() for t in ax_loss.texts)  # the value is written too
    many = viz.plot_training_curves([{"epoch": e, "loss": 1.0 / e} for e in range(1, 21)])
    assert many.axes[0].lines[0].get_markersize() < 6 and not many.axes[0].texts


def test_sample_titles_count_person_and_people(tmp_path: Path) -> None:
    from types import SimpleNamespace

    import cv2

    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((40, 30, 3), np.uint8))
    kps = np.c_[np.full((K, 2), 10.0), np.full(K, 2.0)]

    def rec(image_id: int) -> SimpleNamespace:
        return SimpleNamespace(
            image_id=image_id, image_path=path, keypoints=kps, box=(2, 2, 20, 30)
        )

    data = SimpleNamespace(records=[rec(1), rec(2), rec(2)])
    fig = viz.plot_samples(data, n=2)
    titles = sorted(ax.get_title() for ax in fig.axes if ax.images)
    assert titles == ["image 1: 1 person", "image 2: 2 people"]
