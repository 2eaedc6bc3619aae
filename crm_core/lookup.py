"""Customer lookup by phone or email: the caller "screen pop" (card plus last interactions).

Two queries, whatever the size of the hub: the newest contact records with that normalised key joined to their
customers (``ix_contact_record_email_seen`` / ``_phone_seen``: key, then recency, so a shared switchboard number
with hundreds of records still reads only the newest five), then that customer's newest interactions through
``ix_interaction_customer_time``. A merged customer costs one primary-key read per hop to its survivor.
Round trips, not rows, are what a lookup pays for: ``python -m bench.lookup`` measures it at a million customers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import HubError
from .models import ContactRecord, Customer, Interaction

MAX_MERGE_HOPS = 20
CARD_FIELDS = ("full_name", "given_name", "family_name", "email", "phone", "company", "title", "city", "country",
               "language")


class LookupError_(HubError):  # noqa: N801 - "LookupError" is a builtin
    """The query itself is unusable (no key, or a phone that cannot be a phone number)."""


def normalize_email(value: str) -> str:
    return value.strip().lower()


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """E.164 like the mapping stage stores it. Numbers without ``+`` use ``HUB_DEFAULT_REGION`` (default CN)."""
    import phonenumbers

    region = default_region or os.environ.get("HUB_DEFAULT_REGION", "CN")
    try:
        number = phonenumbers.parse(value.strip(), None if value.strip().startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise LookupError_("that is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise LookupError_("that is not a phone number (wrong length for its country)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class LookupResult:
    customer: dict[str, Any] | None
    interactions: list[dict[str, Any]]
    matched_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"found": self.customer is not None, "matched_by": self.matched_by,
                "customer": self.customer, "interactions": self.interactions}


def _surviving(session: Session, customer: Customer | None) -> Customer | None:
    hops = 0
    while customer is not None and customer.status == "merged" and customer.merged_into and hops < MAX_MERGE_HOPS:
        customer = session.get(Customer, customer.merged_into)
        hops += 1
    return customer if customer is not None and customer.status == "active" else None


def lookup_customer(
    session: Session, *, phone: str | None = None, email: str | None = None, interactions: int = 10
) -> LookupResult:
    """The customer card for a phone number or an email address, with its ``interactions`` newest touch points."""
    if not phone and not email:
        raise LookupError_("give a phone number or an email address")
    if email:
        key, column = normalize_email(email), ContactRecord.email
        matched_by = "email"
    else:
        key, column = normalize_phone(phone or ""), ContactRecord.phone
        matched_by = "phone"
    candidates = session.scalars(
        select(Customer)
        .join(ContactRecord, ContactRecord.customer_id == Customer.id)
        .where(column == key)
        .order_by(ContactRecord.observed_at.desc())
        .limit(5)
    ).all()
    customer = None
    for candidate in candidates:
        customer = _surviving(session, candidate)
        if customer is not None:
            break
    if customer is None:
        return LookupResult(None, [], None)
    rows = session.scalars(
        select(Interaction)
        .where(Interaction.customer_id == customer.id)
        .order_by(Interaction.occurred_at.desc())
        .limit(interactions)
    ).all()
    golden = dict(customer.golden or {})
    card = {"id": customer.id, "version": customer.version,
            "updated_at": customer.updated_at.isoformat() if customer.updated_at else None,
            **{f: golden[f] for f in CARD_FIELDS if f in golden},
            "fields": golden}
    timeline = [
        {"channel": i.channel, "direction": i.direction, "occurred_at": i.occurred_at.isoformat(),
         "subject": i.subject, "summary": i.summary, "source": i.source}
        for i in rows
    ]
    return LookupResult(card, timeline, matched_by)
