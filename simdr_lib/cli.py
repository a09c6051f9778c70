"""``simdr`` command line: the seed's tools/*.py workflows as subcommands.

    simdr prepare --synthetic                  generate the default dataset under data/synthetic
    simdr validate -c CONFIG                   check a COCO dataset and print usable people
    simdr model-info -c CONFIG                 parameter counts and output shapes
    simdr train -c CONFIG [--eval] [--resume]  train (--ranks N: N data-parallel CPU ranks)
    simdr eval -c CONFIG -o weights=PATH       COCO keypoint AP (GT boxes or detections)
    simdr export -c CONFIG -o weights=PATH     static model + infer_cfg.yml (Paddle Inference)
    simdr infer --model_dir DIR --input PATH   top-down inference on images / folders / COCO json
    simdr convert IN OUT                       downloaded weights (PaddleDetection / seed,
                                               official .pth, PaddleClas) -> our layout
    simdr pipeline [-p NAME VALUE ...]         run notebooks 01..07 with papermill + report

Every user error is printed as one ``error: ...`` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from simdr_lib.cli_args import add_config_args
from simdr_lib.errors import SimdrError

EPILOG = "Configs live in configs/; any key can be overridden with -o section.key=value."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simdr",
        description="SimDR / SA-SimDR human pose estimation on PaddlePaddle.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_prepare(sub)
    p = sub.add_parser("validate", help="check a COCO keypoint dataset before training")
    add_config_args(p)

    p = sub.add_parser("model-info", help="parameter counts and output shapes of a config")
    add_config_args(p)

    p = sub.add_parser("train", help="train a model (checkpoints/<name>/)")
    add_config_args(p)
    p.add_argument(
        "--eval", action="store_true", help="evaluate (COCO AP; MPII: PCKh) after each epoch"
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from checkpoints/<name>/")
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="start over when checkpoints/<name>/ already holds a run (replaces it)",
    )
    p.add_argument("--use_vdl", action="store_true", help="also log to VisualDL if installed")
    p.add_argument("--pretrained", default="", help="ImageNet backbone weights (a local path)")
    p.add_argument("--weights", default="", help="full model weights to start from")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--ranks",
        type=int,
        default=None,
        help="data-parallel CPU ranks (train.ranks; default auto: one per core, at least 8 "
        "images of train.batch_size each). N > 1 runs the training under python -m "
        "paddle.distributed.launch, one thread per rank on 2 cores, train.batch_size split "
        "across the ranks; 1 trains in this process. Measured with 2 ranks on 2 cores: "
        "1.17-1.6x images/s of 1 rank (benchmarks/train_speed.py)",
    )

    p = sub.add_parser("eval", help="COCO keypoint AP of trained weights")
    add_config_args(p)
    boxes = p.add_mutually_exclusive_group()
    # underscores as in `simdr infer` and the seed's tools; the hyphen spellings still work
    boxes.add_argument(
        "--gt_boxes", "--gt-boxes", action="store_true", help="ground-truth person boxes"
    )
    boxes.add_argument(
        "--det_boxes", "--det-boxes", action="store_true", help="boxes from data.det_file"
    )
    p.add_argument("--no_flip", "--no-flip", action="store_true", help="disable the flip test")
    p.add_argument("--output_dir", default="", help="where to write results json (run dir)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser(
        "convert",
        help="convert downloaded weights (PaddleDetection / seed, official .pth, PaddleClas)",
        description="Read a weights file of a known layout (PaddleDetection / the seed's "
        ".pdparams, official PyTorch SimDR / HRNet .pth in zip or legacy format, PaddleClas "
        "ImageNet HRNet, or ours) without running any code from it, detect its layout and "
        "architecture, and write it in this project's layout with a record of what it is. "
        "The output works with -o weights= (whole models) and --pretrained (any).",
    )
    p.add_argument("input", help="the downloaded weights file (.pdparams / .pth)")
    p.add_argument("output", help="the converted file to write (e.g. checkpoints/x.pdparams)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")

    _add_later_commands(sub)
    return parser


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="generate the embedded default dataset (COCO format)")
    p.add_argument("--synthetic", action="store_true", help="generate the default dataset")
    p.add_argument("--root", default="data/synthetic", help="output folder (data/synthetic)")
    p.add_argument("--num-train", type=int, default=800, help="train images (800)")
    p.add_argument("--num-val", type=int, default=100, help="val images (100)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (0)")
    p.add_argument("--overwrite", action="store_true", help="regenerate even if complete")


#: commands whose arguments live in their own modules: module (with ``add_cli``) -> commands
LATER_COMMANDS: dict[str, tuple[str, ...]] = {
    "simdr_lib.pipeline": ("pipeline",),
    "simdr_lib.deploy_cli": ("export", "infer"),
}


def _add_later_commands(sub: argparse._SubParsersAction) -> None:
    """Commands implemented in their own modules (pipeline, export, infer).

    They are always listed: when a module (or something it imports) cannot be imported,
    its commands are registered as stand-ins that report the missing module when run.
    """
    for module, commands in LATER_COMMANDS.items():
        try:
            importlib.import_module(module).add_cli(sub)
        except ImportError as exc:
            for command in commands:
                if command not in sub.choices:
                    _add_unavailable(sub, command, module, exc)


def _add_unavailable(
    sub: argparse._SubParsersAction, command: str, module: str, exc: ImportError
) -> None:
    """``simdr COMMAND ...`` that accepts any arguments and fails with the import error."""
    missing = exc.name or module
    p = sub.add_parser(
        command,
        help=f"(unavailable: module {missing!r} cannot be imported)",
        prefix_chars="\0",  # every argument is taken as is: the command only reports
        add_help=False,
    )
    p.add_argument("ignored", nargs="*")
    needs = f" ({module} needs it)" if missing != module else ""
    message = f"simdr {command} is unavailable: module {missing!r} cannot be imported{needs}: {exc}"
    p.set_defaults(func=functools.partial(_unavailable, message))


def _unavailable(message: str, args: argparse.Namespace) -> int:
    raise SimdrError(message)


def cmd_prepare(args: argparse.Namespace) -> int:
    if not args.synthetic:
        print(
            "nothing to do: pass --synthetic to generate the default dataset "
            "(real COCO: point data.root at your download, see README.md)"
        )
        return 2
    from simdr_lib.data.synthetic import generate_synthetic_coco

    paths = generate_synthetic_coco(
        args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(f"dataset ready at {paths.root}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from simdr_lib.config import load_config
    from simdr_lib.data.loaders import ensure_dataset, load_split, split_stats

    cfg = load_config(args.config, args.opt)
    ensure_dataset(cfg)
    for split in ("train", "val"):
        stats = split_stats(cfg, load_split(cfg, split))
        print(f"[{split}] {json.dumps(stats, default=str)}")
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    from simdr_lib.config import load_config
    from simdr_lib.factory import model_from_config
    from simdr_lib.models import model_summary

    cfg = load_config(args.config, args.opt)
    model = model_from_config(cfg)
    info = model_summary(model, tuple(cfg.codec.input_size))
    print(f"config      {cfg.source}")
    for key, value in info.items():
        if isinstance(value, int):
            print(f"{key:<18}{value:>14,d}  ({value / 1e6:.2f}M)")
        else:
            print(f"{key:<18}{value}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from simdr_lib.config import load_config
    from simdr_lib.engine.train import train

    extra = [f"model.pretrained={args.pretrained}"] if args.pretrained else []
    extra += [f"weights={args.weights}"] if args.weights else []
    extra += [f"train.ranks={args.ranks}"] if args.ranks is not None else []
    cfg = load_config(args.config, [*args.opt, *extra])
    result = train(
        cfg,
        resume=args.resume,
        overwrite=args.overwrite,
        do_eval=args.eval,
        use_vdl=args.use_vdl,
        progress=not args.quiet,
    )
    if result.final_weights is not None:
        metric = "PCKh" if cfg.data.dataset == "mpii" else "AP"
        best = f", best {metric} {result.best_ap:.4f} at epoch {result.best_epoch}"
        best = best if args.eval else ""
        print(
            f"done: {result.epochs_done} epochs in {result.wall_time_s:.0f}s{best}; "
            f"weights {result.final_weights}"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from simdr_lib.config import load_config
    from simdr_lib.device import set_device
    from simdr_lib.engine.evaluate import format_ap_table
    from simdr_lib.engine.model_eval import evaluate_model
    from simdr_lib.errors import ConfigError
    from simdr_lib.factory import model_from_config
    from simdr_lib.weights import load_model_weights

    cfg = load_config(args.config, args.opt)
    if not cfg.weights:
        raise ConfigError(f"{cfg.source}: no weights given; pass -o weights=PATH.pdparams")
    set_device(cfg.device)
    model = model_from_config(cfg)
    load_model_weights(model, cfg.weights, cfg=cfg)
    use_gt = True if args.gt_boxes else (False if args.det_boxes else None)
    out_dir = Path(args.output_dir) if args.output_dir else Path(cfg.weights).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    result = evaluate_model(
        cfg,
        model,
        use_gt_bbox=use_gt,
        flip_test=not args.no_flip,
        out_dir=out_dir,
        progress=not args.quiet,
    )
    boxes = "GT boxes" if result.use_gt_bbox else "detected boxes"
    flip = "flip test" if result.flip_test else "no flip"
    print(f"{cfg.name}: {result.num_people} people, {boxes}, {flip}")
    if cfg.data.dataset == "mpii":
        from simdr_lib.engine.mpii_eval import format_pckh_report

        print(format_pckh_report(result.stats, cfg.name))
        return 0
    print(format_ap_table(result.stats))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from simdr_lib.weights import convert_weights

    convert_weights(args.input, args.output, overwrite=args.overwrite)
    return 0


def quiet_paddle_warnings() -> None:
    """Hide Paddle's import-time and BN notices (ccache, global stats) from users."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"paddle\.")


COMMANDS = {
    "prepare": cmd_prepare,
    "validate": cmd_validate,
    "model-info": cmd_model_info,
    "train": cmd_train,
    "eval": cmd_eval,
    "convert": cmd_convert,
}


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")  # silence Paddle's C++ INFO lines
    quiet_paddle_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    func = COMMANDS.get(args.command) or getattr(args, "func", None)
    try:
        return int(func(args) or 0)
    except SimdrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write or read that no SimdrError covered: still one line
        from simdr_lib.atomic_io import describe_os_error

        where = exc.filename or "a file"
        print(f"error: {where}: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: checkpoints written so far are complete; rerun with --resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
