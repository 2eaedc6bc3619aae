"""Privacy tables: the suppression list and the erasure tombstones. Neither holds a personal value.

``suppression`` keeps only a keyed hash (HMAC-SHA256, key outside the database) of a normalised e-mail address or
E.164 phone number, so the hub can recognise an erased person coming back without being able to say who they were.
``erasure`` is the tombstone of one erasure request: when, by whom, how much was removed, and each target's receipt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, utcnow


class Erasure(Base):
    __tablename__ = "erasure"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(250))
    # the erased customers' ids (kept as "erased" tombstone rows) and what was removed, as counts
    customer_ids: Mapped[list[Any]] = mapped_column(default=list)
    removed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # per target: {"status": "deleted" | "partial" | "unsupported" | "failed" | "nothing", "requested": n, ...}
    target_receipts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # done | targets_pending
    status: Mapped[str] = mapped_column(String(20), default="done")


class Suppression(Base):
    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("kind", "key_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # email | phone
    key_hash: Mapped[str] = mapped_column(String(64))
    erasure_id: Mapped[int | None] = mapped_column(ForeignKey("erasure.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
