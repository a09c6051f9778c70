"""One function per report section, each rendering :class:`Block` s from a :class:`RunData`.

A section shows its run file as a table and its figures (``figures/<stem>.png``, stems from
:mod:`simdr_lib.report.run_files`), or a note naming the notebook to run when the file is
missing.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any

from simdr_lib.data.dataset_kinds import MPII_METRIC, metric_kind_of
from simdr_lib.report import run_files as rf
from simdr_lib.report import tables as tb
from simdr_lib.report.blocks import Block
from simdr_lib.report.run_data import JsonDict, RunData


def not_run(notebook: str) -> Block:
    """The note of a section whose run file is missing."""
    return Block("note", f"not available: run notebook {notebook}")


def figure_blocks(run: RunData, names: Sequence[tuple[str, str]]) -> list[Block]:
    """A figure block for each ``(stem, caption)`` whose PNG exists."""
    return [
        Block("figure", caption, path=run.figures[s]) for s, caption in names if s in run.figures
    ]


def ap_sentence(
    metrics: JsonDict | None,
    cfg: JsonDict,
    training: JsonDict | None,
    dataset: JsonDict | None = None,
) -> str:
    """The headline: the AP reached on which val set, with which boxes and flip test."""
    if not metrics:
        return f"No evaluation results: notebook {rf.EVALUATION_NOTEBOOK} has not run for this run."
    data = cfg.get("data", {})
    root = (dataset or {}).get("root") or data.get("root", "?")
    generated = (dataset or {}).get("generated")
    if generated is None:
        generated = bool(data.get("synthetic"))
    where = "the generated validation set" if generated else "the validation set"
    main = metrics.get("protocols", {}).get(metrics.get("main_protocol", ""), {})
    boxes = "ground-truth person boxes" if main.get("use_gt_bbox", True) else "detected boxes"
    flip = "with flip test" if main.get("flip_test", True) else "without flip test"
    kind = metric_kind_of(metrics)
    ap = metrics.get(kind.key)
    n_ep = (training or {}).get("epochs_done")
    epochs = f" after {n_ep} training epoch{'s' if n_ep != 1 else ''}" if n_ep else ""
    people = metrics.get("num_people")
    images = metrics.get("num_images")
    scope = f" ({root}: {people} people in {images} images)" if people and images else f" ({root})"
    if kind is MPII_METRIC:  # PCKh is a percent already; the official table has Mean@0.1
        low = (metrics.get("stats") or {}).get("PCKh@0.1")
        value = (
            f"MPII PCKh@0.5 {tb.fmt_num(ap, '{:.1f}')} % (PCKh@0.1 {tb.fmt_num(low, '{:.1f}')} %)"
        )
    else:
        value = f"COCO keypoint AP {tb.fmt_num(ap)} ({tb.fmt_pct(ap)} %)"
    return f"On {where}{scope}, the model reaches {value}{epochs}, evaluated on {boxes} {flip}."


def headline(run: RunData) -> str:
    """:func:`ap_sentence` of the run."""
    return ap_sentence(run.metrics, run.config or {}, run.training, run.dataset)


def header_section(run: RunData, missing: Sequence[str]) -> list[Block]:
    """The headline, where the run lives and its status, and the missing run files."""
    status = (run.state or {}).get("status", "interactive")
    blocks = [
        Block("p", f"**{headline(run)}**"),
        Block(
            "note",
            f"Run `{run.run_name}` · folder `{run.run_dir}` · pipeline status: {status} · "
            f"generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        ),
    ]
    if missing:
        text = "Missing run files (their notebooks did not run): " + ", ".join(missing)
        blocks.append(Block("note", text))
    return blocks


def evaluation_section(run: RunData) -> list[Block]:
    """COCOeval (or MPII PCKh) metrics, the protocols table and the per-joint accuracy."""
    metrics = run.metrics
    mpii = metric_kind_of(metrics) is MPII_METRIC
    b = [Block("h2", "Evaluation (MPII PCKh)" if mpii else "Evaluation (COCOeval)")]
    if not metrics:
        return b + [not_run(rf.EVALUATION_NOTEBOOK)]
    what = (
        "PCKh@0.5 in percent per joint group in the official layout (a joint is right "
        "within half the head size, 0.6 x the head box diagonal; Mean leaves out pelvis and "
        "thorax; Mean@0.1 is read at 0.11 as in the official code)."
        if mpii
        else "all ten COCO keypoint metrics in percent (AP averaged over OKS thresholds "
        "0.50:0.95; APm / APl for medium / large people; AR = average recall)."
    )
    b.append(Block("p", f"Main protocol **{metrics.get('main_protocol')}**: {what}"))
    b.append(Block("table", table=tb.coco_table(metrics.get("stats", {}))))
    b.append(Block("h3", "Flip test on / off, ground-truth vs detected boxes"))
    b.append(Block("table", table=tb.protocols_table(metrics.get("protocols", {}))))
    key = "PCKh" if mpii else "AP"
    b += figure_blocks(run, [(rf.FIG_PROTOCOLS, f"{key} per protocol")])
    b.append(Block("h3", "Per-joint accuracy"))
    share = (
        MPII_METRIC.per_joint
        if mpii
        else "labeled joints predicted within keypoint similarity OKS_j >= 0.5"
    )
    b.append(
        Block(
            "p",
            f"Share of {share} (ground-truth boxes), with the mean distance to the ground "
            "truth in pixels.",
        )
    )
    b.append(Block("table", table=tb.per_joint_table(metrics.get("per_joint", []))))
    return b + figure_blocks(run, [(rf.FIG_PER_JOINT, "per-joint accuracy")])


def study_sentence(study: JsonDict) -> str:
    """One sentence per extreme size: SimDR / SA-SimDR vs heatmap (and DARK) AP."""
    summary = study.get("summary") or []
    sizes = sorted({tuple(e["size"]) for e in summary}, key=lambda s: s[0] * s[1])
    parts = []
    for size in dict.fromkeys([sizes[0], sizes[-1]] if sizes else []):
        ap = {e["representation"]: e["AP"] for e in summary if tuple(e["size"]) == size}
        text = ", ".join(f"{rep} {value:.3f}" for rep, value in ap.items())
        parts.append(f"at {size[0]}x{size[1]}: {text}")
    seeds = len(study.get("settings", {}).get("seeds", [])) or 1
    return "Low-resolution study (COCO AP on GT boxes, mean of {} seed{}) {}.".format(
        seeds, "s" if seeds > 1 else "", "; ".join(parts) or "without results"
    )


def study_section(run: RunData) -> list[Block]:
    """Table and figures of the low-resolution study (all drawn from its json; [] without)."""
    from simdr_lib.lowres_study import study_table

    study = run.study
    if not study:
        return []
    s = study.get("settings", {})
    minutes = float(study.get("wall_time_s") or 0.0) / 60
    blocks = [
        Block("h2", "Low-resolution study: heatmap vs SimDR"),
        Block(
            "p",
            f"The same `{s.get('backbone')}` backbone trained {s.get('epochs')} epochs per cell "
            f"as each representation at each input size, seeds {s.get('seeds')}; validation "
            f"people on ground-truth boxes with flip test ({minutes:.0f} min). AP / AP75: "
            "mean over seeds (range); error: mean distance to the labeled joints in image px.",
        ),
        Block("table", table=study_table(study)),
    ]
    return blocks + figure_blocks(
        run,
        [
            (rf.FIG_AP_VS_SIZE, "AP against input size (bars: range over seeds)"),
            (rf.FIG_SIDE_BY_SIDE, "the same people at the smallest size: heatmap vs SimDR"),
        ],
    )


def training_section(run: RunData) -> list[Block]:
    """The training summary and curves."""
    b = [Block("h2", "Training")]
    if run.training:
        b.append(Block("table", table=tb.training_table(run.training)))
    key = (run.training or {}).get("metric", "AP")
    b += figure_blocks(run, [(rf.FIG_TRAINING_CURVES, f"training loss and validation {key}")])
    if not run.training:
        b.append(not_run(rf.TRAINING_NOTEBOOK))
    return b


def predictions_section(run: RunData) -> list[Block]:
    """Sample predictions, 1D distributions, worst cases and the per-person score summary."""
    b = [Block("h2", "Sample predictions and 1D distributions")]
    vis = run.visualization
    metric = (vis or {}).get("metric", "OKS")
    b += figure_blocks(
        run,
        [
            (rf.FIG_PREDICTIONS, "validation images: ground truth (left) and prediction (right)"),
            (rf.FIG_DISTRIBUTIONS_TYPICAL, "a typical person: predicted vs target x / y vectors"),
            (rf.FIG_DISTRIBUTIONS_WORST, "the worst person: predicted vs target x / y vectors"),
            (rf.FIG_WORST_CASES, f"lowest-{metric} people (crosses: ground truth)"),
        ],
    )
    if not vis:
        return b + [not_run(rf.VISUALIZATION_NOTEBOOK)]
    o = vis.get("scores") or vis.get("oks") or {}  # "oks": runs before the MPII path
    text = (
        f"Per-person {metric} on GT boxes: mean {tb.fmt_num(o.get('mean'))}, median "
        f"{tb.fmt_num(o.get('median'))}, min {tb.fmt_num(o.get('min'))} over "
        f"{vis.get('num_people')} people."
    )
    return b + [Block("p", text)]


def dataset_section(run: RunData) -> list[Block]:
    """Where the data is, its split statistics and sample figures."""
    b = [Block("h2", "Dataset")]
    dataset = run.dataset
    splits = (dataset or {}).get("splits", dataset)
    if splits:
        if dataset.get("root"):
            kind = "generated dataset" if dataset.get("generated") else "dataset"
            b.append(Block("p", f"{kind.capitalize()} at `{dataset['root']}`."))
        b.append(Block("table", table=tb.dataset_table(splits)))
    return b + figure_blocks(
        run,
        [(rf.FIG_SAMPLES, "validation images with labels"), (rf.FIG_TRAIN_STATS, "train split")],
    )


def model_section(run: RunData) -> list[Block]:
    """Parameter counts and shapes, and the label figures."""
    b = [Block("h2", "Model and labels")]
    if run.model:
        b.append(Block("table", table=tb.model_table(run.model)))
    return b + figure_blocks(
        run,
        [
            (rf.FIG_LABEL_VECTORS, "one training sample and its x / y label vectors"),
            (rf.FIG_LABEL_COMPARISON, "one-hot + smoothing vs Gaussian labels; effect of k"),
            (rf.FIG_LABELS_K_SIGMA, "one joint's label vectors for the chosen k and sigma"),
        ],
    )


def export_section(run: RunData) -> list[Block]:
    """Static graph vs dynamic model parity and speed."""
    table = tb.export_table(run.export or {"status": "not run"})
    return [Block("h2", "Export (static graph vs dynamic model)"), Block("table", table=table)]


def other_figures_section(run: RunData, shown: Sequence[Block]) -> list[Block]:
    """Every figure not placed in ``shown`` (unknown figures are not dropped)."""
    used = {blk.path for blk in shown if blk.kind == "figure"}
    others = [p for p in run.figures.values() if p not in used]
    if not others:
        return []
    return [Block("h2", "Other figures")] + [Block("figure", p.stem, path=p) for p in others]


def timing_section(run: RunData) -> list[Block]:
    """Seconds per notebook, training, each evaluation protocol and the pipeline."""
    extra: dict[str, Any] = {}
    if run.training:
        extra["training (03)"] = run.training.get("train_time_s")
    if run.metrics:
        for name, p in run.metrics.get("protocols", {}).items():
            extra[f"evaluation {name} (04)"] = p.get("seconds")
    if run.state and run.state.get("wall_time_s") is not None:
        extra["pipeline wall time"] = run.state.get("wall_time_s")
    return [Block("h2", "Timing"), Block("table", table=tb.timing_table(run.state, extra))]


def environment_section(run: RunData) -> list[Block]:
    """Versions and device of ``environment.json``."""
    b = [Block("h2", "Environment")]
    if run.environment:
        b.append(Block("table", table=tb.environment_table(run.environment)))
    return b


def configuration_section(
    run: RunData, heading: str = "Configuration", parameters: bool = True
) -> list[Block]:
    """The run's ``config.yml`` and (``parameters``) the pipeline parameters."""
    b = [Block("h2", heading), Block("pre", run.config_text or f"({rf.CONFIG_FILE} missing)")]
    if parameters and run.state and run.state.get("parameters"):
        b.append(Block("h3", "Pipeline parameters"))
        b.append(Block("pre", json.dumps(run.state["parameters"], indent=2)))
    return b
