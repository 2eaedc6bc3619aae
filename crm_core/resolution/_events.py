"""People's decisions on customers: merge, unmerge, review accept/reject, and the explanation behind a customer.

Every decision is a ``merge_event`` (reversible) and an audit entry. Golden records are never patched: they are
rebuilt from whichever records end up linked, so undoing a merge restores exactly what the records say.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..audit import audit
from ..config import ResolutionConfig
from ..errors import HubError
from ..models import CannotLink, ContactRecord, Customer, MergeEvent, ReviewItem, utcnow
from ._store import move_records, rebuild_customers


def _active(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise HubError(f"no customer {customer_id}")
    if customer.status != "active":
        where = f" into {customer.merged_into}" if customer.merged_into else ""
        raise HubError(f"customer {customer_id} is {customer.status}{where}")
    return customer


def remember_cannot_link(session: Session, record_id: int, customer_id: int, reason: str) -> None:
    known = session.scalar(
        select(CannotLink.id).where(CannotLink.record_id == record_id, CannotLink.customer_id == customer_id)
    )
    if known is None:
        session.add(CannotLink(record_id=record_id, customer_id=customer_id, reason=reason))


def merge_customers(
    session: Session, survivor_id: int, absorbed_id: int, config: ResolutionConfig, actor: str | None = None,
    kind: str = "merge", reason: str | None = None, run_id: str | None = None,
) -> MergeEvent:
    """Move every record of ``absorbed`` to ``survivor``; the absorbed customer stays, marked merged, for unmerge."""
    if survivor_id == absorbed_id:
        raise HubError("a customer cannot be merged with itself")
    _active(session, survivor_id)
    absorbed = _active(session, absorbed_id)
    record_ids = list(session.scalars(select(ContactRecord.id).where(ContactRecord.customer_id == absorbed_id)))
    move_records(session, record_ids, survivor_id)
    # a person merging overrides earlier "not this customer" decisions between the two
    session.execute(delete(CannotLink).where(CannotLink.customer_id == survivor_id, CannotLink.record_id.in_(record_ids)))
    absorbed.status, absorbed.merged_into = "merged", survivor_id
    event = MergeEvent(kind=kind, survivor_id=survivor_id, absorbed_id=absorbed_id, record_ids=record_ids,
                       actor=actor or "cli", reason=reason)
    session.add(event)
    session.flush()
    audit(session, kind, "customer", survivor_id, {"absorbed": absorbed_id, "records": record_ids, "event": event.id},
          actor=actor, run_id=run_id)
    rebuild_customers(session, [survivor_id], config, f"{kind} of customer {absorbed_id}")
    return event


def unmerge_record(
    session: Session, customer_id: int, record_id: int, config: ResolutionConfig, actor: str | None = None,
    run_id: str | None = None,
) -> MergeEvent:
    """Take a record out of a customer, with everything that came in with it.

    If the record arrived through a merge, that merge is undone: the absorbed customer comes back with the records
    it brought that are still here. Otherwise the record alone moves to a new customer. Either way the moved records
    are remembered as "not this customer" so resolution does not link them back.
    """
    record = session.get(ContactRecord, record_id)
    if record is None or record.customer_id != customer_id:
        raise HubError(f"record {record_id} is not linked to customer {customer_id}")
    _active(session, customer_id)
    merges = session.scalars(
        select(MergeEvent)
        .where(MergeEvent.survivor_id == customer_id, MergeEvent.undone_by.is_(None),
               MergeEvent.kind.in_(("merge", "auto_merge", "review_accept")))
        .order_by(MergeEvent.id.desc())
    )
    undone = next((e for e in merges if record_id in (e.record_ids or [])), None)
    here = set(session.scalars(select(ContactRecord.id).where(ContactRecord.customer_id == customer_id)))
    if undone is not None and undone.absorbed_id is not None:
        restored = session.get(Customer, undone.absorbed_id)
        assert restored is not None
        restored.status, restored.merged_into = "active", None
        moving = [r for r in undone.record_ids if r in here]
    else:
        restored = Customer(golden={}, provenance={}, version=0)
        session.add(restored)
        session.flush()
        moving = [record_id]
    if len(moving) == len(here):
        raise HubError(f"record {record_id} is all customer {customer_id} has; there is nothing to separate")
    move_records(session, moving, restored.id)
    for rid in moving:
        remember_cannot_link(session, rid, customer_id, "unmerge")
    event = MergeEvent(kind="unmerge", survivor_id=customer_id, absorbed_id=restored.id, record_ids=moving,
                       actor=actor or "cli", reason=f"record {record_id} taken out")
    session.add(event)
    session.flush()
    if undone is not None:
        undone.undone_by = event.id
    audit(session, "unmerge", "customer", customer_id,
          {"record": record_id, "moved": moving, "to": restored.id, "event": event.id}, actor=actor, run_id=run_id)
    session.flush()
    rebuild_customers(session, [customer_id, restored.id], config, f"unmerge of record {record_id}")
    return event


def decide_review(
    session: Session, item_id: int, accept: bool, config: ResolutionConfig, actor: str | None = None,
    run_id: str | None = None,
) -> ReviewItem:
    """Accept (the record's customer merges into the candidate) or reject (never link them) one review item."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise HubError(f"no review item {item_id}")
    if item.status != "open":
        raise HubError(f"review item {item_id} is already {item.status}")
    record = session.get(ContactRecord, item.contact_record_id)
    assert record is not None
    candidate = session.get(Customer, item.candidate_customer_id)
    while candidate is not None and candidate.status == "merged" and candidate.merged_into:
        candidate = session.get(Customer, candidate.merged_into)
    if candidate is None or candidate.status != "active":
        raise HubError(f"review item {item_id}: the candidate customer no longer exists")
    if accept and record.customer_id is not None and record.customer_id != candidate.id:
        merge_customers(session, candidate.id, record.customer_id, config, actor, kind="review_accept",
                        reason=f"review item {item_id}", run_id=run_id)
    elif not accept:
        remember_cannot_link(session, record.id, candidate.id, f"review item {item_id}")
    item.status = "accepted" if accept else "rejected"
    item.decided_by = actor or "cli"
    item.decided_at = utcnow()
    audit(session, f"review_{item.status}", "review_item", item_id,
          {"record": record.id, "customer": candidate.id, "score": item.score}, actor=actor, run_id=run_id)
    return item


def explain_customer(session: Session, customer_id: int) -> dict[str, Any]:
    """The golden record, where each value came from, and why each record is linked (``customers show --why``)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise HubError(f"no customer {customer_id}")
    records = session.scalars(select(ContactRecord).where(ContactRecord.customer_id == customer_id).order_by(ContactRecord.id))
    events = session.scalars(
        select(MergeEvent)
        .where((MergeEvent.survivor_id == customer_id) | (MergeEvent.absorbed_id == customer_id))
        .order_by(MergeEvent.id)
    )
    return {
        "id": customer.id,
        "status": customer.status,
        "merged_into": customer.merged_into,
        "version": customer.version,
        "golden": customer.golden,
        "provenance": customer.provenance,
        "records": [
            {"id": r.id, "source": r.source, "source_key": r.source_key, "evidence": r.link_evidence} for r in records
        ],
        "events": [
            {"id": e.id, "kind": e.kind, "survivor": e.survivor_id, "absorbed": e.absorbed_id, "records": e.record_ids,
             "actor": e.actor, "undone_by": e.undone_by, "at": e.created_at.isoformat()}
            for e in events
        ],
    }
