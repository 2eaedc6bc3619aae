"""Operational tables: dead letter, run statistics, audit trail and run leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, utcnow


class DeadLetter(Base):
    """A record that failed a stage; replayable.

    ``payload`` is text so it can hold either JSON or ciphertext (personal data is encrypted at rest).
    """

    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_status_stage", "status", "stage", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(20))  # ingest | map | resolve | push
    name: Mapped[str] = mapped_column(String(100))  # source or target name
    ref: Mapped[str | None] = mapped_column(String(500))  # landing id, customer id, ...
    payload: Mapped[str | None] = mapped_column(Text)
    payload_encrypted: Mapped[bool] = mapped_column(default=False)
    error_class: Mapped[str] = mapped_column(String(200))
    error_message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=1)
    next_attempt_at: Mapped[datetime | None]
    # pending | replayed | resolved | expired
    status: Mapped[str] = mapped_column(String(20), default="pending")
    run_id: Mapped[str | None] = mapped_column(String(250))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RunStat(Base):
    """Counts of one stage run for one source or target; feeds the status page and run notes."""

    __tablename__ = "run_stat"
    __table_args__ = (Index("ix_run_stat_name_started", "name", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str | None] = mapped_column(String(250))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # running | success | failed | partial
    status: Mapped[str] = mapped_column(String(20), default="running")
    records_in: Mapped[int] = mapped_column(default=0)
    records_out: Mapped[int] = mapped_column(default=0)
    records_failed: Mapped[int] = mapped_column(default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(Text)


class AuditLog(Base):
    """Who did what, when, in which run: merges, unmerges, conflict decisions, erasures, replays."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_id: Mapped[str | None] = mapped_column(String(250))


class Lease(Base):
    """A named, expiring lock so two runs of one source or target never overlap, whatever the scheduler does."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(250))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
