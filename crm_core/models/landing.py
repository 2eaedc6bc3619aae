"""Inbound tables: what arrived (``landing_record``) and how far each source has been read (``source_cursor``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, utcnow


class LandingRecord(Base):
    """One raw record as a connector produced it.

    Unique on (source, source_key, content_hash): landing the same content twice is a no-op, while a changed
    version of the same source record (a form edited, a call completed later) lands as a new row.
    """

    __tablename__ = "landing_record"
    __table_args__ = (
        UniqueConstraint("source", "source_key", "content_hash"),
        Index("ix_landing_record_status_source", "status", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    source_key: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # new -> mapped | failed (dead letter) | suppressed (erased person)
    status: Mapped[str] = mapped_column(String(20), default="new")
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(250))


class SourceCursor(Base):
    """Opaque, versioned read position of one source; written in the same transaction as the batch it covers."""

    __tablename__ = "source_cursor"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
