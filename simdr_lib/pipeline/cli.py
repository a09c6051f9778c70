"""``simdr pipeline``: the subcommand's arguments and what it does with them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from simdr_lib.cli_args import add_opt_arg
from simdr_lib.config import parse_overrides
from simdr_lib.errors import ConfigError
from simdr_lib.notebook_run import DEFAULT_CONFIG, DEFAULT_RUN, _rel
from simdr_lib.paths import project_root
from simdr_lib.pipeline.driver import run_pipeline
from simdr_lib.pipeline.params import list_notebooks, resolve_parameters
from simdr_lib.pipeline.run_folder import run_config_file


def add_cli(sub: argparse._SubParsersAction) -> None:
    """``simdr pipeline``."""
    p = sub.add_parser(
        "pipeline",
        help="run notebooks 01..07 with papermill and write reports/<run>/report.html",
        description=(
            "Execute notebooks/NN_*.ipynb in order on this Python's kernel. Executed notebooks "
            "go to reports/<run>/, progress to reports/<run>/pipeline_state.json; running "
            "again with the same run name resumes at the first notebook not completed."
        ),
        epilog=(
            "parameters (-p NAME VALUE): config, dataset (coco|mpii: with the default config, "
            "mpii runs configs/demo_tiny_mpii.yml), data_root, run_name, epochs (0 = config), "
            "device (auto|cpu|gpu), overrides ('{train.batch_size: 16}'), reports_dir, and "
            "per-notebook ones (num_samples, resume, num_crops, worst_k); --list shows them. "
            "Examples: simdr pipeline -p epochs 3 --run quick; "
            "simdr pipeline -p dataset mpii --run mpii"
        ),
    )
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="notebook parameter (VALUE parsed as YAML for non-text parameters)",
    )
    add_opt_arg(p, "config override passed to every notebook, e.g. -o train.batch_size=16")
    p.add_argument("--run", default=None, help=f"run name (default {DEFAULT_RUN!r})")
    p.add_argument("--config", default=None, help=f"config file (default {DEFAULT_CONFIG})")
    p.add_argument("--reports-dir", default=None, help="parent of run folders (reports)")
    p.add_argument(
        "--force",
        action="store_true",
        help="delete reports/<run>/ and checkpoints/<run>/ first and run every notebook",
    )
    p.add_argument(
        "--notebooks",
        nargs="+",
        metavar="NAME",
        help="run these notebooks only (default: 01..07; the low-resolution study "
        "08_lowres_study runs only when named: --run lowres --notebooks 08_lowres_study)",
    )
    p.add_argument("--list", action="store_true", help="list notebooks and parameters, then exit")
    p.add_argument("--quiet", action="store_true", help="only progress lines, no notebook output")
    p.set_defaults(func=cmd_pipeline)


def cmd_pipeline(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    for name, value in args.parameter:
        params[name] = value
    for flag, name in ((args.run, "run_name"), (args.config, "config")):
        if flag is not None:
            if name in params and params[name] != flag:
                raise ConfigError(f"--{name.split('_')[0]} {flag!r} conflicts with -p {name}")
            params[name] = flag
    if args.reports_dir is not None:
        params["reports_dir"] = args.reports_dir
    if args.opt:
        extra = parse_overrides(params.get("overrides") or {})
        extra.update(parse_overrides(list(args.opt)))
        params["overrides"] = extra
    if args.list:
        root = project_root()
        books = list_notebooks(root, args.notebooks)
        merged, declared = resolve_parameters(params, books)
        for book in books:
            print(f"{book.stem}: {', '.join(declared[book.stem])}")
        print("values: " + json.dumps(merged))
        print(f"config file: {_rel(run_config_file(merged, root), root)}")
        return 0
    try:
        run_pipeline(params, notebooks=args.notebooks, force=args.force, show_output=not args.quiet)
    except KeyboardInterrupt:
        print(
            "interrupted: completed notebooks are kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    return 0
