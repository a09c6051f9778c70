"""The low-resolution study: heatmap (plain, DARK) vs SimDR vs SA-SimDR at several input sizes.

    python benchmarks/lowres_study.py [--sizes 24x32 48x64 96x128] [--heads heatmap simdr
        sa_simdr] [--seeds 0 1] [--epochs 12] [--backbone tiny] [--data-root DIR] [-o k=v]

Same backbone, same epoch budget per cell, GT boxes + flip test on the validation split (see
:mod:`simdr_lib.lowres_study`). The default (12 epochs per cell) took 27 minutes on 2 CPU
cores. Prints the table (mean and range over seeds) and writes
``reports/bench/lowres/lowres_study.json`` plus the figures drawn from it (``ap_vs_size.png``,
``side_by_side.png``); checkpoints go to ``reports/bench/lowres/checkpoints`` so a rerun
continues an interrupted study.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from simdr_lib.config import parse_overrides
from simdr_lib.lowres_study import (
    STUDY_FILE,
    StudySettings,
    plot_ap_vs_size,
    plot_side_by_side,
    run_study,
    table_rows,
)
from simdr_lib.viz import figure_png

ROOT = Path(__file__).resolve().parents[1]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 48x64, got {text!r}") from None
    return w, h


def _parser() -> argparse.ArgumentParser:
    """The options, with the study's defaults (``StudySettings``) in their help: the grid here,
    the rest in :func:`_add_run_options`."""
    defaults = StudySettings()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        default=list(defaults.sizes),
        metavar="WxH",
        help="input crops as width x height (default: 24x32 48x64 96x128, i.e. COCO-style "
        "HxW 32x24, 64x48, 128x96)",
    )
    p.add_argument(
        "--heads",
        nargs="+",
        default=list(defaults.heads),
        help="heatmap (evaluated plain and with DARK), simdr, sa_simdr (default: all three)",
    )
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=list(defaults.seeds),
        help="one training per seed and cell (default: 0 1)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=defaults.epochs,
        help=f"training epochs of every cell (default {defaults.epochs}, about 27 minutes on "
        "2 CPU cores; 60 lets the 1D heads converge, about 2.3 hours)",
    )
    _add_run_options(p, defaults)
    return p


def _add_run_options(p: argparse.ArgumentParser, defaults: StudySettings) -> None:
    """What every cell is trained with and where the results go."""
    p.add_argument(
        "--backbone",
        default=defaults.backbone,
        help="tiny (CPU default), hrnet_w32 or hrnet_w48 (GPU)",
    )
    p.add_argument(
        "--tiny-width",
        type=int,
        default=defaults.tiny_width,
        help="channels of the tiny backbone (default %(default)s)",
    )
    p.add_argument(
        "--config",
        default=str(ROOT / defaults.config),
        help="base config every cell overrides (default configs/demo_tiny.yml)",
    )
    p.add_argument("--data-root", default="", help="a COCO folder instead of the generated dataset")
    p.add_argument("--device", default="auto", help="auto, cpu or gpu (default auto)")
    p.add_argument(
        "-o",
        "--opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config override for every cell, e.g. -o train.lr=0.005",
    )
    p.add_argument(
        "--out",
        default="reports/bench/lowres",
        help="output folder: lowres_study.json, figures, checkpoints "
        "(default %(default)s; a rerun continues there)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    settings = StudySettings(
        sizes=tuple(args.sizes),
        heads=tuple(args.heads),
        seeds=tuple(args.seeds),
        epochs=args.epochs,
        backbone=args.backbone,
        tiny_width=args.tiny_width,
        config=args.config,
        data_root=args.data_root,
        device=args.device,
        overrides=parse_overrides(args.opt),
    )
    out = Path(args.out)
    study = run_study(settings, out, progress=not args.quiet)
    (out / "ap_vs_size.png").write_bytes(figure_png(plot_ap_vs_size(study)))
    (out / "side_by_side.png").write_bytes(figure_png(plot_side_by_side(study)))

    header = ["input", "representation", "AP", "AP75", "error px"]
    rows = table_rows(study)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    machine = f"{platform.processor() or platform.machine()}, {platform.system()}"
    minutes = study["wall_time_s"] / 60
    print(f"\n{len(study['cells'])} rows in {minutes:.1f} min on {machine}; {out / STUDY_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
