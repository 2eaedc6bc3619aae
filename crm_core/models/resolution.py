"""Resolution's own tables: cached match profiles, the blocking-key index, learnt parameters, cannot-link pairs.

The key index is what makes resolution incremental: a new batch looks up only the records sharing one of its keys,
never the whole base. Rows follow their contact record (``ON DELETE CASCADE``), so erasing a person erases these too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, utcnow


class ResolutionProfile(Base):
    """The match profile of one contact record (``crm_core.resolution._profile``), computed once per version."""

    __tablename__ = "resolution_profile"

    record_id: Mapped[int] = mapped_column(ForeignKey("contact_record.id", ondelete="CASCADE"), primary_key=True)
    # order-free name key; counts the distinct people behind a shared identifier without loading profiles
    name_sig: Mapped[str] = mapped_column(String(200), default="")
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ResolutionKey(Base):
    """One blocking key of one record (``e:ann@x.com``, ``fd:wang|1980-05-04``)."""

    __tablename__ = "resolution_key"
    __table_args__ = (
        UniqueConstraint("key", "record_id"),
        Index("ix_resolution_key_record", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    record_id: Mapped[int] = mapped_column(ForeignKey("contact_record.id", ondelete="CASCADE"))


class ResolutionParam(Base):
    """Named matching state, e.g. ``model``: the estimated m/u parameters and prior."""

    __tablename__ = "resolution_param"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CannotLink(Base):
    """A person said this record is not that customer (review rejected, or unmerged): never link them again."""

    __tablename__ = "resolution_cannot_link"
    __table_args__ = (UniqueConstraint("record_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("contact_record.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
