"""``crmhub import FILE``: import a CSV/Excel file of existing contacts."""

from __future__ import annotations

import argparse

from ._pending import register_pending


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    register_pending(sub, "import", "import a CSV or Excel file: propose a mapping, clean, report", "mapping")
