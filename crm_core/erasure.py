"""Right to erasure: remove a person's data from the hub and its targets, and keep them out for good.

``erase_person`` (inside the caller's transaction) finds the person's customers by e-mail/phone, follows merges,
and removes their personal data: contact records are blanked, golden records emptied (the row stays as an ``erased``
tombstone so ids in merge history and sync state still resolve), history versions, open conflicts and review items
deleted, interactions keep only channel/direction/time, landing payloads and dead-letter payloads are dropped. A
final sweep over every text and JSON column of every table replaces any identifier that is still somewhere (an
audit detail, an error message, another person's e-mail thread) with ``[erased]``.

What remains is an ``erasure`` tombstone (counts, customer ids, no values) and ``suppression`` rows holding only a
keyed hash of each identifier. ``is_suppressed`` (called by mapping) and ``suppressed_payloads`` (called by landing)
consult them (and ``is_suppressed_contact``, called by mapping and pull-back), so re-reading old mail, a replay or a backfill never brings the person back.

``notify_targets`` then asks every configured target that can ``delete(external_ids)`` to delete the person's
records and stores each receipt; re-running the erasure retries targets that failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from .audit import audit, current_actor
from .dead_letter import payload_of
from .errors import HubError
from .models import (
    Conflict,
    ContactRecord,
    Customer,
    CustomerVersion,
    DeadLetter,
    Erasure,
    Interaction,
    LandingRecord,
    ReviewItem,
    Suppression,
    SyncState,
)
from .records import canonical_json
from .security import keyed_hash, keyed_hashes, mask_text
from .security._masking import EMAIL_RE
from .security._scan import PersonMatcher, normalise_email, normalise_phone, scrub_store
from .store import insert_ignoring_duplicates

# phone numbers a raw payload can be checked for without knowing its source's country: international ones and
# Chinese mobiles (the hub's customers are largely Chinese); mapping checks the normalised numbers of every record
_PLUS_PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)\d[\d\u00a0 ().\-]{5,20}\d(?!\w)")
_CN_MOBILE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@dataclass
class ErasureReport:
    erasure_id: int
    customers: int
    removed: dict[str, int]
    target_receipts: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(r.get("status") in ("deleted", "nothing", "unsupported") for r in self.target_receipts.values())


# ---------------------------------------------------------------------------------------------- suppression


def _hashes(kind: str, value: str) -> list[str]:
    return [f"{kind}:{h}" for h in keyed_hashes(value)]


def is_suppressed(session: Session, email: str | None = None, phone: str | None = None) -> bool:
    """True when this e-mail address or phone number (E.164, or with ``+``) belongs to an erased person."""
    wanted: list[tuple[str, str]] = []
    if email and "@" in email:
        wanted += [("email", h) for h in keyed_hashes(normalise_email(email))]
    e164 = normalise_phone(phone) if phone else None
    if e164:
        wanted += [("phone", h) for h in keyed_hashes(e164)]
    if not wanted:
        return False
    clauses = [(Suppression.kind == kind) & (Suppression.key_hash == h) for kind, h in wanted]
    return bool(session.scalar(select(exists().where(or_(*clauses)))))


def is_suppressed_contact(session: Session, values: Mapping[str, Any]) -> bool:
    """True when a normalised contact (``email``/``emails``, ``phone``/``phones``) names an erased person.

    Mapping calls it before storing a mapped row, pull-back before storing a target's record.
    """
    emails = {values.get("email"), *(values.get("emails") or [])}
    phones = {values.get("phone"), *(values.get("phones") or [])}
    return any(is_suppressed(session, email=e) for e in emails if isinstance(e, str)) or any(
        is_suppressed(session, phone=p) for p in phones if isinstance(p, str)
    )


_NATIONAL_PHONE_RE = re.compile(r"(?<![\w+])\d[\d\u00a0 ().\-]{5,18}\d(?!\w)")


def payload_names_suppressed(session: Session, payload: Mapping[str, Any], region: str | None) -> bool:
    """True when a raw payload mentions a suppressed address or number, national numbers read in ``region``.

    For rows mapping rejected: their contacts were not built, so their normalised values cannot be checked.
    """
    emails, phones = _identifiers_in(payload)
    if region:
        for m in _NATIONAL_PHONE_RE.finditer(canonical_json(payload)):
            e164 = normalise_phone(m.group(0), region)
            if e164:
                phones.add(e164)
    return any(is_suppressed(session, email=e) for e in emails) or any(is_suppressed(session, phone=p) for p in phones)


def anyone_suppressed(session: Session) -> bool:
    """One cheap query: while nobody has been erased, the per-record checks can be skipped."""
    return bool(session.scalar(select(exists().where(Suppression.id.is_not(None)))))


def _identifiers_in(payload: Any) -> tuple[set[str], set[str]]:
    """E-mail addresses and ``+``-prefixed phone numbers anywhere in a raw payload (before any mapping)."""
    emails: set[str] = set()
    phones: set[str] = set()
    text = canonical_json(payload)
    for m in EMAIL_RE.finditer(text):
        emails.add(normalise_email(m.group(0)))
    for m in _PLUS_PHONE_RE.finditer(text):
        e164 = normalise_phone("+" + m.group(0).removeprefix("+").removeprefix("00"))
        if e164:
            phones.add(e164)
    for m in _CN_MOBILE_RE.finditer(text):
        e164 = normalise_phone(m.group(0), "CN")
        if e164:
            phones.add(e164)
    return emails, phones


def suppressed_payloads(session: Session, payloads: Sequence[Mapping[str, Any]]) -> set[int]:
    """Indexes of the raw payloads that mention a suppressed e-mail address or international phone number.

    One query per batch, and none at all while nobody has been erased.
    """
    if not anyone_suppressed(session):
        return set()
    wanted: dict[tuple[str, str], set[int]] = {}
    for i, payload in enumerate(payloads):
        emails, phones = _identifiers_in(payload)
        for kind, values in (("email", emails), ("phone", phones)):
            for value in values:
                for h in keyed_hashes(value):
                    wanted.setdefault((kind, h), set()).add(i)
    if not wanted:
        return set()
    found = session.execute(
        select(Suppression.kind, Suppression.key_hash).where(Suppression.key_hash.in_({h for _, h in wanted}))
    ).all()
    return set().union(*(wanted.get((kind, h), set()) for kind, h in found))


# ---------------------------------------------------------------------------------------------- erasure


def _customer_closure(session: Session, seeds: set[int]) -> set[int]:
    """The customers plus everything merged into them (and what they were merged into)."""
    found = set(seeds)
    while True:
        more = set(
            session.scalars(
                select(Customer.id).where(
                    or_(Customer.merged_into.in_(found), Customer.id.in_(
                        select(Customer.merged_into).where(Customer.id.in_(found), Customer.merged_into.is_not(None))
                    ))
                )
            )
        )
        if more <= found:
            return found
        found |= more


def _record_identifiers(values: Iterable[Mapping[str, Any]], untrusted_locals: set[str]) -> tuple[set[str], set[str]]:
    emails: set[str] = set()
    phones: set[str] = set()
    for v in values:
        for e in [v.get("email"), *(v.get("emails") or [])]:
            if isinstance(e, str) and "@" in e and e.split("@")[0].lower() not in untrusted_locals:
                emails.add(normalise_email(e))
        for p in [v.get("phone"), *(v.get("phones") or [])]:
            e164 = normalise_phone(p) if isinstance(p, str) else None
            if e164:
                phones.add(e164)
    return emails, phones


def erase_person(
    session: Session,
    *,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    untrusted_email_locals: Iterable[str] = (),
    actor: str | None = None,
    run_id: str | None = None,
) -> ErasureReport:
    """Remove the person's data from the store and suppress their identifiers. Never commits."""
    matcher = PersonMatcher()
    matcher.add(emails, phones)
    if not matcher.emails and not matcher.phones:
        raise HubError("give an e-mail address or a phone number (with + and country code, or with --region)")
    untrusted = {u.lower() for u in untrusted_email_locals}

    # 1. the person's contact records and customers, following merges; earlier erasures of the same identifiers
    seed_records = {
        r.id: r
        for r in session.scalars(
            select(ContactRecord).where(
                or_(ContactRecord.email.in_(matcher.emails), ContactRecord.phone.in_(matcher.phones))
            )
        )
    }
    for r in session.scalars(select(ContactRecord)):
        if r.id not in seed_records and (matcher.value_contains(r.normalized) or matcher.value_contains(r.raw)):
            seed_records[r.id] = r
    customer_ids = {r.customer_id for r in seed_records.values() if r.customer_id is not None}
    customer_ids |= {c.id for c in session.scalars(select(Customer)) if matcher.value_contains(c.golden)}
    previous = _previous_erasures(session, matcher)
    for earlier in previous:
        customer_ids |= {int(i) for i in earlier.customer_ids}
    customer_ids = _customer_closure(session, customer_ids)
    records = dict(seed_records)
    if customer_ids:
        records |= {r.id: r for r in session.scalars(select(ContactRecord).where(ContactRecord.customer_id.in_(customer_ids)))}
    customers = list(session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))) if customer_ids else []

    # the person's other addresses and numbers are theirs too: erase and suppress them as well
    more_emails, more_phones = _record_identifiers(
        [r.normalized for r in records.values()] + [c.golden for c in customers], untrusted
    )
    matcher.add(more_emails, more_phones)
    removed: dict[str, int] = {}

    # 2. landing rows behind the records, and any other landing row mentioning the person
    landing_ids = {r.landing_id for r in records.values() if r.landing_id is not None}
    landing = list(session.scalars(select(LandingRecord).where(LandingRecord.id.in_(landing_ids)))) if landing_ids else []
    landing += [
        row for row in session.scalars(select(LandingRecord).where(LandingRecord.status != "erased"))
        if row.id not in landing_ids and (matcher.value_contains(row.payload) or matcher.contains(row.source_key))
    ]
    for row in landing:
        row.payload, row.status, row.error = {}, "erased", None
        if matcher.contains(row.source_key):
            row.source_key = f"erased:{keyed_hash(row.source_key)[:32]}"
    removed["landing_payloads"] = len(landing)

    # 3. everything hanging off the records and customers
    record_ids = set(records)
    removed["review_items"] = _delete(
        session, ReviewItem,
        or_(ReviewItem.contact_record_id.in_(record_ids), ReviewItem.candidate_customer_id.in_(customer_ids)),
    )
    interactions = list(
        session.scalars(
            select(Interaction).where(
                or_(Interaction.contact_record_id.in_(record_ids), Interaction.customer_id.in_(customer_ids))
            )
        )
    )
    for it in interactions:
        it.subject, it.summary, it.participants = None, None, []
    removed["interactions_scrubbed"] = len(interactions)
    for r in records.values():
        r.raw, r.normalized, r.email, r.phone, r.handle = {}, {}, None, None, None
        r.link_evidence, r.resolved_version = {"erased": True}, r.version
    removed["contact_records"] = len(records)
    removed["customer_versions"] = _delete(session, CustomerVersion, CustomerVersion.customer_id.in_(customer_ids))
    removed["conflicts"] = _delete(session, Conflict, Conflict.customer_id.in_(customer_ids))
    for state in session.scalars(select(SyncState).where(SyncState.customer_id.in_(customer_ids))):
        state.snapshot, state.written_hash, state.status = {}, None, "erased"
    for c in customers:
        c.golden, c.provenance, c.status = {}, {}, "erased"
    removed["customers"] = len(customers)

    # 4. dead-letter payloads (encrypted: decrypt to look inside)
    refs = {str(i) for i in landing_ids | {row.id for row in landing} | customer_ids}
    dead = 0
    for item in session.scalars(select(DeadLetter).where(DeadLetter.payload.is_not(None))):
        if item.ref in refs or matcher.value_contains(payload_of(item)):
            item.payload, item.payload_encrypted, item.status = None, False, "erased"
            dead += 1
    removed["dead_letter_payloads"] = dead

    # 5. the safety net: any identifier still anywhere (audit details, error messages, other people's threads)
    session.flush()
    removed["other_cells_scrubbed"] = scrub_store(session, matcher)
    session.expire_all()

    # 6. the tombstone, the suppression list, the audit entry
    erasure = Erasure(
        actor=actor or current_actor(), run_id=run_id, customer_ids=sorted(customer_ids), removed=removed,
        target_receipts={}, status="done",
    )
    session.add(erasure)
    session.flush()
    rows = [{"kind": "email", "key_hash": keyed_hash(e), "erasure_id": erasure.id} for e in sorted(matcher.emails)]
    rows += [{"kind": "phone", "key_hash": keyed_hash(p), "erasure_id": erasure.id} for p in sorted(matcher.phones)]
    insert_ignoring_duplicates(session, Suppression, rows, ["kind", "key_hash"])
    audit(
        session, "erase", "erasure", erasure.id,
        {"customers": len(customers), "identifiers": len(rows), **removed}, actor=erasure.actor, run_id=run_id,
    )
    session.flush()
    return ErasureReport(erasure.id, len(customers), removed)


def _previous_erasures(session: Session, matcher: PersonMatcher) -> list[Erasure]:
    hashes = [h for e in matcher.emails for h in keyed_hashes(e)] + [h for p in matcher.phones for h in keyed_hashes(p)]
    ids = set(session.scalars(select(Suppression.erasure_id).where(Suppression.key_hash.in_(hashes))))
    return list(session.scalars(select(Erasure).where(Erasure.id.in_(ids)))) if ids else []


def _delete(session: Session, model: Any, where: Any) -> int:
    ids = list(session.scalars(select(model.id).where(where)))
    if ids:
        session.execute(delete(model).where(model.id.in_(ids)))
    return len(ids)


# ---------------------------------------------------------------------------------------------- targets


def external_ids_for(session: Session, target: str, customer_ids: Iterable[int]) -> list[str]:
    ids = list(customer_ids)
    if not ids:
        return []
    return sorted(
        e for e in session.scalars(
            select(SyncState.external_id).where(SyncState.target == target, SyncState.customer_id.in_(ids))
        ) if e
    )


def delete_at_target(destination: Any, external_ids: Sequence[str]) -> dict[str, Any]:
    """Ask one destination to delete; the receipt says what it answered (never personal data)."""
    if not external_ids:
        return {"status": "nothing", "requested": 0}
    if not callable(getattr(destination, "delete", None)):
        return {"status": "unsupported", "requested": len(external_ids),
                "note": "the target cannot delete through its API; delete these ids by hand",
                "external_ids": list(external_ids)}
    try:
        results = destination.delete(list(external_ids))
    except Exception as exc:  # any vendor failure: recorded, retried by the next `crmhub erase`
        return {"status": "failed", "requested": len(external_ids),
                "error": mask_text(f"{type(exc).__name__}: {exc}")[:500]}
    outcomes = list(results) if results is not None else []
    failed = [getattr(r, "external_id", None) for r in outcomes if getattr(r, "ok", True) is False]
    return {
        "status": "partial" if failed else "deleted",
        "requested": len(external_ids),
        "deleted": len(external_ids) - len(failed),
        "failed_ids": [f for f in failed if f],
        "external_ids": list(external_ids),
    }


# ---------------------------------------------------------------------------------------------- the job


def run_erasure(
    hub: Any,
    *,
    email: str | None = None,
    phone: str | None = None,
    region: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
    destinations: Mapping[str, Any] | None = None,
) -> ErasureReport:
    """The erasure job (CLI and Airflow): erase in one transaction, then notify targets, then store the receipts.

    Owns its transactions like the stage jobs. A crash after the first commit leaves the hub erased and the
    targets marked pending; running the same erasure again retries them.
    """
    from .db import transaction

    phones: list[str] = []
    if phone:
        e164 = normalise_phone(phone, region)
        if e164 is None:
            raise HubError("the phone number is not valid; give it with + and the country code, or pass --region")
        phones.append(e164)
    with transaction(hub.sessions) as session:
        report = erase_person(
            session, emails=[email] if email else [], phones=phones, actor=actor, run_id=run_id,
            untrusted_email_locals=hub.config.resolution.untrusted_email_locals,
        )
    report.target_receipts = notify_targets(hub, report.erasure_id, run_id=run_id, actor=actor, destinations=destinations)
    return report


def notify_targets(
    hub: Any,
    erasure_id: int,
    run_id: str | None = None,
    actor: str | None = None,
    destinations: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send deletions to every configured target and record each receipt on the tombstone.

    ``destinations`` (target name -> ``Destination``) are used instead of building them from the config: the
    Airflow task passes the ones it already holds, tests pass their own.
    """
    from connectors import build_destination

    from .db import transaction

    with hub.sessions() as session:
        erasure = session.get(Erasure, erasure_id)
        assert erasure is not None
        customer_ids = [int(i) for i in erasure.customer_ids]
        wanted = {t.name: external_ids_for(session, t.name, customer_ids) for t in hub.config.targets}
    receipts: dict[str, Any] = {}
    for target in hub.config.targets:
        ids = wanted[target.name]
        if not ids:
            receipts[target.name] = {"status": "nothing", "requested": 0}
            continue
        try:
            destination = (destinations or {}).get(target.name) or build_destination(target, hub)
        except Exception as exc:  # connector missing or misconfigured: the deletion stays pending
            receipts[target.name] = {"status": "failed", "requested": len(ids),
                                     "error": mask_text(f"{type(exc).__name__}: {exc}")[:500]}
            continue
        receipts[target.name] = delete_at_target(destination, ids)
    with transaction(hub.sessions) as session:
        erasure = session.get(Erasure, erasure_id)
        assert erasure is not None
        erasure.target_receipts = receipts
        done = all(r["status"] in ("deleted", "nothing", "unsupported") for r in receipts.values())
        erasure.status = "done" if done else "targets_pending"
        audit(session, "erase.targets", "erasure", erasure_id,
              {name: {k: v for k, v in r.items() if k in ("status", "requested", "deleted")} for name, r in receipts.items()},
              actor=actor, run_id=run_id)
    return receipts
