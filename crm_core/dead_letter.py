"""The dead letter: records that failed a stage, kept with the error so they can be fixed and replayed.

Every stage sends failures here instead of dropping them or failing the whole batch. A payload is a customer's
data, so it is always encrypted at rest (Fernet, key from ``HUB_SECRET_KEY``; see ``crm_core.security``) and
``payload_encrypted`` says so; ``payload_of`` decrypts. The error message is masked (emails, phones, secrets) before
it is stored, because it is shown on the status page and in listings. Items older than the hub's
``dead_letter_retention_days`` lose their payload and become ``expired``: the error stays for the statistics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import StoreError
from .models import DeadLetter, utcnow
from .records import canonical_json
from .security import fernet, mask_text


def encrypt_payload(payload: Mapping[str, Any]) -> str:
    return fernet().encrypt(canonical_json(dict(payload)).encode("utf-8")).decode("ascii")


def send_to_dead_letter(
    session: Session,
    *,
    stage: str,
    name: str,
    ref: str | None,
    payload: Mapping[str, Any] | None,
    error_class: str,
    error_message: str,
    run_id: str | None = None,
    next_attempt_at: datetime | None = None,
) -> DeadLetter:
    """Add (or, for the same stage/name/ref still pending, update) a dead-letter item. Never commits."""
    existing = None
    if ref is not None:
        existing = session.scalars(
            select(DeadLetter).where(
                DeadLetter.stage == stage,
                DeadLetter.name == name,
                DeadLetter.ref == ref,
                DeadLetter.status == "pending",
            )
        ).first()
    text = encrypt_payload(payload) if payload is not None else None
    message = mask_text(error_message)[:4000]
    if existing is not None:
        existing.attempts += 1
        existing.error_class, existing.error_message = error_class, message
        existing.payload, existing.payload_encrypted = text, text is not None
        existing.next_attempt_at, existing.run_id = next_attempt_at, run_id
        return existing
    item = DeadLetter(
        stage=stage,
        name=name,
        ref=ref,
        payload=text,
        payload_encrypted=text is not None,
        error_class=error_class,
        error_message=message,
        run_id=run_id,
        next_attempt_at=next_attempt_at,
    )
    session.add(item)
    session.flush()
    return item


def payload_of(item: DeadLetter) -> dict[str, Any] | None:
    """The item's payload in clear, or None once it expired or was erased."""
    if not item.payload:
        return None
    if not item.payload_encrypted:  # written before encryption existed
        return json.loads(item.payload)
    try:
        return json.loads(fernet().decrypt(item.payload.encode("ascii")))
    except InvalidToken:
        raise StoreError(
            f"dead-letter item {item.id} cannot be decrypted with the configured HUB_SECRET_KEY "
            "(was the key replaced instead of rotated? keep the old key listed after the new one)"
        ) from None


def expire_dead_letters(session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Delete the payload of items older than the retention and mark them ``expired``. Returns how many. No commit."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    items = session.scalars(
        select(DeadLetter).where(DeadLetter.created_at < cutoff, DeadLetter.status != "expired")
    ).all()
    for item in items:
        item.payload, item.payload_encrypted, item.status = None, False, "expired"
    session.flush()
    return len(items)


def rotate_dead_letter_keys(session: Session, batch_size: int = 500) -> int:
    """Re-encrypt every stored payload with the first key of ``HUB_SECRET_KEY`` (and encrypt any clear one).

    After it ran, the older keys can be removed from the list. Returns how many payloads were rewritten. No commit.
    """
    cipher = fernet()
    rewritten, last_id = 0, 0
    while True:
        items = session.scalars(
            select(DeadLetter)
            .where(DeadLetter.id > last_id, DeadLetter.payload.is_not(None))
            .order_by(DeadLetter.id)
            .limit(batch_size)
        ).all()
        if not items:
            return rewritten
        for item in items:
            assert item.payload is not None
            if item.payload_encrypted:
                item.payload = cipher.rotate(item.payload.encode("ascii")).decode("ascii")
            else:
                item.payload = cipher.encrypt(item.payload.encode("utf-8")).decode("ascii")
                item.payload_encrypted = True
            rewritten += 1
        last_id = items[-1].id
        session.flush()
