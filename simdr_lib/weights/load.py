"""Weights into a model: whole models strictly, pretrained backbones leniently, one line each.

Every entry point loads through here: ``simdr eval / export / infer -o weights=``, ``simdr
train --weights / --pretrained / --resume``, the notebooks and the pipeline. Files are read by
:func:`~simdr_lib.weights.reader.read_weights` (no code from a file runs), renamed by
:func:`~simdr_lib.weights.layouts.map_state` (layout detected), then checked against the model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from simdr_lib.errors import CheckpointError
from simdr_lib.weights.conventions import conventions_for, preprocessing_mismatch
from simdr_lib.weights.layouts import (
    CHECKPOINT_FORMAT,
    LAYOUT_TITLES,
    MappedState,
    infer_architecture,
    map_state,
    state_dict_of,
)
from simdr_lib.weights.reader import WeightsFile, read_weights

__all__ = [
    "LoadReport",
    "WeightsSource",
    "describe_mismatch",
    "load_model_weights",
    "load_pretrained",
    "read_checkpoint",
]

WeightsSource = Union[str, os.PathLike, WeightsFile]
Log = Union[Callable[[str], Any], None]


@dataclass
class LoadReport:
    """What a load did; :meth:`line` is the one line printed."""

    path: Path
    container: str
    layout: str
    loaded: int
    total: int
    missing: int = 0
    unexpected: int = 0
    dropped: int = 0
    part: str = "model"  # model | pretrained
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def conventions(self) -> dict[str, Any]:
        """Preprocessing / protocol the weights were made with (recorded, else the layout's)."""
        return self.meta.get("conventions") or conventions_for(self.layout)

    def line(self) -> str:
        what = "weights" if self.part == "model" else "pretrained weights"
        extra = f", {self.dropped} BN counters dropped" if self.dropped else ""
        return (
            f"{what} {self.path}: {LAYOUT_TITLES.get(self.layout, self.layout)} layout, "
            f"{self.loaded}/{self.total} tensors loaded, {self.missing} missing, "
            f"{self.unexpected} unexpected{extra}"
        )


def _read(source: WeightsSource, what: str) -> WeightsFile:
    return source if isinstance(source, WeightsFile) else read_weights(source, what)


def describe_mismatch(missing: list[str], unexpected: list[str], mismatched: list[str]) -> str:
    """``"3 shape mismatches (first: ...); 2 missing (first: ...); ..."``."""
    parts = []
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatches (first: {mismatched[0]})")
    if missing:
        parts.append(f"{len(missing)} missing (first: {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
    return "; ".join(parts)


def _hint(mapped: MappedState, model: Any, arch_hint: str) -> str:
    """What to do about a strict mismatch, from what the file's shapes say it is."""
    if mapped.layout.startswith("paddleclas"):
        return "ImageNet backbone weights: pass them with --pretrained (model.pretrained)"
    found = infer_architecture(mapped.tensors)
    ours = infer_architecture(dict(model.state_dict()))
    if found["backbone"] and found["backbone"] != ours["backbone"]:
        return f"the file is a {found['backbone']} model, the config builds {ours['backbone']}"
    if found["head"] == "heatmap" and ours["head"] == "simdr":
        return (
            "the file is a heatmap model: use a heatmap config (model.head: heatmap), or "
            "fine-tune a SimDR model from it with --pretrained"
        )
    if (
        found["head"] is None
        and ours["head"]
        and not any(k.startswith("head.") for k in mapped.tensors)
    ):
        return "the file has no head (a backbone?): pass it with --pretrained"
    if found.get("input_size") and found.get("input_size") != ours.get("input_size"):
        return (
            f"the file's SimDR head is for codec.input_size {found['input_size']} and "
            f"split_ratio {found['split_ratio']:g}; the config has {ours.get('input_size')} and "
            f"{ours.get('split_ratio', 0):g}"
        )
    return f"is it a {arch_hint} checkpoint?" if arch_hint else ""


def _log(report: LoadReport, line: str, cfg: Any, log: Log) -> None:
    if log is None:
        return
    log(line)
    if cfg is not None:
        note = preprocessing_mismatch(report.conventions, cfg.data.padding, cfg.data.pixel_std)
        if note:
            log(f"note: the config sets {note}")


def load_model_weights(
    model: Any, source: WeightsSource, *, cfg: Any = None, arch_hint: str = "", log: Log = print
) -> LoadReport:
    """Load whole-model weights strictly (any known layout); ``log`` gets the one-line report.

    With ``cfg`` (the run's :class:`~simdr_lib.config.Config`) its backbone names the model in
    messages and a box padding / ``pixel_std`` other than the weights' is pointed out.

    Every model tensor must come from the file with its shape; tensors of the file that the
    model has no place for are refused too (a silent partial load would evaluate garbage).

    Raises:
        CheckpointError: unreadable or refused file, or weights that do not fit: the layout
            found, how many missing / unexpected / mismatched with the first of each, and a
            hint (heatmap model for a SimDR config, another input size, a backbone file).
    """
    wf = _read(source, "weights file")
    try:
        state, meta = state_dict_of(wf.obj)
    except CheckpointError as exc:
        raise CheckpointError(f"{wf.path}: {exc}") from None
    mapped = map_state(state, model.state_dict(), model.backbone)
    if mapped.missing or mapped.unexpected or mapped.mismatched:
        hint = _hint(mapped, model, arch_hint or (cfg.model.backbone if cfg else ""))
        raise CheckpointError(
            f"{wf.path}: weights do not fit the model ({mapped.title} layout): "
            + describe_mismatch(mapped.missing, mapped.unexpected, mapped.mismatched)
            + (f"; {hint}" if hint else "")
        )
    model.set_state_dict(mapped.tensors)
    report = LoadReport(
        wf.path,
        wf.container,
        mapped.layout,
        len(mapped.tensors),
        len(mapped.tensors),
        dropped=mapped.dropped,
        meta=meta,
    )
    _log(report, report.line(), cfg, log)
    return report


def load_pretrained(
    model: Any, source: WeightsSource, *, cfg: Any = None, log: Log = print
) -> LoadReport:
    """Initialize ``model`` from a backbone file (ImageNet) or another pose model's weights.

    The backbone must match (at least half of its tensors by name, all with the right shape);
    head tensors are taken where name and shape fit (a heatmap model's ``final_conv`` for a
    SimDR model, as the seed fine-tunes from DARK-HRNet) and the rest keep their init.

    Raises:
        CheckpointError: unreadable or refused file, backbone shapes that differ, or too few
            backbone tensors found (layout and first missing name in the message).
    """
    wf = _read(source, "pretrained weights")
    try:
        state, meta = state_dict_of(wf.obj)
        mapped = map_state(state, model.state_dict(), model.backbone)
    except CheckpointError as exc:
        raise CheckpointError(f"{wf.path}: {exc}") from None
    backbone = [k for k in model.state_dict() if k.startswith("backbone.")]
    bad = [m for m in mapped.mismatched if m.startswith("backbone.")]
    if bad:
        found_arch = infer_architecture(mapped.tensors)["backbone"]
        ours = infer_architecture(dict(model.state_dict()))["backbone"]
        hint = (
            f"the file is {found_arch}, the config builds {ours}"
            if found_arch and found_arch != ours
            else "is it the configured backbone?"
        )
        raise CheckpointError(
            f"{wf.path}: pretrained backbone ({mapped.title} layout) has {len(bad)} shape "
            f"mismatches (first: {bad[0]}); {hint}"
        )
    fitting = mapped.fitting
    found = sum(k.startswith("backbone.") for k in fitting)
    if found < len(backbone) / 2:
        first = next((k for k in backbone if k not in fitting), "?")
        raise CheckpointError(
            f"{wf.path}: only {found}/{len(backbone)} backbone tensors match by name (best "
            f"layout: {mapped.title}; first missing: {first}); is it a backbone of the "
            "configured type?"
        )
    model.set_state_dict(fitting)
    total = len(model.state_dict())
    report = LoadReport(
        wf.path,
        wf.container,
        mapped.layout,
        len(fitting),
        total,
        missing=total - len(fitting),
        unexpected=len(state) - mapped.dropped - len(fitting),
        dropped=mapped.dropped,
        part="pretrained",
        meta=meta,
    )
    head = sum(k.startswith("head.") for k in fitting)
    _log(report, f"{report.line()} (backbone {found}/{len(backbone)}, head {head})", cfg, log)
    return report


def read_checkpoint(source: WeightsSource) -> dict[str, Any]:
    """A training checkpoint of this project (to resume from), read safely.

    Raises:
        CheckpointError: unreadable or refused file, or not a simdr training checkpoint.
    """
    wf = _read(source, "checkpoint")
    obj = wf.obj
    if not (isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT):
        raise CheckpointError(f"{wf.path}: not a simdr training checkpoint (cannot resume from it)")
    if not isinstance(obj.get("model"), dict) or not isinstance(obj.get("optimizer"), dict):
        raise CheckpointError(f"{wf.path}: training checkpoint without model / optimizer state")
    return obj
