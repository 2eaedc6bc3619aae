"""Asterisk CDR files as a source (kind ``cdr_files``): ``Master.csv`` and its rotated copies, tailed by offset.

Cursor: ``{"files": {"<identity>": {"offset": 18230, "name": "Master.csv.1"}}}``. A file's identity is the hash of
its first line, not its name or inode: rotation renames ``Master.csv`` to ``Master.csv.1`` (same identity, read on
from the stored offset) and starts a new ``Master.csv`` (new first line, read from 0); copy-and-truncate rotation
keeps the identity with the copy, and the truncated original gets a new one as soon as its first row is complete.

What the files do that surprises, and what happens:

* the PBX is writing the last line right now: only complete rows (ending in a newline, with balanced quotes) are
  read; the partial tail is held back until it is complete;
* a file shorter than its stored offset with the same first line was rewritten in place: logged and read again
  from the start (``rewinds`` counts it in the cursor); rows already landed are deduplicated by their content
  hash, so this neither loses nor duplicates;
* a file without one complete line yet has no identity and waits;
* files are read oldest first (``Master.csv.2``, ``.1``, then the live file; other names by modification time).

The source is ordered: each batch's cursor holds the offset just past its last row.
Options: ``path`` (a directory or one file), ``pattern`` (``Master.csv*``), ``timezone`` (the PBX's, default
UTC), ``batch_size`` (500), ``columns`` (explicit column names), ``inbound_contexts``, ``extension_max_digits`` (5).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_core.errors import ConfigError
from crm_core.records import Batch, SourceRecord

from ._cdr_parse import DEFAULT_INBOUND_CONTEXTS, decode_line, parse_row

log = logging.getLogger(__name__)
FIRST_LINE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class CdrOptions:
    path: str
    pattern: str = "Master.csv*"
    timezone: str = "UTC"
    batch_size: int = 500
    columns: tuple[str, ...] | None = None
    inbound_contexts: tuple[str, ...] = DEFAULT_INBOUND_CONTEXTS
    extension_max_digits: int = 5
    read_limit: int = 8 * 1024 * 1024  # bytes read per step, so a huge backlog streams instead of loading at once
    extra: Mapping[str, Any] = field(default_factory=dict)


def file_identity(path: Path) -> str | None:
    """Hash of the first complete line, or None while the file has none."""
    with path.open("rb") as f:
        first = f.readline(FIRST_LINE_LIMIT)
    if not first.endswith(b"\n"):
        return None
    return hashlib.sha256(first).hexdigest()[:20]


def complete_rows(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(end offset within ``data``, row bytes without line ending) for each complete row.

    A quoted field may hold a newline (``lastdata``), so a row ends at a newline only when its quotes balance;
    Asterisk doubles quotes inside fields, which keeps the count even for every complete row.
    """
    start = 0
    quotes = 0
    search = 0
    while True:
        newline = data.find(b"\n", search)
        if newline < 0:
            return
        quotes += data.count(b'"', search, newline)
        search = newline + 1
        if quotes % 2 == 0:
            row = data[start:newline].rstrip(b"\r")
            if row.strip():
                yield newline + 1, row
            start, quotes = newline + 1, 0


class CdrFileSource:
    ordered = True

    def __init__(self, name: str, options: CdrOptions) -> None:
        self.name = name
        self.options = options
        try:
            self.zone = ZoneInfo(options.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError("hub.yaml", [f"sources.{name}.options.timezone: unknown zone {options.timezone!r}"]) from exc
        self.root = Path(options.path)

    def files(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        if not self.root.is_dir():
            raise ConfigError("hub.yaml", [f"sources.{self.name}.options.path: {self.root} does not exist"])
        found = [p for p in self.root.glob(self.options.pattern) if p.is_file()]
        return sorted(found, key=_age_order)

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        stored: dict[str, dict[str, Any]] = {k: dict(v) for k, v in ((cursor or {}).get("files") or {}).items()}
        present: dict[str, tuple[Path, int]] = {}
        for path in self.files():
            identity = file_identity(path)
            if identity is not None and identity not in present:
                present[identity] = (path, path.stat().st_size)
        # identities whose file is gone (rotated away after being read) leave the cursor
        state = {k: v for k, v in stored.items() if k in present}
        if state.keys() != stored.keys():
            yield Batch(records=[], cursor=_snapshot(state))
        for identity, (path, size) in present.items():
            entry = state.setdefault(identity, {"offset": 0, "name": path.name})
            entry["name"] = path.name
            if size < entry["offset"]:
                log.warning(
                    "source %s: %s is shorter than the stored offset (%d < %d) with the same first line; "
                    "reading it again from the start (landed rows deduplicate)", self.name, path.name, size,
                    entry["offset"],
                )
                entry["offset"] = 0
                entry["rewinds"] = int(entry.get("rewinds", 0)) + 1
            yield from self._read_file(path, identity, state)

    def _read_file(self, path: Path, identity: str, state: dict[str, dict[str, Any]]) -> Iterator[Batch]:
        entry = state[identity]
        offset = int(entry["offset"])  # start of the chunk being read; after it, the end of the last row parsed
        records: list[SourceRecord] = []
        with path.open("rb") as f:
            while True:
                f.seek(offset)
                data = f.read(self.options.read_limit)
                consumed = 0
                for end, row in complete_rows(data):
                    consumed = end
                    key, payload = parse_row(
                        decode_line(row), self.zone, self.options.columns, self.options.inbound_contexts,
                        self.options.extension_max_digits,
                    )
                    records.append(SourceRecord(key, payload, _when(payload.get("start"))))
                    if len(records) >= self.options.batch_size:
                        entry["offset"] = offset + end
                        yield Batch(records=records, cursor=_snapshot(state))
                        records = []
                offset += consumed
                if consumed == 0 or len(data) < self.options.read_limit:
                    break  # end of file, or only a partial row left: held back until the PBX finishes it
        if records:
            entry["offset"] = offset
            yield Batch(records=records, cursor=_snapshot(state))


def _age_order(path: Path) -> tuple[int, int, str]:
    """Oldest first: ``Master.csv.3`` before ``.2``, ``.1`` and the live file; other names by modification time."""
    suffix = path.name.rsplit(".", 1)[-1]
    rotation = -int(suffix) if suffix.isdigit() else 0
    return rotation, path.stat().st_mtime_ns, path.name


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _snapshot(state: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {"files": {k: dict(v) for k, v in state.items()}}


def build(config: Any, hub: Any) -> CdrFileSource:
    options = dict(config.options)
    if "path" not in options:
        raise ConfigError("hub.yaml", [f"sources.{config.name}.options.path: required (the CDR directory or file)"])
    path = Path(os.path.expanduser(str(options["path"])))
    if not path.is_absolute() and hub is not None:
        path = Path(getattr(hub.config, "base_dir", None) or hub.home) / path
    options["path"] = str(path)
    for key in ("columns", "inbound_contexts"):
        if key in options:
            options[key] = tuple(options[key])
    known = set(CdrOptions.__dataclass_fields__) - {"extra"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError("hub.yaml", [f"sources.{config.name}.options: unknown option(s) {', '.join(unknown)}"])
    return CdrFileSource(config.name, CdrOptions(**options))
