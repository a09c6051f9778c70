"""``simdr export`` and ``simdr infer``: their options and commands (added by :func:`add_cli`).

simdr export -c CONFIG -o weights=PATH [--output_dir DIR] [--onnx]
simdr infer  (--model_dir DIR | -c CONFIG -o weights=PATH) --input IMAGE|FOLDER|COCO.json
             [--det_file DETS.json | --use_gt] [--output_dir DIR] [--save_txt] ...
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simdr_lib.cli_args import add_config_args

if TYPE_CHECKING:
    from simdr_lib.deploy.predictor import Predictor


def add_cli(sub: argparse._SubParsersAction) -> None:
    """Register the ``export`` and ``infer`` subcommands."""
    p = sub.add_parser(
        "export",
        help="static model + infer_cfg.yml for deployment (Paddle Inference / ONNX)",
        description="Export trained weights to a static model (softmax included) with a "
        "dynamic batch axis, plus infer_cfg.yml. Needs only the config and the weights.",
    )
    add_config_args(
        p, opt_help="config override; -o weights=checkpoints/<run>/model_final.pdparams"
    )
    p.add_argument(
        "--output_dir", default="", help="export folder (default checkpoints/<name>/export)"
    )
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (paddle2onnx)")
    p.add_argument("--opset", type=int, default=11, help="ONNX opset (11)")
    p.add_argument(
        "--format",
        choices=("auto", "json", "pdmodel"),
        default="auto",
        help="static program: auto = this Paddle's default (3.x: PIR model.json, 2.6: "
        "model.pdmodel); pdmodel = readable by PaddlePaddle 2.6 Inference too",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "infer",
        help="top-down keypoints on an image, a folder or a COCO json (draw, json, txt)",
        description="Top-down inference. Person boxes: --det_file, --use_gt (COCO json "
        "input) or the whole image. Model: --model_dir (exported) or -c CONFIG -o weights=.",
    )
    add_arguments(p)
    p.set_defaults(func=cmd_infer)


def cmd_export(args: argparse.Namespace) -> int:
    from simdr_lib.config import load_config
    from simdr_lib.deploy.export import export_model
    from simdr_lib.engine.checkpoint import EXPORT_DIR

    cfg = load_config(args.config, args.opt)
    default_out = Path(cfg.train.save_dir) / cfg.name / EXPORT_DIR
    out = Path(args.output_dir) if args.output_dir else default_out
    folder = export_model(
        cfg, cfg.weights, out, onnx=args.onnx, opset_version=args.opset, program_format=args.format
    )
    files = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file()))
    print(f"exported {cfg.name} to {folder} ({files})")
    return 0


def add_arguments(p: Any) -> None:
    """``simdr infer`` options (the seed's tools/infer.py and keypoint_infer.py names)."""
    from simdr_lib.cli_args import add_opt_arg

    src = p.add_argument_group("model (one of)")
    src.add_argument("-c", "--config", default="", help="YAML config (with -o weights=...)")
    add_opt_arg(src, "config override, e.g. -o weights=checkpoints/demo_tiny/model_final.pdparams")
    src.add_argument("--model_dir", default="", help="exported folder (simdr export)")
    p.add_argument(
        "--input",
        "--infer_img",
        "--infer_dir",
        "--image_file",
        dest="input",
        required=True,
        help="an image, a folder of images, or a COCO keypoints json",
    )
    p.add_argument("--image_dir", default="", help="images of a COCO json (default: its folder)")
    p.add_argument("--det_file", default="", help="person detections json (COCO results)")
    p.add_argument("--det_thresh", type=float, default=0.5, help="detection score >= (0.5)")
    p.add_argument("--use_gt", action="store_true", help="GT person boxes of the COCO json")
    p.add_argument("--output_dir", default="reports/infer", help="where results go (reports/infer)")
    p.add_argument(
        "--draw_threshold",
        type=float,
        default=None,
        help="draw joints scoring above this (default: the config's in_vis_thresh)",
    )
    p.add_argument("--save_txt", action="store_true", help="one <image>.txt per image")
    p.add_argument("--no_draw", action="store_true", help="do not write drawn images")
    p.add_argument("--no_flip", "--no-flip", action="store_true", help="disable the flip test")
    p.add_argument("--device", default="", help="cpu | gpu | gpu:N (default: config / cpu)")
    p.add_argument(
        "--backend",
        choices=("auto", "paddle", "onnx"),
        default="auto",
        help="runtime of --model_dir: Paddle Inference (paddle), onnxruntime (onnx) or auto "
        "(default: onnxruntime on CPU when installed and the folder has model.onnx, else paddle)",
    )
    p.add_argument("--batch_size", type=int, default=32, help="most crops per run (32)")
    p.add_argument(
        "--cpu_threads",
        type=int,
        default=0,
        help="CPU threads (0 = default: all cores)",
    )
    p.add_argument("--no_mkldnn", action="store_true", help="disable oneDNN on CPU")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def make_predictor(args: argparse.Namespace) -> Predictor:
    """Exported (``--model_dir``) or dynamic (``-c`` + weights) predictor from CLI args."""
    from simdr_lib.errors import ConfigError

    if bool(args.model_dir) == bool(args.config):
        raise ConfigError("simdr infer: give either --model_dir DIR or -c CONFIG -o weights=...")
    if args.model_dir:
        from simdr_lib.deploy.predictor import load_predictor

        return load_predictor(
            args.model_dir,
            device=args.device or "cpu",
            batch_size=args.batch_size,
            cpu_threads=args.cpu_threads or None,
            use_mkldnn=not args.no_mkldnn,
            backend=args.backend,
        )
    from simdr_lib.config import load_config
    from simdr_lib.deploy.predictor import predictor_from_config

    opts = list(args.opt) + ([f"device={args.device}"] if args.device else [])
    cfg = load_config(args.config, opts)
    return predictor_from_config(cfg, batch_size=args.batch_size)


def make_jobs(args: Any, predictor: Any) -> tuple[list[Any], list[str]]:
    """The images of ``--input`` with their person boxes, and the files already unusable."""
    from simdr_lib.errors import ConfigError
    from simdr_lib.infer import jobs_from_coco, jobs_from_paths

    src = Path(args.input)
    if args.use_gt and args.det_file:
        raise ConfigError("simdr infer: --use_gt and --det_file exclude each other")
    if src.is_file() and src.suffix.lower() == ".json":
        image_dir = Path(args.image_dir) if args.image_dir else src.parent
        jobs = jobs_from_coco(
            src,
            image_dir,
            predictor.info.num_joints,
            use_gt=args.use_gt,
            det_file=args.det_file or None,
            det_thresh=args.det_thresh,
        )
        return jobs, []
    if args.use_gt:
        raise ConfigError("simdr infer: --use_gt needs a COCO keypoints json as --input")
    return jobs_from_paths(src, args.det_file or None, args.det_thresh)


def cmd_infer(args: Any) -> int:
    from simdr_lib.errors import DataError
    from simdr_lib.infer import run_inference

    if not Path(args.input).exists():  # before loading any model or weights
        raise DataError(f"{args.input}: input not found (an image, a folder or a COCO json)")
    predictor = make_predictor(args)
    jobs, failed = make_jobs(args, predictor)
    summary = run_inference(
        predictor,
        jobs,
        args.output_dir,
        draw_threshold=args.draw_threshold,
        flip_test=False if args.no_flip else None,
        save_txt=args.save_txt,
        draw=not args.no_draw,
        progress=not args.quiet,
        failed=failed,
    )
    skipped = f", {len(summary.failed)} skipped" if summary.failed else ""
    print(
        f"done: {summary.processed} images, {summary.people} people{skipped} "
        f"({predictor.backend}); results {summary.results_file}"
    )
    return 0
