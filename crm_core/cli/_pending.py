"""Verbs whose area has not landed yet: they say so in one line instead of failing obscurely."""

from __future__ import annotations

import argparse

from ..errors import HubError
from ._common import add_command


def register_pending(sub: argparse._SubParsersAction, name: str, help_text: str, issue: str) -> None:  # type: ignore[type-arg]
    def handler(_args: argparse.Namespace) -> int:
        raise HubError(f"`crmhub {name}` is not available in this version yet ({issue})")

    p = add_command(sub, name, help_text, handler)
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
