"""One import: read a table, settle its spec, land its rows idempotently, map them, report every rejection.

The import is a source like any other, only driven by hand: rows land as source ``import_<file stem>`` with a key
that survives a re-run (the identifier column's value, else a hash of the row's content), so importing the same
file again lands nothing new. Landing and mapping alternate batch by batch (``batch_size`` rows), so memory stays
bounded and a crash keeps every committed batch; the re-run skips what already landed.

Every row is also checked against the spec while it is read (``mapping.apply`` is pure). That is what puts the
row number, the file's column, the value and the reason in the report, and it lists a bad row again when the same
file is imported again, although the store already holds its dead-letter entry from the first time.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..db import transaction
from ..errors import ConfigError
from ..landing import land_batch
from ..models import LandingRecord
from ..records import Batch, SourceRecord, content_hash
from ..runs import StageResult, lease, recorded_run
from ..staging import import_spec_path, map_pending
from ._read import Table, TableRow, open_table
from ._report import ImportReport, Rejection, ReportWriter

SOURCE_NAME = re.compile(r"[^\W\d]\w{0,63}")
BATCH_SIZE = 1000
SAMPLE_ROWS = 500
MAX_KEY_LENGTH = 500  # landing_record.source_key
_IN_CHUNK = 400

Progress = Callable[[ImportReport], None]


def default_source(path: str | Path) -> str:
    """``import_<file stem>``, reduced to letters, digits and ``_`` (any script) so it is a safe file name."""
    stem = re.sub(r"\W+", "_", Path(path).stem).strip("_").lower() or "file"
    return f"import_{stem}"[:64]


def check_source(hub: Any, source: str) -> str:
    if not SOURCE_NAME.fullmatch(source):
        raise ConfigError("--source", [f"{source!r} is not a usable source name (letters, digits and _, ≤ 64)"])
    if source in {s.name for s in hub.config.sources}:
        raise ConfigError("--source", [f"{source!r} is a source in hub.yaml with its own spec; pick another name"])
    return source


def sample_rows(table: Table, limit: int = SAMPLE_ROWS) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for row in table.rows():
        if row.values and row.problem is None:
            rows.append(row.values)
        if len(rows) >= limit:
            break
    return rows


def propose_for(table: Table, source: str, key_column: str | None = None) -> Any:
    """The proposed spec (``mapping.Proposal``) for a table, from its headers and first rows."""
    from mapping import propose_spec

    return propose_spec(table.headers, sample_rows(table), name=source, key_column=key_column,
                        description=f"Proposed by crmhub import from {table.path.name}; edit and re-run with --spec")


def settle_spec(hub: Any, table: Table, source: str, spec: Any = None,
                key_column: str | None = None) -> tuple[Any, Path, str, str | None]:
    """The compiled spec, where it is kept, where it came from, and the key column (``""``: none, key by content).

    Given (a path or a compiled spec): it is copied to the import's spec path so a later ``crmhub map`` of this
    source finds it. Else the one saved by an earlier import of this source is reused (a person may have edited
    it). Else a proposal is written there.
    """
    from mapping import MappingSpec, detect_key_column, load_spec, spec_from_dict

    target = import_spec_path(Path(hub.home), source)
    target.parent.mkdir(parents=True, exist_ok=True)
    if key_column and key_column not in table.headers:
        raise ConfigError("--key", [f"no column {key_column!r}; the file has: {', '.join(table.headers)}"])
    if spec is None and target.is_file():
        compiled, origin = load_spec(target), "saved"
    elif isinstance(spec, MappingSpec):
        import yaml

        compiled, origin = spec, "given"
        target.write_text(yaml.safe_dump(dict(spec.document), allow_unicode=True, sort_keys=False), encoding="utf-8")
    elif spec is not None:
        path = Path(spec)
        compiled, origin = load_spec(path), "given"  # validated before it replaces the saved one
        if path.resolve() != target.resolve():
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        proposal = propose_for(table, source, key_column)
        target.write_text(proposal.as_yaml(f"import spec for {source}"), encoding="utf-8")
        compiled = spec_from_dict(proposal.document, source=str(target), name=source)
        return compiled, target, "proposed", proposal.key_column
    if key_column is None:
        key_column = detect_key_column(table.headers, sample_rows(table))
    return compiled, target, origin, key_column or None


def import_file(hub: Any, path: str | Path, source: str | None = None, spec: Any = None,
                progress: Progress | None = None, *, encoding: str | None = None, delimiter: str | None = None,
                sheet: str | None = None, key_column: str | None = None, report_path: str | Path | None = None,
                run_id: str | None = None, batch_size: int = BATCH_SIZE) -> ImportReport:
    """Import a CSV or Excel file of contacts into the hub; return what happened, row by row where it matters.

    ``spec``: a spec file or compiled ``MappingSpec``; default: the one an earlier import of this source saved,
    else a proposal (saved under ``$HUB_HOME/imports/<source>.yaml``). ``report_path``: where every rejection goes
    as CSV (default ``$HUB_HOME/imports/<source>.report.csv`` when anything was rejected or dropped).
    """
    started = time.monotonic()
    table = open_table(path, encoding=encoding, delimiter=delimiter, sheet=sheet)
    source = check_source(hub, source or default_source(path))
    compiled, spec_path, origin, key_column = settle_spec(hub, table, source, spec, key_column)
    run_id = run_id or f"import-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    report = ImportReport(path=Path(path), source=source, table=table.describe(), spec_path=spec_path,
                          spec_origin=origin, run_id=run_id)
    columns = _columns_of(compiled)
    chosen = Path(report_path) if report_path is not None else None
    pending_path = chosen or spec_path.with_name(f"{source}.report.csv")
    with (lease(hub.sessions, f"source:{source}"), lease(hub.sessions, f"map:{source}"),
          recorded_run(hub.sessions, "import", source, run_id) as result, ReportWriter(pending_path) as writer):
        mapping_result = StageResult(stage="map", name=source)
        for batch in _batches(table, batch_size):
            records = _check(batch, compiled, key_column, columns, report, writer)
            _land_and_map(hub, source, records, run_id, compiled, report, writer, mapping_result, table.path.name)
            if progress is not None:
                progress(report)
        report.map_detail = dict(mapping_result.detail)
        report.seconds = time.monotonic() - started
        writer.finish(report)
        _fill(result, report)
    if chosen is not None or writer.written:
        report.report_path = pending_path
    else:
        pending_path.unlink(missing_ok=True)  # nothing to report: no stale report from an earlier run either
    return report


def _batches(table: Table, size: int) -> Iterator[list[TableRow]]:
    batch: list[TableRow] = []
    for row in table.rows():
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(rows: list[TableRow], spec: Any, key_column: str | None, columns: Mapping[str, str],
           report: ImportReport, writer: ReportWriter) -> list[tuple[int, SourceRecord]]:
    """Read problems and mapping errors into the report; the rows worth landing, with their row numbers."""
    from mapping import apply

    def reject(rejection: Rejection) -> None:
        report.note(rejection)
        writer.write(rejection)

    records: list[tuple[int, SourceRecord]] = []
    for row in rows:
        report.rows_read += 1
        if row.problem is not None:
            report.rejected_rows += 1
            reject(Rejection(row.number, row.column, row.values.get(row.column, ""), row.problem, "skipped"))
            continue
        if not row.values:
            report.blank_rows += 1
            continue
        if key_column is not None:
            key = row.values.get(key_column, "")
            if not key or len(key) > MAX_KEY_LENGTH:
                report.rejected_rows += 1
                why = "the key column is empty" if not key else f"the key is longer than {MAX_KEY_LENGTH} characters"
                reject(Rejection(row.number, key_column, key[:200], why, "skipped"))
                continue
        else:
            key = content_hash(row.values)[:40]
        outcome = apply(spec, row.values, key=key)
        for error in outcome.errors:
            reject(Rejection(row.number, _column(columns, error.field), _text(error.value), error.reason))
        for error in outcome.dropped:
            reject(Rejection(row.number, _column(columns, error.field), _text(error.value), error.reason, "dropped"))
        if outcome.errors:
            report.rejected_rows += 1
        records.append((row.number, SourceRecord(key=key, payload=row.values)))
    return records


def _land_and_map(hub: Any, source: str, records: list[tuple[int, SourceRecord]], run_id: str, spec: Any,
                  report: ImportReport, writer: ReportWriter, mapping_result: StageResult, file_name: str) -> None:
    """Land one batch (bad rows too: their dead-letter entry can be replayed once the spec is fixed), then map."""
    if records:
        cursor = {"file": file_name, "row": records[-1][0]}
        with transaction(hub.sessions) as session:
            landed = land_batch(session, source, Batch(records=[r for _, r in records], cursor=cursor), run_id)
        report.landed += landed
        report.already_landed += len(records) - landed
    before = mapping_result.records_out
    map_pending(hub, mapping_result, source=source, run_id=run_id, specs={source: spec})
    report.mapped += mapping_result.records_out - before
    for number, reason in _store_problems(hub, source, run_id, records):
        report.rejected_rows += 1
        rejection = Rejection(number, "", "", reason)
        report.note(rejection)
        writer.write(rejection)


def _store_problems(hub: Any, source: str, run_id: str,
                    records: list[tuple[int, SourceRecord]]) -> list[tuple[int, str]]:
    """Rows of this batch the store refused or suppressed: their reasons are not in the spec's errors."""
    numbers = {r.key: n for n, r in records}
    found: list[tuple[int, str]] = []
    keys = sorted(numbers)
    with hub.sessions() as session:
        for start in range(0, len(keys), _IN_CHUNK):
            stmt = select(LandingRecord.source_key, LandingRecord.status, LandingRecord.error).where(
                LandingRecord.source == source, LandingRecord.run_id == run_id,
                LandingRecord.source_key.in_(keys[start:start + _IN_CHUNK]),
                LandingRecord.status.in_(("failed", "suppressed")))
            for key, status, error in session.execute(stmt):
                if status == "suppressed":
                    found.append((numbers[key], "the person asked to be erased: nothing stored"))
                elif (error or "").startswith("could not store"):
                    found.append((numbers[key], error))
    return sorted(found)


def _fill(result: StageResult, report: ImportReport) -> None:
    result.records_in, result.records_out, result.records_failed = report.rows_read, report.mapped, report.rejected_rows
    result.detail.update({"landed": report.landed, "already_landed": report.already_landed,
                          "dropped_values": report.dropped_values, "blank_rows": report.blank_rows})


def _columns_of(spec: Any) -> dict[str, str]:
    """Canonical field → the file's column(s) it reads, to name columns (not fields) in the report."""
    columns: dict[str, str] = {}
    for rule in spec.contacts:
        for field_rule in rule.fields:
            if field_rule.paths:
                columns[field_rule.target] = ", ".join(field_rule.paths)
    return columns


def _column(columns: Mapping[str, str], field: str) -> str:
    parts = [columns.get(part, part) for part in field.split(" or ")]
    return " or ".join(parts)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    return str(value)[:500]
