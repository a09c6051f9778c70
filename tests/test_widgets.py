"""The distribution explorer: axes within the bins, probabilities computed on demand."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")


def _shown_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """Figures the explorer renders (captured where it turns them into PNG)."""
    from simdr_lib import viz

    shown: list = []
    real = viz.figure_png

    def capture(fig, dpi=96):
        shown.append(fig)
        return real(fig, dpi=dpi)

    monkeypatch.setattr(viz, "figure_png", capture)
    return shown


def test_explorer_axes_stop_at_the_first_and_last_bin(tiny_cfg, monkeypatch) -> None:
    from types import SimpleNamespace

    from simdr_lib.data.loaders import load_split
    from simdr_lib.widgets import distribution_explorer

    records = load_split(tiny_cfg, "val").records[:2]
    rng = np.random.default_rng(0)
    lx, ly = (int(s * tiny_cfg.codec.split_ratio) for s in tiny_cfg.codec.input_size)
    preds = SimpleNamespace(
        probs=(rng.dirichlet(np.ones(lx), (2, 17)), rng.dirichlet(np.ones(ly), (2, 17)))
    )
    shown = _shown_figures(monkeypatch)
    distribution_explorer(tiny_cfg, records, preds)
    axes = [ax for ax in shown[-1].axes if ax.lines]
    assert len(axes) == 2 * 17
    k = float(tiny_cfg.codec.split_ratio)
    for ax in axes:
        last = (len(ax.lines[-1].get_xdata()) - 1) / k
        lo, hi = ax.get_xlim()
        assert 0.0 <= lo < hi <= last + 1e-9, (ax.get_title(), lo, hi, last)


def test_explorer_computes_a_chosen_persons_distributions_like_the_evaluation(
    tiny_cfg, monkeypatch
) -> None:
    from simdr_lib.data.loaders import load_split
    from simdr_lib.engine.model_eval import evaluate_model
    from simdr_lib.engine.protocols import gt_eval_records
    from simdr_lib.factory import model_from_config
    from simdr_lib.viz_examples import person_probs
    from simdr_lib.widgets import distribution_explorer

    model = model_from_config(tiny_cfg)
    model.eval()
    data = load_split(tiny_cfg, "val")
    full = evaluate_model(tiny_cfg, model, data, use_gt_bbox=True, keep_probs=True, progress=False)
    records = gt_eval_records(tiny_cfg, data)
    x, y = person_probs(tiny_cfg, model, records, [0, 3], flip_test=full.flip_test)
    np.testing.assert_allclose(x, full.predictions.probs[0][[0, 3]], atol=1e-5)
    np.testing.assert_allclose(y, full.predictions.probs[1][[0, 3]], atol=1e-5)

    shown = _shown_figures(monkeypatch)
    x_all = full.predictions.probs[0]
    saved = full.predictions
    saved.probs = ()  # as loaded from predictions_gt.npz
    box = distribution_explorer(tiny_cfg, records, saved, model=model, flip_test=True)
    person, joint = box.children[0].children
    person.value = 3
    joint.value = 5
    assert len(shown) == 3
    line = [ax for ax in shown[-1].axes if ax.lines][0].lines[-1]
    np.testing.assert_allclose(line.get_ydata(), x_all[3, 5], atol=1e-5)
    with pytest.raises(ValueError, match="no x / y probabilities"):
        distribution_explorer(tiny_cfg, records, saved)


def test_label_figure_follows_k_and_sigma() -> None:
    from simdr_lib.viz_examples import plot_labels

    fig = plot_labels(3.0, 1.5, position_px=20.3, length_px=48)
    ax = fig.axes[0]
    onehot, gauss = ax.lines[0], ax.lines[1]
    assert len(gauss.get_xdata()) == 48 * 3 == len(onehot.get_xdata())
    peak = float(gauss.get_xdata()[np.argmax(gauss.get_ydata())])
    assert abs(peak - 20.3) <= 1 / (2 * 3.0) + 1e-9
    assert "decodes to 20.33 px" in ax.get_title() and "σ = 0.50 px" in ax.get_title()
    assert ax.get_xlim() == (20.3 - 6.0, 20.3 + 6.0)
    with pytest.raises(ValueError, match="must be > 0"):
        plot_labels(0, 1.0)


def test_label_explorer_redraws_when_a_slider_moves(monkeypatch) -> None:
    from simdr_lib.widgets import label_explorer

    shown = _shown_figures(monkeypatch)
    box = label_explorer(2.0, 2.0)
    k, sigma = box.children[0].children
    k.value = 1.0
    sigma.value = 4.0
    assert len(shown) == 3
    assert len(shown[-1].axes[0].lines[1].get_xdata()) == 48
    assert "k = 1" in shown[-1].axes[0].get_title()
