"""Survivorship: the golden record of a customer, rebuilt from its linked contact records, with provenance per field.

Rules per field (``resolution.survivorship`` in ``hub.yaml``): ``source_priority`` (the first listed source that has
a value), ``most_recent`` (newest ``observed_at``), ``most_frequent`` (the value most records agree on),
``most_complete`` (the longest value). Ties go to the newest record, then the highest record id, so the result
never depends on load order.

A human edit always wins for its field, whatever the rule: a record counts as a human edit for a field when its
``normalized["_human_edit"]`` is ``true`` or lists the field, or when it comes from a source named in
``resolution.human_edit_sources`` (e.g. values pulled back from a target where a person typed them).

Lists (``emails``, ``phones``, ``tags``) are unions, the surviving primary first; mappings (``handles``,
``consent``, ``attributes``) merge key by key, the newest record winning each key.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from mapping.schema import CONTACT_FIELDS

from ..config import ResolutionConfig
from ..models import Customer, CustomerVersion, utcnow
from ..records import SerializedJSON

LIST_FIELDS = {"emails": "email", "phones": "phone", "tags": None}
MAP_FIELDS = ("handles", "consent", "attributes")


class SurvivorRecord(Protocol):
    """What survivorship reads of a contact record: a ``ContactRecord`` or a row of just these columns."""

    @property
    def id(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def normalized(self) -> dict[str, Any]: ...
    @property
    def observed_at(self) -> datetime: ...


def _is_human_edit(record: SurvivorRecord, field: str, config: ResolutionConfig) -> bool:
    if record.source in config.human_edit_sources:
        return True
    flag = (record.normalized or {}).get("_human_edit")
    return flag is True or (isinstance(flag, list) and field in flag)


def _recency(record: SurvivorRecord) -> tuple[Any, int]:
    return (record.observed_at, record.id)


def _pick(field: str, candidates: list[tuple[SurvivorRecord, Any]], rule: str, config: ResolutionConfig) -> tuple[SurvivorRecord, Any]:
    if rule == "source_priority":
        order = {name: i for i, name in enumerate(config.survivorship.source_priority)}
        best = min(order.get(r.source, len(order)) for r, _ in candidates)
        candidates = [(r, v) for r, v in candidates if order.get(r.source, len(order)) == best]
    elif rule == "most_frequent":
        counts = Counter(repr(v) for _, v in candidates)
        top = max(counts.values())
        candidates = [(r, v) for r, v in candidates if counts[repr(v)] == top]
    elif rule == "most_complete":
        longest = max(len(str(v)) for _, v in candidates)
        candidates = [(r, v) for r, v in candidates if len(str(v)) == longest]
    return max(candidates, key=lambda rv: _recency(rv[0]))


def build_golden(records: Sequence[SurvivorRecord], config: ResolutionConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(golden, provenance) for these records; see the module docstring for the rules."""
    golden: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    newest_first = sorted(records, key=_recency, reverse=True)
    for field in CONTACT_FIELDS:
        if field in LIST_FIELDS or field in MAP_FIELDS:
            continue
        candidates = [(r, r.normalized.get(field)) for r in records if r.normalized.get(field) not in (None, "", [], {})]
        if not candidates:
            continue
        human = [(r, v) for r, v in candidates if _is_human_edit(r, field, config)]
        if human:
            record, value = max(human, key=lambda rv: _recency(rv[0]))
            rule = "human_edit"
        else:
            rule = config.survivorship.fields.get(field, config.survivorship.default)
            record, value = _pick(field, candidates, rule, config)
        golden[field] = value
        provenance[field] = {"record": record.id, "source": record.source, "rule": rule}
    for field, primary in LIST_FIELDS.items():
        values: list[Any] = [golden[primary]] if primary and primary in golden else []
        for r in newest_first:
            for v in [r.normalized.get(primary)] * bool(primary) + list(r.normalized.get(field) or []):
                if v not in (None, "") and v not in values:
                    values.append(v)
        if values:
            golden[field] = values
            provenance[field] = {"rule": "union", "records": sorted(r.id for r in records if r.normalized.get(field))}
    for field in MAP_FIELDS:
        merged: dict[str, Any] = {}
        sources: dict[str, int] = {}
        for r in sorted(records, key=_recency):
            for key, value in (r.normalized.get(field) or {}).items():
                if value is not None:
                    merged[key] = value
                    sources[key] = r.id
        if merged:
            golden[field] = merged
            provenance[field] = {"rule": "merge", "records": sources}
    return golden, provenance


@dataclass
class GoldenChange:
    """A customer's new golden record, to be written by ``write_golden`` (``version`` is the new version)."""

    customer_id: int
    version: int
    golden: dict[str, Any]
    provenance: dict[str, Any]


def rebuilt(customer_id: int, version: int, golden: Mapping[str, Any], provenance: Mapping[str, Any],
            records: Sequence[SurvivorRecord], config: ResolutionConfig) -> GoldenChange | None:
    """The customer's golden record recomputed from ``records``; None when nothing changed (no new version)."""
    new_golden, new_provenance = build_golden(records, config)
    if new_golden == golden and new_provenance == provenance:
        return None
    return GoldenChange(customer_id, version + 1, new_golden, new_provenance)


def write_golden(session: Session, changes: Sequence[GoldenChange], reason: str) -> None:
    """Write new golden records and append their ``customer_version`` rows, two executemany statements in all.

    One ORM object per customer and per version row cost more than building the golden records themselves when a
    batch of 10,000 touches 10,000 customers. Customers the session holds as objects are expired afterwards, so
    the ORM reads the new values instead of its stale copies.
    """
    if not changes:
        return
    table = Customer.__table__
    now = utcnow()
    # each golden record and provenance serialised once, for the customer row and its version row
    texts = [(SerializedJSON(json.dumps(c.golden)), SerializedJSON(json.dumps(c.provenance))) for c in changes]
    session.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(
            golden=bindparam("b_golden", type_=table.c.golden.type),
            provenance=bindparam("b_provenance", type_=table.c.provenance.type),
            version=bindparam("b_version"), updated_at=now,
        ),
        [{"b_id": c.customer_id, "b_golden": golden, "b_provenance": provenance, "b_version": c.version}
         for c, (golden, provenance) in zip(changes, texts, strict=True)],
    )
    session.execute(insert(CustomerVersion.__table__), [
        {"customer_id": c.customer_id, "version": c.version, "golden": golden, "provenance": provenance,
         "reason": reason[:200], "created_at": now}
        for c, (golden, provenance) in zip(changes, texts, strict=True)
    ])
    ids = {c.customer_id for c in changes}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Customer) and obj.id in ids:
            session.expire(obj)
