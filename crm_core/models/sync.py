"""Outbound tables: what each target last received (``sync_state``) and the field conflicts waiting on a person."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, JsonType, utcnow


class SyncState(Base):
    """Per (customer, target): the base of the three-way comparison and the echo-suppression markers."""

    __tablename__ = "sync_state"
    __table_args__ = (
        UniqueConstraint("customer_id", "target"),
        Index("ix_sync_state_target_external", "target", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    target: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(100))
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remote_version: Mapped[str | None] = mapped_column(String(100))
    written_hash: Mapped[str | None] = mapped_column(String(64))
    last_synced_at: Mapped[datetime | None]
    flip_count: Mapped[int] = mapped_column(default=0)
    flip_window_start: Mapped[datetime | None]
    # ok | held (circuit breaker) | erased
    status: Mapped[str] = mapped_column(String(20), default="ok")


class Conflict(Base):
    __tablename__ = "conflict"
    __table_args__ = (Index("ix_conflict_status_target", "status", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    target: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(100))
    base: Mapped[Any] = mapped_column(JsonType, nullable=True)
    ours: Mapped[Any] = mapped_column(JsonType, nullable=True)
    theirs: Mapped[Any] = mapped_column(JsonType, nullable=True)
    policy: Mapped[str] = mapped_column(String(20))
    # open | resolved
    status: Mapped[str] = mapped_column(String(20), default="open")
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
