"""Form submissions exported as CSV or JSON-lines files into a folder (``form_files``).

Options in ``hub.yaml``::

    options:
      path: /data/exports/forms      # the drop folder (required)
      patterns: ["*.csv", "*.jsonl"]  # which files (default: *.csv, *.jsonl, *.ndjson)
      form: open-day                  # form name when the rows carry none (default: the file's stem)
      id_field: 编号                   # the submission id column (default: submission_id, id, …)
      encoding: gb18030               # default: UTF-8 (BOM or not), falling back to GB18030

Each CSV row or JSON line becomes the same payload a webhook post would (``connectors/forms/_payload.py``), keyed by
form + submission id, so the same submission arriving by export and by webhook lands once per content. The cursor
is per file (fingerprint + byte offset, ``connectors/_filedrop.py``): the source is ordered and resumes mid-file.
A line that cannot be read still lands as an "unreadable" record (see ``_filedrop.unreadable``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors._filedrop import FileDropSource, RawRecord, decode_text, read_records, unreadable
from connectors.forms._payload import BadSubmission, loads_json, submission_record
from crm_core.config import SourceConfig
from crm_core.errors import ConfigError
from crm_core.records import SourceRecord

DEFAULT_PATTERNS = ("*.csv", "*.jsonl", "*.ndjson")


@dataclass
class JsonLinesParser:
    form: str
    id_field: str | None = None
    csv_quotes: bool = False

    def __call__(self, raw: RawRecord) -> list[SourceRecord]:
        try:
            data = loads_json(raw.data)
        except BadSubmission as exc:
            return [unreadable(raw, str(exc), form=self.form)]
        if not isinstance(data, dict):
            return [unreadable(raw, "line is not a JSON object", form=self.form)]
        return [submission_record(data, form=self.form, id_field=self.id_field)]


@dataclass
class CsvParser:
    """Rows keyed by the header line, which is read again from the file start when resuming mid-file."""

    path: Path
    form: str
    id_field: str | None = None
    encoding: str | None = None
    csv_quotes: bool = True
    header: list[str] = field(default_factory=list)
    header_end: int = 0

    def __post_init__(self) -> None:
        first = next(read_records(self.path, 0, 0, csv_quotes=True, settle_seconds=0), None)
        if first is not None:
            self.header = [h.strip() for h in self._cells(first.data)]
            self.header_end = first.end_offset

    def _cells(self, data: bytes) -> list[str]:
        return next(csv.reader(io.StringIO(decode_text(data, self.encoding), newline="")), [])

    def __call__(self, raw: RawRecord) -> list[SourceRecord]:
        if raw.end_offset <= self.header_end:
            return []
        try:
            cells = self._cells(raw.data)
        except csv.Error as exc:
            return [unreadable(raw, f"CSV row is malformed ({exc})", form=self.form)]
        row: dict[str, Any] = {name: value for name, value in zip(self.header, cells, strict=False) if name}
        if len(cells) > len(self.header):
            row["_extra"] = cells[len(self.header):]
        for name in self.header[len(cells):]:
            if name:
                row[name] = None
        return [submission_record(row, form=self.form, id_field=self.id_field)]


def build(config: SourceConfig, hub: Any) -> FileDropSource:
    opts = config.options
    if not opts.get("path"):
        raise ConfigError("hub.yaml", [f"sources.{config.name}.options.path: the drop folder is required"])
    folder = Path(str(opts["path"]))
    if not folder.is_absolute() and getattr(getattr(hub, "config", None), "base_dir", None):
        folder = hub.config.base_dir / folder
    form, id_field, encoding = opts.get("form"), opts.get("id_field"), opts.get("encoding")

    def parser_for(path: Path) -> JsonLinesParser | CsvParser:
        name = form or path.stem
        if path.suffix.lower() == ".csv":
            return CsvParser(path, name, id_field, encoding)
        return JsonLinesParser(name, id_field)

    return FileDropSource(
        name=config.name,
        folder=folder,
        patterns=tuple(opts.get("patterns") or DEFAULT_PATTERNS),
        parser_for=parser_for,
        batch_size=int(opts.get("batch_size", 500)),
        settle_seconds=float(opts.get("settle_seconds", 2.0)),
    )


__all__ = ["CsvParser", "JsonLinesParser", "build"]
