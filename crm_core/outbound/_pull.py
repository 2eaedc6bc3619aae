"""Pull-back: a target's edits come in as contact records from that target, like any other source.

``source`` is the target's name and ``source_key`` the target's own record id, so the same remote record always
maps to the same contact record; a changed content bumps ``version`` and resolution picks it up. A record the hub
already knows (it carries our hub key) is linked to its customer with the evidence ``target_external_id``; one made
in the target by a person is left unlinked for resolution to match. A record of an erased person (its e-mail
address or phone number is suppressed; the target could not delete it) is never stored: pulling it back would
bring the person back into the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..erasure import anyone_suppressed, is_suppressed_contact
from ..models import ContactRecord
from ..records import RemoteRecord


def record_pull(
    session: Session,
    target: str,
    remote: RemoteRecord,
    normalized: Mapping[str, Any],
    customer_id: int | None,
    observed_at: datetime,
) -> bool:
    """Create or update the contact record for one remote record; True when resolution has something new."""
    if anyone_suppressed(session) and is_suppressed_contact(session, normalized):
        return False
    row = session.scalars(
        select(ContactRecord).where(ContactRecord.source == target, ContactRecord.source_key == remote.external_id)
    ).first()
    normalized = dict(normalized)
    raw = {k: v for k, v in remote.fields.items() if k != "attributes"}
    handles = normalized.get("handles") or {}
    keys = {
        "email": normalized.get("email"),
        "phone": normalized.get("phone"),
        "handle": next(iter(handles.values()), None) if isinstance(handles, dict) else None,
    }
    if row is None:
        session.add(ContactRecord(
            source=target, source_key=remote.external_id, customer_id=customer_id, raw=raw, normalized=normalized,
            observed_at=observed_at, version=1, resolved_version=0,
            link_evidence={"rule": "target_external_id", "target": target} if customer_id else None, **keys,
        ))
        return True
    if row.normalized == normalized:
        return False
    row.normalized, row.raw, row.observed_at = normalized, raw, observed_at
    row.email, row.phone, row.handle = keys["email"], keys["phone"], keys["handle"]
    row.version += 1
    if customer_id is not None and row.customer_id is None:
        row.customer_id = customer_id
        row.link_evidence = {"rule": "target_external_id", "target": target}
    return True
