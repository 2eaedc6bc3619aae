"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..hub import Hub
from ..runs import StageResult


def open_hub(args: argparse.Namespace) -> Hub:
    return Hub.open(getattr(args, "home", None))


def add_command(sub: Any, name: str, help_text: str, handler: Any, description: str | None = None) -> Any:
    parser = sub.add_parser(name, help=help_text, description=description or help_text)
    parser.set_defaults(handler=handler)
    return parser


def print_result(result: StageResult) -> None:
    print(result.summary())


def progress_line(result: StageResult) -> None:
    """Overwrite one status line on a terminal; print nothing extra into pipes and logs."""
    if sys.stderr.isatty():
        print(f"\r{result.summary()}", end="", file=sys.stderr, flush=True)
