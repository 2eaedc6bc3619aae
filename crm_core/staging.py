"""Mapping stage: landed raw records → canonical contact records and interactions.

One source at a time, in batches of ``BATCH_SIZE`` landing rows, one transaction per batch (a crash keeps every
committed batch; the rest are still ``new`` and the re-run picks them up). Each row is mapped by its source's spec:

- a clean row upserts its contact records (unique per source and contact key) and its interaction (unique per
  source and external reference) and becomes ``mapped``;
- a row naming an erased person (a contact whose normalised e-mail address or phone number is on the suppression
  list, see ``crm_core.erasure``) becomes ``suppressed`` with an empty payload and stores nothing: re-reading old
  mail, a replay or a backfill never brings them back. Landing already suppresses rows whose raw payload shows a
  suppressed identifier; this catches what only mapping can see (a national phone number read with the source's
  region, an address spelt differently) and rows landed before the erasure;
- a row with validation errors goes to the dead letter (stage ``map``, with every field, value and reason) and
  becomes ``failed``; the rest of the batch carries on. A database error on one row (a value too long for its
  column) is handled the same way, inside a savepoint, so it cannot take the batch down.

A contact record's ``version`` is bumped only when its normalised values changed, which is what resolution watches;
a landing row older than what the record already holds does not overwrite it (an IMAP rescan re-reading last
year's mail must not undo today's address change).

Specs come from ``hub.yaml`` (``sources[].mapping``). Sources created by ``crmhub import`` are not in ``hub.yaml``:
their spec is saved as ``$HUB_HOME/imports/<source>.yaml`` and found there. Rows of a source with no spec stay
``new`` and are counted in ``detail["unmapped_sources"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .db import transaction
from .dead_letter import send_to_dead_letter
from .erasure import anyone_suppressed, is_suppressed_contact, payload_names_suppressed
from .errors import ConfigError
from .faults import fault_point
from .models import ContactRecord, DeadLetter, Interaction, LandingRecord, utcnow

BATCH_SIZE = 500
IMPORTS_DIR = "imports"
_IN_CHUNK = 400  # bound the size of IN (...) lists


def import_spec_path(home: Path, source: str) -> Path:
    """Where ``crmhub import`` keeps the spec of an import source, so the map stage can find it later."""
    return home / IMPORTS_DIR / f"{source}.yaml"


def spec_path_for(hub: Any, source: str) -> Path | None:
    names = {s.name for s in hub.config.sources}
    if source in names:
        return Path(hub.config.mapping_path(hub.config.source(source).mapping))
    candidate = import_spec_path(Path(hub.home), source)
    return candidate if candidate.is_file() else None


def map_pending(hub: Any, result: Any, source: str | None = None, run_id: str | None = None,
                batch_size: int = BATCH_SIZE, specs: Mapping[str, Any] | None = None) -> None:
    """Map every ``new`` landing row (of one source, or all), filling ``result`` as it goes.

    ``specs`` may supply compiled specs by source name (the import passes the one it just proposed); otherwise
    they are loaded once per run from the hub's configuration.
    """
    from mapping import load_spec

    with hub.sessions() as session:
        stmt = select(LandingRecord.source).where(LandingRecord.status == "new").distinct()
        if source is not None:
            stmt = stmt.where(LandingRecord.source == source)
        sources = sorted(session.scalars(stmt))
    unmapped: list[str] = []
    for name in sources:
        spec = (specs or {}).get(name)
        if spec is None:
            path = spec_path_for(hub, name)
            if path is None:
                if source is not None:
                    raise ConfigError("hub.yaml", [f"source {name!r} has landed records but no mapping spec"])
                unmapped.append(name)
                continue
            spec = load_spec(path)
        _map_source(hub, result, name, spec, run_id, batch_size)
    if unmapped:
        result.detail["unmapped_sources"] = ", ".join(unmapped)


def _map_source(hub: Any, result: Any, name: str, spec: Any, run_id: str | None, batch_size: int) -> None:
    last_id = 0
    while True:
        with transaction(hub.sessions) as session:
            rows = list(session.scalars(
                select(LandingRecord)
                .where(LandingRecord.source == name, LandingRecord.status == "new", LandingRecord.id > last_id)
                .order_by(LandingRecord.id)
                .limit(batch_size)
            ))
            if not rows:
                return
            last_id = rows[-1].id
            map_batch(session, name, spec, rows, result, run_id)
            fault_point("mapping.before_commit")
        fault_point("mapping.after_commit")


def map_batch(session: Session, name: str, spec: Any, rows: list[LandingRecord], result: Any,
              run_id: str | None = None) -> None:
    """Map one batch of landing rows of one source inside the caller's transaction."""
    from mapping import apply

    mapped = [(row, apply(spec, row.payload, key=row.source_key)) for row in rows]
    contact_keys = [c.key for _, m in mapped for c in m.contacts]
    refs = [i.external_ref for _, m in mapped for i in m.interactions]
    records = _existing_records(session, name, contact_keys)
    interactions = _existing_interactions(session, name, refs)
    counts = result.detail
    anyone_erased = anyone_suppressed(session)
    for row, outcome in mapped:
        result.records_in += 1
        if anyone_erased and _names_an_erased_person(session, row, outcome, spec):
            _suppress(session, row)
            _count(counts, "suppressed")
            continue
        if outcome.errors:
            _fail(session, row, outcome.errors, run_id)
            result.records_failed += 1
            continue
        try:
            with session.begin_nested():
                _store(session, name, row, outcome, records, interactions, counts)
                row.status, row.error = "mapped", None
        except SQLAlchemyError as exc:
            # the savepoint rolled back: rows it added are gone, so reload the caches from the store
            records.clear()
            records.update(_existing_records(session, name, contact_keys))
            interactions.clear()
            interactions.update(_existing_interactions(session, name, refs))
            _fail_store(session, row, exc, run_id)
            result.records_failed += 1
            continue
        result.records_out += 1
    session.flush()


def _names_an_erased_person(session: Session, row: LandingRecord, outcome: Any, spec: Any) -> bool:
    """A mapped contact with a suppressed e-mail or phone; for a rejected row, the raw payload read the same way."""
    if any(is_suppressed_contact(session, c.contact.as_dict()) for c in outcome.contacts):
        return True
    region = getattr(getattr(spec, "defaults", None), "region", None)
    return bool(outcome.errors) and payload_names_suppressed(session, row.payload or {}, region)


def _suppress(session: Session, row: LandingRecord) -> None:
    """Empty the row and the payload of any dead-letter item it left (a map failure from before the erasure)."""
    row.payload, row.status, row.error = {}, "suppressed", None
    session.execute(
        update(DeadLetter)
        .where(DeadLetter.stage == "map", DeadLetter.name == row.source, DeadLetter.ref == str(row.id),
               DeadLetter.status == "pending")
        .values(payload=None, payload_encrypted=False, status="erased")
    )


def _store(session: Session, name: str, row: LandingRecord, outcome: Any, records: dict[str, ContactRecord],
           interactions: dict[str, Interaction], counts: dict[str, Any]) -> None:
    occurred = [_instant(i.occurred_at) for i in outcome.interactions]
    observed_at = occurred[0] if occurred else (row.received_at or utcnow())
    first: ContactRecord | None = None
    for mapped in outcome.contacts:
        record = _upsert_contact(session, name, row, mapped, observed_at, records, counts)
        first = first or record
    for item in outcome.interactions:
        _upsert_interaction(session, name, item, first, interactions, counts)


def _upsert_contact(session: Session, name: str, row: LandingRecord, mapped: Any, observed_at: datetime,
                    records: dict[str, ContactRecord], counts: dict[str, Any]) -> ContactRecord:
    normalized = mapped.contact.as_dict()
    keys = _key_columns(normalized)
    record = records.get(mapped.key)
    if record is None:
        record = ContactRecord(source=name, source_key=mapped.key, landing_id=row.id, raw=mapped.raw,
                               normalized=normalized, observed_at=observed_at, **keys)
        session.add(record)
        session.flush()
        records[mapped.key] = record
        _count(counts, "contacts_created")
        return record
    if record.observed_at is not None and observed_at < record.observed_at:
        _count(counts, "contacts_stale")  # an older message: the record already holds something newer
        return record
    if record.normalized != normalized:
        record.normalized = normalized
        record.version += 1
        for column, value in keys.items():
            setattr(record, column, value)
        _count(counts, "contacts_updated")
    else:
        _count(counts, "contacts_unchanged")
    record.raw, record.landing_id, record.observed_at = mapped.raw, row.id, observed_at
    return record


def _upsert_interaction(session: Session, name: str, item: Any, record: ContactRecord | None,
                        interactions: dict[str, Interaction], counts: dict[str, Any]) -> None:
    values = {
        "channel": item.channel,
        "direction": item.direction,
        "occurred_at": _instant(item.occurred_at),
        "source_tz": item.source_tz,
        "subject": item.subject,
        "summary": item.summary,
        "participants": list(item.participants),
        "contact_record_id": record.id if record is not None else None,
        "customer_id": record.customer_id if record is not None else None,
    }
    existing = interactions.get(item.external_ref)
    if existing is None:
        existing = Interaction(source=name, external_ref=item.external_ref, **values)
        session.add(existing)
        interactions[item.external_ref] = existing
        _count(counts, "interactions_created")
        return
    if existing.customer_id is not None and values["customer_id"] is None:
        values["customer_id"] = existing.customer_id  # keep a link resolution already made
    for column, value in values.items():
        setattr(existing, column, value)
    _count(counts, "interactions_updated")


def _key_columns(normalized: Mapping[str, Any]) -> dict[str, str | None]:
    """The indexed deterministic match keys. ``handle`` is ``platform:value`` of the first platform by name."""
    handles = normalized.get("handles") or {}
    platform = min(handles) if handles else None
    return {
        "email": normalized.get("email"),
        "phone": normalized.get("phone"),
        "handle": f"{platform}:{handles[platform]}"[:200] if platform else None,
    }


def _fail(session: Session, row: LandingRecord, errors: Iterable[Any], run_id: str | None) -> None:
    errors = list(errors)
    # the message names fields and reasons only; the values (personal data) stay in the payload
    message = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    send_to_dead_letter(
        session, stage="map", name=row.source, ref=str(row.id),
        payload={"landing_id": row.id, "source_key": row.source_key,
                 "errors": [e.as_dict() for e in errors], "payload": row.payload},
        error_class="ValidationError", error_message=message, run_id=run_id,
    )
    row.status, row.error = "failed", message[:2000]


def _fail_store(session: Session, row: LandingRecord, exc: SQLAlchemyError, run_id: str | None) -> None:
    message = f"could not store the mapped record ({type(exc.orig or exc).__name__})"
    send_to_dead_letter(
        session, stage="map", name=row.source, ref=str(row.id),
        payload={"landing_id": row.id, "source_key": row.source_key, "payload": row.payload},
        error_class=type(exc).__name__, error_message=message, run_id=run_id,
    )
    row.status, row.error = "failed", message


def _existing_records(session: Session, name: str, keys: list[str]) -> dict[str, ContactRecord]:
    found: dict[str, ContactRecord] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start:start + _IN_CHUNK]
        stmt = select(ContactRecord).where(ContactRecord.source == name, ContactRecord.source_key.in_(chunk))
        found.update({r.source_key: r for r in session.scalars(stmt)})
    return found


def _existing_interactions(session: Session, name: str, refs: list[str]) -> dict[str, Interaction]:
    found: dict[str, Interaction] = {}
    unique = sorted(set(refs))
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start:start + _IN_CHUNK]
        stmt = select(Interaction).where(Interaction.source == name, Interaction.external_ref.in_(chunk))
        found.update({i.external_ref: i for i in session.scalars(stmt)})
    return found


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _count(counts: dict[str, Any], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1
