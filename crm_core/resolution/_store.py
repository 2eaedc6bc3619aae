"""``resolve_pending``: the resolution stage against the store, one committed chunk of pending records at a time.

Per chunk: build the records' profiles and keys, look up (through ``resolution_key``) only the existing records that
share a key, let the ``Matcher`` decide, then write links with their evidence, new customers, automatic merges,
review items, and rebuilt golden records, and mark the records resolved, all in one transaction. A crash loses at
most the chunk in flight, which the next run redoes; a second run finds nothing pending and changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from ..audit import audit
from ..config import ResolutionConfig
from ..db import transaction
from ..faults import fault_point
from ..models import (
    CannotLink,
    ContactRecord,
    Customer,
    Interaction,
    MergeEvent,
    ResolutionKey,
    ResolutionParam,
    ResolutionProfile,
    ReviewItem,
)
from ..runs import StageResult
from ._blocking import KeyPolicy, blocking_keys, key_is_hub, key_too_big
from ._engine import Matcher, MatchRecord, Outcome, Thresholds
from ._golden import rebuild
from ._model import MatchModel
from ._profile import build_profile, name_signature

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
    )


def matcher_for(session: Session, config: ResolutionConfig) -> Matcher:
    stored = session.get(ResolutionParam, "model")
    model = MatchModel.from_dict(stored.value) if stored is not None else MatchModel()
    return Matcher(model, Thresholds(config.auto_link_threshold, config.review_threshold), key_policy(config))


def resolve_pending(hub: Any, result: StageResult, run_id: str | None = None) -> None:
    """Resolve every contact record whose ``resolved_version`` lags its ``version`` (see the module docstring)."""
    config: ResolutionConfig = hub.config.resolution
    after = 0
    while True:
        with transaction(hub.sessions) as session:
            pending = list(
                session.scalars(
                    select(ContactRecord)
                    .where(ContactRecord.resolved_version < ContactRecord.version, ContactRecord.id > after)
                    .order_by(ContactRecord.id)
                    .limit(CHUNK)
                )
            )
            if not pending:
                return
            after = pending[-1].id
            resolve_chunk(session, pending, config, result, run_id)
        fault_point("resolution.after_commit")


def resolve_chunk(
    session: Session, pending: list[ContactRecord], config: ResolutionConfig, result: StageResult,
    run_id: str | None = None,
) -> Outcome:
    policy = key_policy(config)
    verified = set(config.verified_email_sources)
    ids = [r.id for r in pending]
    profiles = {r.id: build_profile(r.normalized or {}, verified_email=r.source in verified) for r in pending}
    for part in _chunks(ids):
        session.execute(delete(ResolutionKey).where(ResolutionKey.record_id.in_(part)))
        session.execute(delete(ResolutionProfile).where(ResolutionProfile.record_id.in_(part)))
    holders: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for rid, profile in profiles.items():
        for key in blocking_keys(profile):
            holders[key].append((rid, name_signature(profile)))
    existing_holders: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for part in _chunks(sorted(holders)):
        rows = session.execute(
            select(ResolutionKey.key, ResolutionKey.record_id, ResolutionProfile.name_sig)
            .join(ResolutionProfile, ResolutionProfile.record_id == ResolutionKey.record_id)
            .where(ResolutionKey.key.in_(part))
        )
        for key, rid, sig in rows:
            existing_holders[key].append((rid, sig))
    hub_keys: set[str] = set()
    skip_keys: set[str] = set()
    wanted: set[int] = set()
    for key, batch in holders.items():
        everyone = batch + existing_holders.get(key, [])
        if key_is_hub(key, (sig for _, sig in everyone), policy):
            hub_keys.add(key)
        elif key_too_big(key, len(everyone), policy):
            skip_keys.add(key)
        else:
            wanted.update(rid for rid, _ in existing_holders.get(key, []))
    records = [MatchRecord(r.id, profiles[r.id], r.customer_id, new=True) for r in pending]
    for part in _chunks(sorted(wanted)):
        rows = session.execute(
            select(ResolutionProfile.record_id, ResolutionProfile.profile, ContactRecord.customer_id)
            .join(ContactRecord, ContactRecord.id == ResolutionProfile.record_id)
            .where(ResolutionProfile.record_id.in_(part))
        )
        records += [MatchRecord(rid, profile, customer_id, new=False) for rid, profile, customer_id in rows]
    cannot: set[tuple[int, Hashable]] = set()
    for part in _chunks([r.id for r in records]):
        cannot.update(session.execute(select(CannotLink.record_id, CannotLink.customer_id).where(CannotLink.record_id.in_(part))).tuples())
    matcher = matcher_for(session, config)
    train = not matcher.model.estimated and len(records) >= config.estimate_after_records
    outcome = matcher.run(records, hub_keys, skip_keys, cannot_link=cannot, estimate=train)
    if train and matcher.model.estimated:
        session.merge(ResolutionParam(name="model", value=matcher.model.as_dict()))
    _apply(session, pending, outcome, config, result, run_id)
    fault_point("resolution.after_apply")  # customers made and records linked, nothing committed yet
    session.execute(
        insert(ResolutionProfile),
        [{"record_id": rid, "name_sig": name_signature(p)[:200], "profile": p} for rid, p in profiles.items()],
    )
    key_rows = [{"key": key[:400], "record_id": rid} for rid, p in profiles.items() for key in dict.fromkeys(blocking_keys(p))]
    if key_rows:
        session.execute(insert(ResolutionKey), key_rows)
    result.records_in += len(pending)
    result.detail["pairs_scored"] = result.detail.get("pairs_scored", 0) + outcome.pairs_scored
    return outcome


def _apply(
    session: Session, pending: list[ContactRecord], outcome: Outcome, config: ResolutionConfig, result: StageResult,
    run_id: str | None,
) -> None:
    by_id = {r.id: r for r in pending}
    customer_of: dict[int, int] = {}
    new_customers: list[tuple[Customer, list[int]]] = []
    touched: set[int] = set()
    detail = result.detail
    for clusters, members in outcome.groups:
        fresh = [m for m in members if m in by_id]
        if not clusters:
            new_customers.append((Customer(golden={}, provenance={}, version=0), fresh))
            continue
        survivor = min(int(str(c)) for c in clusters)
        for absorbed in sorted(int(str(c)) for c in clusters if int(str(c)) != survivor):
            _auto_merge(session, survivor, absorbed, outcome, fresh, run_id)
            detail["merged"] = detail.get("merged", 0) + 1
        touched.add(survivor)
        for m in members:
            customer_of[m] = survivor
    if new_customers:
        session.add_all([c for c, _ in new_customers])
        session.flush()
        for customer, fresh in new_customers:
            touched.add(customer.id)
            for m in fresh:
                customer_of[m] = customer.id
        detail["new_customers"] = detail.get("new_customers", 0) + len(new_customers)
    moved: dict[int, list[int]] = defaultdict(list)
    for record in pending:
        target = customer_of[record.id]
        if record.customer_id is not None and record.customer_id != target:
            touched.add(record.customer_id)
        if record.customer_id != target:
            moved[target].append(record.id)
        record.customer_id = target
        record.link_evidence = outcome.evidence.get(record.id)
        record.resolved_version = record.version
        result.records_out += 1
    for target, record_ids in moved.items():
        for part in _chunks(record_ids):
            session.execute(update(Interaction).where(Interaction.contact_record_id.in_(part)).values(customer_id=target))
    session.flush()
    for edge in outcome.reviews:
        record_id, other = (edge.a, edge.b) if edge.a in by_id else (edge.b, edge.a)
        candidate = customer_of.get(other) or session.scalar(select(ContactRecord.customer_id).where(ContactRecord.id == other))
        if candidate is None or candidate == customer_of.get(record_id):
            continue
        known = session.scalar(
            select(ReviewItem.id).where(ReviewItem.contact_record_id == record_id, ReviewItem.candidate_customer_id == candidate)
        )
        if known is None:
            session.add(ReviewItem(contact_record_id=record_id, candidate_customer_id=candidate, score=edge.score,
                                   evidence={**edge.evidence, "with_record": other}))
            detail["review_items"] = detail.get("review_items", 0) + 1
    rebuild_customers(session, touched, config, "resolution")


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


def move_records(session: Session, record_ids: Sequence[int], customer_id: int) -> None:
    """Point records, and the interactions that follow them, at another customer."""
    for part in _chunks(list(record_ids)):
        session.execute(update(ContactRecord).where(ContactRecord.id.in_(part)).values(customer_id=customer_id))
        session.execute(update(Interaction).where(Interaction.contact_record_id.in_(part)).values(customer_id=customer_id))


def rebuild_customers(session: Session, customer_ids: Iterable[int], config: ResolutionConfig, reason: str) -> None:
    ids = sorted(set(customer_ids))
    records: dict[int, list[ContactRecord]] = defaultdict(list)
    for part in _chunks(ids):
        for record in session.scalars(select(ContactRecord).where(ContactRecord.customer_id.in_(part))):
            records[record.customer_id].append(record)  # type: ignore[index]
    customers = {c.id: c for part in _chunks(ids) for c in session.scalars(select(Customer).where(Customer.id.in_(part)))}
    for cid in ids:
        customer = customers[cid]
        if customer.status == "active":
            rebuild(session, customer, records.get(cid, []), config, reason)
