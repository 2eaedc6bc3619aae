"""What an import did, row by row where it matters: every rejected row and dropped value, with its reason.

The report CSV is opened in a spreadsheet by the person who fixes the file, so cell text that a spreadsheet would
run as a formula (``=HYPERLINK(...)`` in a "name" column of a hostile export) is escaped with a leading ``'``
(OWASP "CSV injection"): cells starting with ``= + - @``, tab or carriage return.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
KEPT_IN_MEMORY = 1000  # rejections kept on the report object; the CSV gets all of them
REPORT_COLUMNS = ("row", "column", "value", "reason", "kind")


@dataclass(frozen=True)
class Rejection:
    """One problem with one row: the row number a spreadsheet shows, the file's column, the value and why.

    ``kind`` is ``rejected`` (the row was not imported as a contact), ``dropped`` (the value was left out, the
    row imported) or ``skipped`` (the row could not be read at all).
    """

    row: int
    column: str
    value: str
    reason: str
    kind: str = "rejected"

    def cells(self) -> list[str]:
        return [str(self.row), self.column, self.value, self.reason, self.kind]


@dataclass
class ImportReport:
    """The outcome of one ``import_file``; ``summary()`` is the CLI's last line."""

    path: Path
    source: str
    table: str = ""  # how the file was read ("CSV in gb18030, semicolon-separated")
    spec_path: Path | None = None
    spec_origin: str = ""  # "proposed", "given", "saved"
    run_id: str | None = None
    rows_read: int = 0
    blank_rows: int = 0
    landed: int = 0  # rows new to the store
    already_landed: int = 0  # identical rows from an earlier import, or repeated in this file
    mapped: int = 0  # landed rows that became contact records now
    rejected_rows: int = 0
    dropped_values: int = 0
    map_detail: dict[str, Any] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)  # the first KEPT_IN_MEMORY
    report_path: Path | None = None
    seconds: float = 0.0

    def note(self, rejection: Rejection) -> None:
        if rejection.kind == "dropped":
            self.dropped_values += 1
        if len(self.rejections) < KEPT_IN_MEMORY:
            self.rejections.append(rejection)

    def counts(self) -> dict[str, int]:
        counts = {
            "rows read": self.rows_read,
            "blank rows": self.blank_rows,
            "landed": self.landed,
            "already landed": self.already_landed,
            "mapped": self.mapped,
            "rejected rows": self.rejected_rows,
            "dropped values": self.dropped_values,
        }
        # rows sharing a contact key (an id, or an email) update one contact record: said, not silent
        for key in ("contacts_created", "contacts_updated", "contacts_unchanged"):
            counts[key.replace("_", " ")] = int(self.map_detail.get(key, 0))
        return counts

    def summary(self) -> str:
        text = (f"import {self.source}: {self.rows_read} rows read, {self.landed} landed "
                f"({self.already_landed} already landed), {self.mapped} mapped, {self.rejected_rows} rejected, "
                f"{self.dropped_values} values dropped")
        if self.blank_rows:
            text += f", {self.blank_rows} blank rows"
        updated = int(self.map_detail.get("contacts_updated", 0))
        if updated:
            text += f", {updated} contacts updated by a later row or import"
        text += f" in {self.seconds:.1f}s"
        if self.report_path is not None:
            text += f"; report: {self.report_path}"
        return text


def escape_cell(text: Any) -> str:
    """Spreadsheet-safe text: a leading ``'`` keeps a formula-looking cell from being evaluated."""
    value = "" if text is None else str(text)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class ReportWriter:
    """Streams rejections to a CSV file as they happen (a file with a million bad rows is not held in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self._writer: Any = None
        self.written = 0

    def __enter__(self) -> ReportWriter:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # UTF-8 with BOM: Excel on Windows then shows Chinese text correctly
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(REPORT_COLUMNS)
        return self

    def write(self, rejection: Rejection) -> None:
        if self._writer is not None:
            self._writer.writerow([escape_cell(c) for c in rejection.cells()])
            self.written += 1

    def finish(self, report: ImportReport) -> None:
        """The counts go last, one row each (kind ``count``), so the file alone tells the whole story."""
        if self._writer is not None:
            for name, number in report.counts().items():
                self._writer.writerow(["", "", str(number), name, "count"])

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()


def read_report(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a report CSV (for tests and tools), escaping left as written."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)
