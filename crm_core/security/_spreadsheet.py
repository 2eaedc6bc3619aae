"""Spreadsheet formula injection: a cell the hub writes must never be run as a formula by Excel or LibreOffice.

Values come from outside (a record id, a name typed into a web form), and a spreadsheet program executes a cell that
starts with ``=``, ``+``, ``-``, ``@`` (or a tab/carriage return before one of them) as a formula: ``=HYPERLINK(...)``
leaks data, ``=cmd|' /C calc'!A0`` ran commands in older Excel. OWASP's advice, followed here: prefix such a cell
with a single quote, which every spreadsheet program shows as text and drops from the displayed value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # incl. full-width forms


def spreadsheet_safe(value: Any) -> Any:
    """The value as a cell that cannot start a formula; numbers and ``None`` pass through unchanged."""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


def spreadsheet_row(values: Iterable[Any]) -> list[Any]:
    return [spreadsheet_safe(v) for v in values]
