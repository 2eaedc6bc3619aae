"""Landing: raw records in, exactly once, with the source cursor committed in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .db import transaction
from .erasure import anyone_suppressed, suppressed_payloads
from .faults import fault_point
from .models import LandingRecord, SourceCursor
from .records import Batch, SerializedJSON
from .store import insert_ignoring_duplicates


@dataclass
class LandResult:
    batches: int = 0
    received: int = 0
    landed: int = 0

    @property
    def duplicates(self) -> int:
        return self.received - self.landed


def read_cursor(session: Session, source: str) -> dict[str, Any] | None:
    row = session.get(SourceCursor, source)
    return dict(row.cursor) if row is not None else None


def write_cursor(session: Session, source: str, cursor: Mapping[str, Any], version: int = 1) -> None:
    row = session.get(SourceCursor, source)
    if row is None:
        session.add(SourceCursor(source=source, cursor=dict(cursor), version=version))
    else:
        row.cursor = dict(cursor)
        row.version = version
    session.flush()


def land_batch(session: Session, source: str, batch: Batch, run_id: str | None = None) -> int:
    """Land one batch and move the cursor, inside the caller's transaction. Returns rows newly landed.

    Records of an erased person (a suppressed e-mail address or phone number in the payload) land as an empty
    ``suppressed`` row: the content hash still deduplicates a later re-read, and nothing personal is stored.
    """
    rows = []
    seen: set[tuple[str, str]] = set()
    for record in batch.records:
        digest = record.content_hash()
        if (record.key, digest) in seen:  # the same record twice in one batch
            continue
        seen.add((record.key, digest))
        rows.append(
            {
                "source": source,
                "source_key": record.key,
                "content_hash": digest,
                # the canonical text the hash was taken of: datetimes and the like stored as text, identically,
                # and the payload encoded once per record instead of three times
                "payload": SerializedJSON(record.canonical),
                "status": "new",
                "run_id": run_id,
            }
        )
    if anyone_suppressed(session):
        for i in suppressed_payloads(session, [json.loads(row["payload"]) for row in rows]):
            rows[i]["payload"], rows[i]["status"] = {}, "suppressed"
    landed = insert_ignoring_duplicates(
        session, LandingRecord, rows, ["source", "source_key", "content_hash"]
    )
    fault_point("landing.after_rows")
    write_cursor(session, source, batch.cursor)
    fault_point("landing.before_commit")
    return landed


def land_stream(
    factory: sessionmaker[Session],
    source: str,
    batches_for: Callable[[dict[str, Any] | None], Iterable[Batch]],
    run_id: str | None = None,
    on_batch: Callable[[LandResult], None] | None = None,
) -> LandResult:
    """Read from the stored cursor and land batch by batch, one transaction per batch.

    A crash between batches leaves the store at the last committed batch; the re-run starts from its cursor, and a
    crash inside a batch rolls back both rows and cursor, so nothing is lost or duplicated.
    """
    with factory() as session:
        cursor = read_cursor(session, source)
    result = LandResult()
    for batch in batches_for(cursor):
        fault_point("landing.before_batch")
        with transaction(factory) as session:
            result.landed += land_batch(session, source, batch, run_id)
        fault_point("landing.after_commit")
        result.batches += 1
        result.received += len(batch.records)
        if on_batch is not None:
            on_batch(result)
    return result


def pending_landing(session: Session, source: str | None = None, limit: int = 1000) -> list[LandingRecord]:
    stmt = select(LandingRecord).where(LandingRecord.status == "new").order_by(LandingRecord.id).limit(limit)
    if source is not None:
        stmt = stmt.where(LandingRecord.source == source)
    return list(session.scalars(stmt))
