"""``simdr export`` and ``simdr infer`` (added to the CLI by :func:`add_cli`).

simdr export -c CONFIG -o weights=PATH [--output_dir DIR] [--onnx]
simdr infer  (--model_dir DIR | -c CONFIG -o weights=PATH) --input IMAGE|FOLDER|COCO.json
             [--det_file DETS.json | --use_gt] [--output_dir DIR] [--save_txt] ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simdr_lib.cli_args import add_config_args


def add_cli(sub: argparse._SubParsersAction) -> None:
    """Register the ``export`` and ``infer`` subcommands."""
    from simdr_lib.infer import add_arguments, cmd_infer

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
    from simdr_lib.engine.checkpoint import EXPORT_DIR
    from simdr_lib.export import export_model

    cfg = load_config(args.config, args.opt)
    default_out = Path(cfg.train.save_dir) / cfg.name / EXPORT_DIR
    out = Path(args.output_dir) if args.output_dir else default_out
    folder = export_model(
        cfg, cfg.weights, out, onnx=args.onnx, opset_version=args.opset, program_format=args.format
    )
    files = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file()))
    print(f"exported {cfg.name} to {folder} ({files})")
    return 0
