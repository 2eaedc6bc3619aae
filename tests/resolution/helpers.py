"""Tiny helpers for resolution tests: contact records written straight to the store (no mapping stage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.config import ResolutionConfig
from crm_core.models import ContactRecord
from crm_core.runs import StageResult

_keys = count(1)
BASE_TIME = datetime(2025, 8, 23, tzinfo=UTC)


def add_contact(session: Session, source: str = "web", observed_days: int = 0, **normalized: Any) -> ContactRecord:
    """One pending contact record; ``normalized`` is the canonical contact."""
    record = ContactRecord(
        source=source,
        source_key=f"k{next(_keys)}",
        normalized=normalized,
        email=normalized.get("email"),
        phone=normalized.get("phone"),
        observed_at=BASE_TIME + timedelta(days=observed_days),
    )
    session.add(record)
    session.flush()
    return record


def resolve(sessions: Any, config: ResolutionConfig | None = None) -> StageResult:
    """Run the resolution stage on a sessionmaker (what ``jobs.resolve`` does, without leases and run stats)."""
    from crm_core.resolution import resolve_pending

    class _Hub:
        def __init__(self) -> None:
            self.sessions = sessions
            self.config = type("C", (), {"resolution": config or ResolutionConfig()})()

    result = StageResult("resolve", "customers")
    resolve_pending(_Hub(), result)
    return result


def customer_of(session: Session, record_id: int) -> int | None:
    return session.scalar(select(ContactRecord.customer_id).where(ContactRecord.id == record_id))


def partition(session: Session) -> set[frozenset[str]]:
    """Records grouped by customer, named by source_key so two stores can be compared."""
    groups: dict[int, set[str]] = {}
    for record in session.scalars(select(ContactRecord)):
        groups.setdefault(record.customer_id or -record.id, set()).add(record.source_key)
    return {frozenset(g) for g in groups.values()}
