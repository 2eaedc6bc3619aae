"""Reading export files dropped in a folder, resumably: cursor = per file identity + byte offset.

Shared by the file-drop modes of forms (CSV/JSONL exports) and social (recorded webhook payloads as JSON lines).

What is surprising about files in a drop folder:

- A file is known by a *fingerprint* of its first bytes plus its name, not by its name alone: an export tool that
  rewrites ``leads.csv`` with new content makes a new file, which is read from the start again (landing dedupes
  the rows seen before). A file shorter than its stored offset was truncated or replaced: read from the start too.
- A last line without a newline may still be being written; it is left for the next run unless the file has not
  changed for ``settle_seconds`` (a hand-written export that simply lacks the final newline).
- CSV records may span lines inside quotes; a record ends at a newline with an even number of quote characters
  so far (RFC 4180 doubles quotes inside fields, which keeps the parity right).

Offsets are byte offsets at record boundaries, so a resumed read never starts in the middle of a record or of a
multibyte character.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from crm_core.errors import FatalError
from crm_core.records import Batch, SourceRecord

FINGERPRINT_BYTES = 256


@dataclass(frozen=True)
class RawRecord:
    """One record's bytes (without the trailing newline) and where it ends in its file."""

    path: Path
    line: int  # 1-based number of the record's first line
    data: bytes
    end_offset: int
    end_line: int  # lines consumed up to end_offset: what the cursor stores with it


def fingerprint(path: Path, length: int = FINGERPRINT_BYTES) -> str:
    """Name + the first ``length`` bytes. A short file is fingerprinted on what it had, and that length is kept in
    the cursor, so appending to it does not make it look like a new file."""
    with path.open("rb") as f:
        head = f.read(length)
    return hashlib.sha256(path.name.encode("utf-8", "surrogateescape") + b"\0" + head).hexdigest()[:16]


def drop_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Files matching any pattern, oldest first (by modification time, then name) so exports land in order."""
    found = {p for pattern in patterns for p in folder.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def start_position(entry: Any, path: Path, size: int) -> tuple[int, int]:
    """(offset, lines already read) to resume from, given the stored cursor entry for this file."""
    if not isinstance(entry, dict):
        return 0, 0
    id_bytes = entry.get("id_bytes", FINGERPRINT_BYTES)
    if not isinstance(id_bytes, int) or id_bytes > size or entry.get("id") != fingerprint(path, id_bytes):
        return 0, 0  # another file under this name (or it shrank below what identified it)
    offset, line = entry.get("offset"), entry.get("line", 0)
    if not isinstance(offset, int) or not isinstance(line, int) or offset < 0 or offset > size:
        return 0, 0  # truncated or a nonsense cursor: read again from the start, landing dedupes
    return offset, line


def read_records(
    path: Path, offset: int, line: int, *, csv_quotes: bool = False, settle_seconds: float = 2.0
) -> Iterator[RawRecord]:
    """Complete records from ``offset`` on, streamed line by line. Blank lines are skipped but counted.

    The file is never read whole: a million-row export costs one record's memory (a test guards this).
    """
    settled = time.time() - path.stat().st_mtime >= settle_seconds
    with path.open("rb") as f:
        f.seek(offset)
        end = offset
        start_line = line + 1
        pending: list[bytes] = []  # the lines of a record that spans lines inside quotes
        quotes = 0
        for chunk in f:
            terminated = chunk.endswith(b"\n")
            if not terminated and not settled:
                return  # the last line may still be being written
            line += 1
            end += len(chunk)
            body = chunk[:-1] if terminated else chunk
            pending.append(body)
            if csv_quotes:
                quotes += body.count(b'"')
                if quotes % 2:
                    if not terminated:
                        return  # an unclosed quote at the end of the file: incomplete, wait
                    continue  # inside a quoted field: the record goes on
            record = b"\n".join(pending).rstrip(b"\r")
            if record.strip():
                yield RawRecord(path=path, line=start_line, data=record, end_offset=end, end_line=line)
            pending = []
            quotes = 0
            start_line = line + 1


def decode_text(data: bytes, encoding: str | None) -> str:
    """UTF-8 (with or without BOM) unless told otherwise; GB18030 as the fallback Chinese exports need."""
    if encoding:
        return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


class RecordParser(Protocol):
    """Turns one raw record of one file into source records (none for a header line)."""

    csv_quotes: bool

    def __call__(self, raw: RawRecord) -> list[SourceRecord]: ...


def unreadable(raw: RawRecord, reason: str, **extra: Any) -> SourceRecord:
    """A record that could not be parsed still lands, keyed by file and line, so mapping sends it to the dead
    letter with the reason and the person who fixes the export sees exactly which line."""
    text = raw.data[:1000].decode("utf-8", errors="replace")
    payload = {**extra, "error": reason, "file": raw.path.name, "line": raw.line, "raw": text}
    return SourceRecord(key=f"{raw.path.name}:{raw.line}:unreadable", payload=payload)


@dataclass
class FileDropSource:
    """An ordered source over a folder of export files; the cursor advances per batch, per file."""

    name: str
    folder: Path
    patterns: tuple[str, ...]
    parser_for: Callable[[Path], RecordParser]
    batch_size: int = 500
    settle_seconds: float = 2.0
    ordered: bool = True

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        files = (cursor or {}).get("files")
        state: dict[str, Any] = dict(files) if isinstance(files, dict) else {}
        if not self.folder.is_dir():
            raise FatalError(f"source {self.name}: folder {self.folder} does not exist")
        for path in drop_files(self.folder, self.patterns):
            size = path.stat().st_size
            if size == 0:
                continue
            offset, line = start_position(state.get(path.name), path, size)
            id_bytes = min(size, FINGERPRINT_BYTES)
            ident = fingerprint(path, id_bytes)
            if offset == size:
                continue
            parse = self.parser_for(path)
            records: list[SourceRecord] = []
            moved = False
            for raw in read_records(path, offset, line, csv_quotes=parse.csv_quotes, settle_seconds=self.settle_seconds):
                records += parse(raw)
                state[path.name] = {"id": ident, "id_bytes": id_bytes, "offset": raw.end_offset, "line": raw.end_line}
                moved = True
                if len(records) >= self.batch_size:
                    yield Batch(records=records, cursor={"files": dict(state)})
                    records, moved = [], False
            if moved:
                yield Batch(records=records, cursor={"files": dict(state)})
