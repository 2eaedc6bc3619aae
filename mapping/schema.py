"""The canonical contact and interaction: what every source maps into and every target maps out of.

These field names are the contract between mapping, resolution (match keys, survivorship) and outbound (target
field maps). ``ContactRecord.normalized`` stores ``CanonicalContact.as_dict()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Fields a golden record carries, in display order. Survivorship and outbound maps refer to these names.
CONTACT_FIELDS = (
    "full_name",
    "given_name",
    "family_name",
    "email",  # primary, normalised (lower-case, IDN to ASCII)
    "emails",  # all, primary first
    "phone",  # primary, E.164
    "phones",  # all, E.164, primary first
    "company",
    "title",
    "street",
    "street_number",
    "address_line2",
    "city",
    "postcode",
    "state",
    "country",  # ISO 3166-1 alpha-2
    "birth_date",  # ISO 8601 date
    "language",  # BCP 47
    "national_id",
    "handles",  # {"x": "@name", "wechat": "openid", "whatsapp": "+86…"}
    "consent",  # {"email_marketing": true|false|null, "sms": …}
    "tags",
    "attributes",  # custom fields, declared with types in the spec: {"购房预算": 3000000}
)


@dataclass(frozen=True)
class CanonicalContact:
    full_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    emails: tuple[str, ...] = ()
    phone: str | None = None
    phones: tuple[str, ...] = ()
    company: str | None = None
    title: str | None = None
    street: str | None = None
    street_number: str | None = None
    address_line2: str | None = None
    city: str | None = None
    postcode: str | None = None
    state: str | None = None
    country: str | None = None
    birth_date: str | None = None
    language: str | None = None
    national_id: str | None = None
    handles: dict[str, str] = field(default_factory=dict)
    consent: dict[str, bool | None] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, empty values dropped (so 'absent' and 'empty' mean the same to survivorship)."""
        # not dataclasses.asdict: its deep copy of every value was a tenth of the map stage's time
        out: dict[str, Any] = {}
        for name in _CONTACT_FIELD_NAMES:
            value = getattr(self, name)
            if value in (None, "", (), [], {}):
                continue
            out[name] = _plain(value)
        return out


_CONTACT_FIELD_NAMES = tuple(f.name for f in fields(CanonicalContact))


def _plain(value: Any) -> Any:
    """An independent JSON-ready copy: tuples become lists, containers are copied, scalars shared."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class CanonicalInteraction:
    channel: str  # web | email | phone | social | sms | import
    occurred_at: str  # ISO 8601 in UTC, e.g. 2025-08-23T01:30:00+00:00
    external_ref: str  # unique within the source: Message-ID, CallSid, submission id
    direction: str = "inbound"  # inbound | outbound | internal
    source_tz: str | None = None  # the zone the source used, kept for display
    subject: str | None = None
    summary: str | None = None
    participants: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["participants"] = list(self.participants)
        return out
