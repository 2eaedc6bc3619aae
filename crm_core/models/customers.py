"""Resolution tables: mapped contact records, the golden customer, its timeline and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, utcnow


class Customer(Base):
    """The golden record.

    ``golden`` holds the surviving value of each canonical field; ``provenance`` says, per field, which contact record
    and which survivorship rule produced it. Every change also appends a ``customer_version`` row so a merge can be
    explained and undone.
    """

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    golden: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1)
    # active | merged (see merged_into) | erased
    status: Mapped[str] = mapped_column(String(20), default="active")
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerVersion(Base):
    __tablename__ = "customer_version"
    __table_args__ = (UniqueConstraint("customer_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    version: Mapped[int]
    golden: Mapped[dict[str, Any]]
    provenance: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactRecord(Base):
    """One mapped, normalised record from one source (or pulled back from a target).

    ``raw`` keeps the values as the source sent them, ``normalized`` the canonical contact; the indexed key columns
    (email, phone, handle) are the deterministic match keys, copied out of ``normalized`` for lookups.
    """

    __tablename__ = "contact_record"
    __table_args__ = (
        UniqueConstraint("source", "source_key"),
        # key, then recency: matching on the key and lookup's "newest records with this key" (lookup_0001)
        Index("ix_contact_record_email_seen", "email", "observed_at"),
        Index("ix_contact_record_phone_seen", "phone", "observed_at"),
        Index("ix_contact_record_handle", "handle"),
        Index("ix_contact_record_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    source_key: Mapped[str] = mapped_column(String(500))
    landing_id: Mapped[int | None] = mapped_column(ForeignKey("landing_record.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    normalized: Mapped[dict[str, Any]] = mapped_column(default=dict)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    handle: Mapped[str | None] = mapped_column(String(200))
    observed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # how the record was linked to its customer: rule name, score, compared fields
    link_evidence: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # resolution picks up records whose resolved_version lags their version
    version: Mapped[int] = mapped_column(default=1)
    resolved_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Interaction(Base):
    """A touch point on a customer's timeline; follows its contact record through merges and unmerges."""

    __tablename__ = "interaction"
    __table_args__ = (
        UniqueConstraint("source", "external_ref"),
        Index("ix_interaction_customer_time", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_ref: Mapped[str] = mapped_column(String(500))
    contact_record_id: Mapped[int | None] = mapped_column(ForeignKey("contact_record.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    channel: Mapped[str] = mapped_column(String(30))
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    occurred_at: Mapped[datetime]
    source_tz: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    participants: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewItem(Base):
    """A record/customer pair scored between the thresholds, waiting for a person."""

    __tablename__ = "review_item"
    __table_args__ = (Index("ix_review_item_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_record_id: Mapped[int] = mapped_column(ForeignKey("contact_record.id"))
    candidate_customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    score: Mapped[float]
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # open | accepted | rejected
    status: Mapped[str] = mapped_column(String(20), default="open")
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MergeEvent(Base):
    """A merge, unmerge or manual link; ``undone_by`` points at the event that reversed it."""

    __tablename__ = "merge_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    survivor_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    absorbed_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    record_ids: Mapped[list[Any]] = mapped_column(default=list)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    reason: Mapped[str | None] = mapped_column(Text)
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("merge_event.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
