"""The small tables the notebooks display and the report shows (Markdown and HTML).

Each ``*_table`` function takes the json content of one run file (see
:mod:`simdr_lib.report.run_files`) and returns a :class:`Table`; numbers are formatted here
(percent with one decimal, ``-`` for missing or non-finite values).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simdr_lib.data.dataset_kinds import MPII_METRIC, MetricKind, metric_kind_of

COCO_COLUMNS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@dataclass
class Table:
    """A small table that renders as Markdown (also in Jupyter) and as HTML."""

    headers: list[str]
    rows: list[list[str]]
    align_right: bool = True

    def markdown(self) -> str:
        def cell(v: str) -> str:
            return str(v).replace("|", "\\|").replace("\n", " ")

        sep = ["---:" if self.align_right and i else "---" for i in range(len(self.headers))]
        lines = [
            "| " + " | ".join(cell(h) for h in self.headers) + " |",
            "| " + " | ".join(sep) + " |",
        ]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        cls = "" if self.align_right else ' class="left"'
        return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __str__(self) -> str:
        return self.markdown()


def fmt_num(value: Any, fmt: str = "{:.3f}") -> str:
    """``value`` formatted with ``fmt``; ``-`` for None / NaN, ``str`` for non-numbers."""
    if value is None:
        return "-"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "-" if not math.isfinite(v) else fmt.format(v)


def fmt_pct(value: Any) -> str:
    """A fraction in percent with one decimal."""
    return fmt_num(None if value is None else 100.0 * float(value), "{:.1f}")


def dataset_table(stats: dict[str, dict[str, Any]]) -> Table:
    """Split statistics (``{"train": dataset_stats(...), "val": ...}``) side by side."""
    splits = list(stats)
    rows = []
    for key, label in (
        ("images", "images"),
        ("images_with_people", "images with people"),
        ("usable_people", "usable people"),
        ("crowd_annotations", "crowd annotations"),
    ):
        rows.append([label] + [str(stats[s].get(key, "-")) for s in splits])
    rows.append(
        ["labeled joints"] + [str(sum(stats[s].get("labeled_joints", {}).values())) for s in splits]
    )
    rows.append(
        ["visible joints"] + [str(sum(stats[s].get("visible_joints", {}).values())) for s in splits]
    )
    for dim in ("width", "height"):
        rows.append(
            [f"box {dim} px (min / median / max)"]
            + [
                " / ".join(
                    fmt_num(stats[s].get("box_size", {}).get(dim, {}).get(k), "{:.0f}")
                    for k in ("min", "median", "max")
                )
                for s in splits
            ]
        )
    return Table(["", *splits], rows)


def model_table(info: dict[str, Any]) -> Table:
    """Parameter counts and shapes from :func:`simdr_lib.models.model_summary`."""
    rows = []
    for key in ("params_total", "params_backbone", "params_head"):
        if key in info:
            rows.append(
                [key.replace("_", " "), f"{int(info[key]):,} ({int(info[key]) / 1e6:.2f}M)"]
            )
    for key in ("input_shape", "feature_shape"):
        if key in info:
            rows.append([key.replace("_", " "), " x ".join(str(v) for v in info[key])])
    for name, shape in dict(info.get("output_shapes", {})).items():
        rows.append([f"output {name}", " x ".join(str(v) for v in shape)])
    return Table(["", "value"], rows, align_right=False)


def coco_table(stats: dict[str, float]) -> Table:
    """All ten COCOeval keypoint metrics (x 100); for MPII stats the official PCKh table."""
    if metric_kind_of(stats) is MPII_METRIC:
        return pckh_table(stats)
    cols = [c for c in COCO_COLUMNS if c in stats]
    return Table(cols, [[fmt_pct(stats[c]) for c in cols]])


def pckh_table(stats: dict[str, float]) -> Table:
    """The official MPII layout: Head, Shoulder, ..., Ankle, Mean, Mean@0.1 (percent)."""
    from simdr_lib.engine.pckh import TABLE_NAMES

    cols = [c for c in TABLE_NAMES if c in stats]
    return Table(cols, [[fmt_num(stats[c], "{:.1f}") for c in cols]])


def _metric_cell(kind: MetricKind, value: Any) -> str:
    """A metric value in percent with one decimal (COCO fractions are scaled, PCKh is not)."""
    return fmt_pct(value) if kind.full == 1.0 else fmt_num(value, "{:.1f}")


def protocols_table(protocols: dict[str, dict[str, Any]]) -> Table:
    """One row per evaluation protocol: boxes, flip test, people, AP ... AR (or PCKh,
    PCKh@0.1), seconds."""
    kind = metric_kind_of(next(iter(protocols.values()), {}).get("stats"))
    rows = []
    for name, p in protocols.items():
        s = p.get("stats", {})
        rows.append(
            [
                name,
                "GT" if p.get("use_gt_bbox") else "detected",
                "on" if p.get("flip_test") else "off",
                str(p.get("num_people", "-")),
                *[_metric_cell(kind, s.get(c)) for c in kind.columns],
                fmt_num(p.get("seconds"), "{:.1f}"),
            ]
        )
    return Table(["protocol", "boxes", "flip", "people", *kind.columns, "seconds"], rows)


def per_joint_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """One row per joint type from :func:`simdr_lib.engine.protocols.per_joint_rows` rows
    (COCO: OKS_j accuracy and mean OKS_j; MPII: PCKh@0.5 and mean error in head sizes)."""
    mpii = bool(rows) and "mean_head_error" in rows[0]
    head = ("visible", "PCKh@0.5 %", "mean error head sizes") if mpii else None
    head = head or ("labeled", "accuracy (OKS_j>=0.5) %", "mean OKS_j")
    second = "mean_head_error" if mpii else "mean_oks"
    return Table(
        ["joint", *head, "mean error px"],
        [
            [
                r["joint"],
                str(r["count"]),
                fmt_pct(r["accuracy"]),
                fmt_num(r.get(second)),
                fmt_num(r["mean_error_px"], "{:.2f}"),
            ]
            for r in rows
        ],
    )


def training_table(summary: dict[str, Any]) -> Table:
    """Epochs, final loss, best AP, time, throughput, device and weights of ``training.json``."""
    rows = [
        ["epochs", str(summary.get("epochs_done", "-"))],
        ["final training loss", fmt_num(summary.get("final_loss"), "{:.5f}")],
        [
            f"best validation {summary.get('metric', 'AP')} (epoch)",
            f"{fmt_num(summary.get('best_ap'))} ({summary.get('best_epoch', '-')})",
        ],
        ["training time", fmt_duration(summary.get("train_time_s"))],
        ["throughput", fmt_num(summary.get("images_per_s"), "{:.1f}") + " images/s"],
        ["device", str(summary.get("device", "-"))],
        ["weights", str(summary.get("weights", "-"))],
    ]
    return Table(["", "value"], rows, align_right=False)


def export_table(info: dict[str, Any]) -> Table:
    """The static-graph export of ``export.json``: parity and speed, or why it did not run."""
    if info.get("status") != "ok":
        return Table(["export", "note"], [[str(info.get("status")), str(info.get("reason", ""))]])
    rows = [
        ["model folder", str(info.get("model_dir"))],
        ["backend", str(info.get("backend"))],
        ["crops compared", str(info.get("num_crops"))],
        ["max |static - dynamic| probability", fmt_num(info.get("max_abs_diff"), "{:.2e}")],
        ["max keypoint difference px", fmt_num(info.get("max_keypoint_diff_px"), "{:.3f}")],
        ["static ms / crop", fmt_num(info.get("static_ms_per_crop"), "{:.2f}")],
        ["dynamic ms / crop", fmt_num(info.get("dynamic_ms_per_crop"), "{:.2f}")],
        ["parity", "OK" if info.get("parity_ok") else "MISMATCH"],
    ]
    return Table(["", "value"], rows, align_right=False)


def environment_table(env: Mapping[str, Any]) -> Table:
    """Versions, device, CPU count and OS of ``environment.json``."""
    keys = ("python", "paddle", "device", "paddle_cuda", "numpy", "cv2", "pycocotools")
    keys += ("matplotlib", "papermill", "cpu_count", "platform")
    return Table(["", "value"], [[k, str(env[k])] for k in keys if k in env], align_right=False)


def timing_table(state: dict[str, Any] | None, extra: Mapping[str, float | None]) -> Table:
    """Seconds per notebook from the pipeline state, then the ``extra`` labelled times."""
    rows = []
    total = 0.0
    for name, entry in (state or {}).get("notebooks", {}).items():
        secs = entry.get("seconds")
        if secs is not None:
            total += float(secs)
        rows.append([f"notebook {name}", fmt_duration(secs), entry.get("status", "-")])
    if rows:
        rows.append(["all notebooks", fmt_duration(total), ""])
    for label, secs in extra.items():
        rows.append([label, fmt_duration(secs), ""])
    return Table(["step", "time", "status"], rows, align_right=False)


def fmt_duration(seconds: Any) -> str:
    """``12.3 s`` below two minutes, else ``4 min 5 s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = float(seconds)
    if not math.isfinite(s):
        return "-"
    return f"{s:.1f} s" if s < 120 else f"{int(s // 60)} min {s % 60:.0f} s"
