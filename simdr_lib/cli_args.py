"""Argument helpers shared by every ``simdr`` subcommand (one spelling of -c / -o)."""

from __future__ import annotations

import argparse

OPT_HELP = "override a config value, e.g. -o train.epochs=5 -o weights=out/best.pdparams"


def add_opt_arg(p: argparse.ArgumentParser, help: str = OPT_HELP) -> None:
    """``-o/--opt KEY=VALUE`` (repeatable), the PaddleDetection override habit."""
    p.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_config_args(p: argparse.ArgumentParser, required: bool = True, opt_help: str = OPT_HELP):
    """``-c/--config`` plus ``-o/--opt``."""
    p.add_argument("-c", "--config", required=required, help="YAML config (see configs/)")
    add_opt_arg(p, opt_help)
