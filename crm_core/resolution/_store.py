"""``resolve_pending``: the resolution stage against the store, one committed chunk of pending records at a time.

Per chunk: build the records' profiles and keys, look up (through ``resolution_key``) only the existing records that
share a key, let the ``Matcher`` decide, then write links with their evidence, new customers, automatic merges,
review items, and rebuilt golden records, and mark the records resolved, all in one transaction. A crash loses at
most the chunk in flight, which the next run redoes; a second run finds nothing pending and changes nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from ..audit import audit
from ..config import ResolutionConfig
from ..db import transaction
from ..faults import fault_point
from ..models import (
    CannotLink,
    ContactRecord,
    Customer,
    CustomerVersion,
    Interaction,
    MergeEvent,
    ResolutionKey,
    ResolutionParam,
    ResolutionProfile,
    ReviewItem,
    utcnow,
)
from ..records import SerializedJSON
from ..runs import StageResult
from ._blocking import KeyPolicy, blocking_keys, is_name_key, key_is_hub, key_too_big
from ._engine import Matcher, MatchRecord, Outcome, Thresholds
from ._golden import build_golden, rebuilt, write_golden
from ._model import MatchModel
from ._profile import Profile, build_profile, name_signature

CHUNK = 5000
IN_CHUNK = 900  # stays under SQLite's bound-parameter limit
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def key_policy(config: ResolutionConfig) -> KeyPolicy:
    return KeyPolicy(
        hub_identifier_max_people=config.hub_identifier_max_people,
        untrusted_email_locals=frozenset(config.untrusted_email_locals),
        max_block=config.max_block_size,
        max_name_block=config.max_name_block_size,
    )


def matcher_for(session: Session, config: ResolutionConfig) -> Matcher:
    stored = session.get(ResolutionParam, "model")
    model = MatchModel.from_dict(stored.value) if stored is not None else MatchModel()
    return Matcher(model, Thresholds(config.auto_link_threshold, config.review_threshold), key_policy(config))


class StoredRecord(NamedTuple):
    """The columns of a contact record that resolution and survivorship read (never ``raw``), as a plain row.

    Loading ORM objects for a chunk of 5,000 records (and for every record of the customers it touches) cost more
    than matching them: each object decodes all its JSON columns and joins the session's identity map, and each
    change is flushed as its own UPDATE.
    """

    id: int
    source: str
    normalized: dict[str, Any]
    observed_at: datetime
    customer_id: int | None
    version: int


_RECORD_COLUMNS = (ContactRecord.id, ContactRecord.source, ContactRecord.normalized, ContactRecord.observed_at,
                   ContactRecord.customer_id, ContactRecord.version)


def resolve_pending(hub: Any, result: StageResult, run_id: str | None = None) -> None:
    """Resolve every contact record whose ``resolved_version`` lags its ``version`` (see the module docstring)."""
    config: ResolutionConfig = hub.config.resolution
    after = 0
    while True:
        with transaction(hub.sessions) as session:
            pending = [
                StoredRecord(*row)
                for row in session.execute(
                    select(*_RECORD_COLUMNS)
                    .where(ContactRecord.resolved_version < ContactRecord.version, ContactRecord.id > after)
                    .order_by(ContactRecord.id)
                    .limit(CHUNK)
                )
            ]
            if not pending:
                return
            after = pending[-1].id
            resolve_chunk(session, pending, config, result, run_id)
        fault_point("resolution.after_commit")


def _existing_holders(
    session: Session, batch_keys: Mapping[str, list[tuple[int, str]]], policy: KeyPolicy
) -> tuple[set[str], set[str], dict[int, list[str]]]:
    """(hub keys, oversized keys, existing record -> the usable batch keys it holds), from the key index alone.

    Identity keys are read with the holders' name signatures (a hub is counted in distinct people). Name keys are
    counted first and read only when their block is under the cap: against 1M people the capped blocks of a batch
    hold hundreds of thousands of index rows, which SQL counts far faster than Python can receive them. Profiles are
    fetched afterwards, for the records of usable keys only.
    """
    key_table = ResolutionKey.__table__
    identity = sorted(k for k in batch_keys if not is_name_key(k))
    names = sorted(k for k in batch_keys if is_name_key(k))
    stored: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for part in _chunks(identity):
        rows = session.execute(
            select(key_table.c.key, key_table.c.record_id, ResolutionProfile.__table__.c.name_sig)
            .join(ResolutionProfile.__table__, ResolutionProfile.__table__.c.record_id == key_table.c.record_id)
            .where(key_table.c.key.in_(part))
        )
        for key, rid, sig in rows:
            stored[key].append((rid, sig))
    hub_keys: set[str] = set()
    skip_keys: set[str] = set()
    keys_of: dict[int, list[str]] = defaultdict(list)
    for key in identity:
        batch, existing = batch_keys[key], stored.get(key, [])
        if key_is_hub(key, (sig for _, sig in batch + existing), policy):
            hub_keys.add(key)
        elif key_too_big(key, len(batch) + len(existing), policy):
            skip_keys.add(key)
        else:
            for rid, _ in existing:
                keys_of[rid].append(key)
    counts: dict[str, int] = {}
    for part in _chunks(names):
        rows = session.execute(
            select(key_table.c.key, func.count()).where(key_table.c.key.in_(part)).group_by(key_table.c.key)
        )
        counts.update((key, held) for key, held in rows)
    usable: list[str] = []
    for key in names:
        if key_too_big(key, len(batch_keys[key]) + counts.get(key, 0), policy):
            skip_keys.add(key)
        elif key in counts:
            usable.append(key)
    for part in _chunks(usable):
        for key, rid in session.execute(select(key_table.c.key, key_table.c.record_id).where(key_table.c.key.in_(part))):
            keys_of[rid].append(key)
    return hub_keys, skip_keys, keys_of


def resolve_chunk(
    session: Session, pending: Sequence[StoredRecord], config: ResolutionConfig, result: StageResult,
    run_id: str | None = None,
) -> Outcome:
    """Match one chunk against the store and write the result (see the module docstring)."""
    policy = key_policy(config)
    verified = set(config.verified_email_sources)
    ids = [r.id for r in pending]
    profiles = {r.id: build_profile(r.normalized or {}, verified_email=r.source in verified) for r in pending}
    for part in _chunks(ids):
        session.execute(delete(ResolutionKey).where(ResolutionKey.record_id.in_(part)))
        session.execute(delete(ResolutionProfile).where(ResolutionProfile.record_id.in_(part)))
    keys: dict[int, list[str]] = {rid: list(dict.fromkeys(blocking_keys(p))) for rid, p in profiles.items()}
    holders: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for rid, profile in profiles.items():
        sig = name_signature(profile)
        for key in keys[rid]:
            holders[key].append((rid, sig))
    hub_keys, skip_keys, existing_keys = _existing_holders(session, holders, policy)
    records = [MatchRecord(r.id, profiles[r.id], r.customer_id, new=True) for r in pending]
    for part in _chunks(sorted(existing_keys)):
        profile_table, record_table = ResolutionProfile.__table__, ContactRecord.__table__
        rows = session.execute(
            select(profile_table.c.record_id, profile_table.c.profile, record_table.c.customer_id)
            .join(record_table, record_table.c.id == profile_table.c.record_id)
            .where(profile_table.c.record_id.in_(part))
        )
        for rid, profile, customer_id in rows:
            records.append(MatchRecord(rid, profile, customer_id, new=False))
            keys[rid] = existing_keys[rid]
    cannot: set[tuple[int, Hashable]] = set()
    for part in _chunks([r.id for r in records]):
        cannot.update(session.execute(select(CannotLink.record_id, CannotLink.customer_id).where(CannotLink.record_id.in_(part))).tuples())
    matcher = matcher_for(session, config)
    train = not matcher.model.estimated and len(records) >= config.estimate_after_records
    outcome = matcher.run(records, hub_keys, skip_keys, cannot_link=cannot, estimate=train, keys=keys)
    if train and matcher.model.estimated:
        session.merge(ResolutionParam(name="model", value=matcher.model.as_dict()))
    _apply(session, pending, outcome, config, result, run_id)
    fault_point("resolution.after_apply")  # customers made and records linked, nothing committed yet
    write_index(session, profiles)
    result.records_in += len(pending)
    result.detail["pairs_scored"] = result.detail.get("pairs_scored", 0) + outcome.pairs_scored
    return outcome


def write_index(session: Session, profiles: Mapping[int, Profile]) -> None:
    """Store the records' profiles and blocking keys: what later batches look up instead of the whole base.

    Also the bench's way to seed a resolved base, so a seeded store holds exactly what resolution would write.
    """
    if not profiles:
        return
    # Core INSERTs on the tables: a plain executemany, without the ORM's per-row bulk bookkeeping (~10 keys a record)
    session.execute(
        insert(ResolutionProfile.__table__),
        [{"record_id": rid, "name_sig": name_signature(p)[:200], "profile": p} for rid, p in profiles.items()],
    )
    key_rows = [{"key": key[:400], "record_id": rid} for rid, p in profiles.items() for key in dict.fromkeys(blocking_keys(p))]
    if key_rows:
        session.execute(insert(ResolutionKey.__table__), key_rows)


def _apply(
    session: Session, pending: Sequence[StoredRecord], outcome: Outcome, config: ResolutionConfig,
    result: StageResult, run_id: str | None,
) -> None:
    """Write the outcome: merges, new customers, links with evidence, review items, rebuilt golden records.

    Bulk statements throughout (executemany INSERTs and UPDATEs by primary key): a batch of new people makes
    thousands of customers, links and versions, and one ORM object per row cost more than matching them.
    """
    by_id = {r.id: r for r in pending}
    customer_of: dict[int, int] = {}
    new_groups: list[list[int]] = []
    touched: set[int] = set()
    detail = result.detail
    for clusters, members in outcome.groups:
        fresh = [m for m in members if m in by_id]
        if not clusters:
            new_groups.append(fresh)
            continue
        survivor = min(int(str(c)) for c in clusters)
        for absorbed in sorted(int(str(c)) for c in clusters if int(str(c)) != survivor):
            _auto_merge(session, survivor, absorbed, outcome, fresh, run_id)
            detail["merged"] = detail.get("merged", 0) + 1
        if fresh or len(clusters) > 1:
            # a group of existing records alone was fetched as candidates and changed nothing: no rebuild
            touched.add(survivor)
        for m in members:
            customer_of[m] = survivor
    if new_groups:
        for group, customer_id in zip(new_groups, _new_customers(session, new_groups, by_id, config), strict=True):
            for m in group:
                customer_of[m] = customer_id
        detail["new_customers"] = detail.get("new_customers", 0) + len(new_groups)
    moved: list[int] = []
    links: list[dict[str, Any]] = []
    for record in pending:
        target = customer_of[record.id]
        if record.customer_id is not None and record.customer_id != target:
            touched.add(record.customer_id)
        if record.customer_id != target:
            moved.append(record.id)
        links.append({"b_id": record.id, "b_customer": target, "b_evidence": outcome.evidence.get(record.id),
                      "b_version": record.version})
    table = ContactRecord.__table__
    session.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(
            customer_id=bindparam("b_customer"),
            link_evidence=bindparam("b_evidence", type_=table.c.link_evidence.type),
            resolved_version=bindparam("b_version"), updated_at=utcnow(),
        ),
        links,
    )
    result.records_out += len(pending)
    _interactions_follow_records(session, moved)
    _review_items(session, outcome, by_id, customer_of, detail)
    rebuild_customers(session, touched, config, "resolution")


def _new_customers(
    session: Session, groups: Sequence[Sequence[int]], by_id: Mapping[int, StoredRecord], config: ResolutionConfig,
) -> list[int]:
    """Insert one customer per group with its golden record (and version 1), returning their ids in group order.

    A customer whose records give no value at all keeps version 0 and no version row, as a rebuild that finds
    nothing to change leaves it.
    """
    # serialised once for the customer and its version row
    goldens = [(g, p, SerializedJSON(json.dumps(g)), SerializedJSON(json.dumps(p)))
               for g, p in (build_golden([by_id[m] for m in group], config) for group in groups)]
    now = utcnow()
    rows = [{"golden": gj, "provenance": pj, "version": 1 if (g or p) else 0, "status": "active", "created_at": now,
             "updated_at": now} for g, p, gj, pj in goldens]
    ids: list[int] = []
    for part in _chunks(rows, 2000):
        ids += session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True), list(part)).all()
    versions = [{"customer_id": cid, "version": 1, "golden": gj, "provenance": pj, "reason": "resolution",
                 "created_at": now} for cid, (g, p, gj, pj) in zip(ids, goldens, strict=True) if g or p]
    if versions:
        session.execute(insert(CustomerVersion.__table__), versions)
    return ids


def _review_items(
    session: Session, outcome: Outcome, by_id: Mapping[int, StoredRecord], customer_of: Mapping[int, int],
    detail: dict[str, Any],
) -> None:
    """One open review item per (new record, candidate customer) not asked before, in a few statements."""
    wanted: dict[tuple[int, int], dict[str, Any]] = {}
    for edge in outcome.reviews:
        record_id, other = (edge.a, edge.b) if edge.a in by_id else (edge.b, edge.a)
        candidate = customer_of.get(other) or session.scalar(select(ContactRecord.customer_id).where(ContactRecord.id == other))
        if candidate is None or candidate == customer_of.get(record_id) or (record_id, candidate) in wanted:
            continue
        wanted[(record_id, candidate)] = {"contact_record_id": record_id, "candidate_customer_id": candidate,
                                          "score": edge.score, "evidence": {**edge.evidence, "with_record": other}}
    if not wanted:
        return
    known: set[tuple[int, int]] = set()
    for part in _chunks(sorted({record_id for record_id, _ in wanted})):
        known.update(session.execute(
            select(ReviewItem.contact_record_id, ReviewItem.candidate_customer_id)
            .where(ReviewItem.contact_record_id.in_(part))
        ).tuples())
    rows = [row for pair, row in wanted.items() if pair not in known]
    if rows:
        session.execute(insert(ReviewItem.__table__), rows)
        detail["review_items"] = detail.get("review_items", 0) + len(rows)


def _auto_merge(session: Session, survivor: int, absorbed: int, outcome: Outcome, fresh: list[int], run_id: str | None) -> None:
    record_ids = list(session.scalars(select(ContactRecord.id).where(ContactRecord.customer_id == absorbed)))
    move_records(session, record_ids, survivor)
    customer = session.get(Customer, absorbed)
    assert customer is not None
    customer.status, customer.merged_into = "merged", survivor
    bridge = next((outcome.evidence[m] for m in fresh if m in outcome.evidence), {})
    event = MergeEvent(kind="auto_merge", survivor_id=survivor, absorbed_id=absorbed, record_ids=record_ids,
                       actor="resolution", reason=f"bridged by a new record ({bridge.get('rule', 'match')})")
    session.add(event)
    session.flush()
    audit(session, "merge", "customer", survivor, {"absorbed": absorbed, "event": event.id, "automatic": True},
          actor="resolution", run_id=run_id)


def _interactions_follow_records(session: Session, record_ids: Sequence[int]) -> None:
    """Point the interactions of these (flushed) records at each record's customer, a few statements per chunk.

    One UPDATE per target customer made a chunk quadratic: every ORM-enabled UPDATE also scans the whole identity
    map to synchronise it, and a chunk of new people has thousands of targets. A correlated subquery takes each
    record's customer in one statement; interactions are never loaded here, so there is nothing to synchronise.
    """
    customer_of_record = (
        select(ContactRecord.customer_id).where(ContactRecord.id == Interaction.contact_record_id).scalar_subquery()
    )
    for part in _chunks(list(record_ids)):
        session.execute(
            update(Interaction).where(Interaction.contact_record_id.in_(part)).values(customer_id=customer_of_record)
            .execution_options(synchronize_session=False)
        )


def move_records(session: Session, record_ids: Sequence[int], customer_id: int) -> None:
    """Point records, and the interactions that follow them, at another customer."""
    for part in _chunks(list(record_ids)):
        session.execute(update(ContactRecord).where(ContactRecord.id.in_(part)).values(customer_id=customer_id))
        session.execute(update(Interaction).where(Interaction.contact_record_id.in_(part)).values(customer_id=customer_id))


def rebuild_customers(session: Session, customer_ids: Iterable[int], config: ResolutionConfig, reason: str) -> None:
    """Rebuild the golden records of these (active) customers from the records linked to them now.

    Reads plain rows, not ORM objects, and writes through ``write_golden``; pending ORM changes (a merge's status)
    are flushed first so the rows read here see them.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return
    session.flush()
    records: dict[int, list[StoredRecord]] = defaultdict(list)
    current: list[tuple[int, dict[str, Any], dict[str, Any], int]] = []
    for part in _chunks(ids):
        for row in session.execute(select(*_RECORD_COLUMNS).where(ContactRecord.customer_id.in_(part))):
            record = StoredRecord(*row)
            records[record.customer_id].append(record)  # type: ignore[index]
        current += session.execute(
            select(Customer.id, Customer.golden, Customer.provenance, Customer.version)
            .where(Customer.id.in_(part), Customer.status == "active")
        ).tuples()
    changes = [change for cid, golden, provenance, version in current
               if (change := rebuilt(cid, version, golden, provenance, records.get(cid, []), config)) is not None]
    write_golden(session, changes, reason)
