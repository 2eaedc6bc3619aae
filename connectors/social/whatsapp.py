"""WhatsApp Business (Meta Cloud API) webhooks: signature, subscription handshake and message payloads.

Meta posts ``{"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field": "messages",
"value": {...}}]}]}`` (``WebhookPayload`` in the business-messaging OpenAPI spec v23.0) to the intake route
``/intake/{source}``:

- ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body bytes)>``: verified on the exact bytes
  received, before parsing. There is no timestamp, so replays are harmless only because landing dedupes by
  message id (``wamid…``), which is also how Meta's own retries (up to days later) are absorbed.
- Subscription handshake: ``GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`` answers ``C`` when
  ``T`` is the configured verify token, 403 otherwise.
- Each inbound message (``value.messages[]``) becomes one record keyed by its message id, with the sender's
  profile (``value.contacts[]``, matched by ``wa_id``) beside it. ``statuses`` (sent/delivered/read receipts of
  the messages *we* sent) carry no customer content and are counted, not landed; group events likewise.

The app secret is the source connection's password; the verify token is its ``extra.verify_token``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_core.config import SourceConfig
from crm_core.records import Batch, SourceRecord

SIGNATURE_HEADER = "X-Hub-Signature-256"


class BadPayload(ValueError):
    """Not a WhatsApp webhook payload we can read; the message is safe to return to the sender."""


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(app_secret: str, body: bytes, signature: str | None) -> bool:
    return bool(signature) and hmac.compare_digest(sign(app_secret, body), str(signature).strip())


def handshake(params: Mapping[str, str], verify_token: str | None) -> str | None:
    """The challenge to echo when the subscription request is genuine, else None (answer 403)."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token", "")
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    challenge = params.get("hub.challenge")
    return challenge if challenge else None


def _text(message: Mapping[str, Any]) -> str | None:
    """A short human text for the timeline, whatever the message type."""
    kind = message.get("type")
    body = message.get(kind) if isinstance(kind, str) else None
    if not isinstance(body, Mapping):
        return None
    if kind in ("text", "system"):
        return _str(body.get("body"))
    if kind in ("image", "video", "document"):
        return _str(body.get("caption")) or _str(body.get("filename"))
    if kind == "button":
        return _str(body.get("text"))
    if kind == "interactive":
        for reply in ("button_reply", "list_reply", "nfm_reply"):
            if isinstance(body.get(reply), Mapping):
                return _str(body[reply].get("title")) or _str(body[reply].get("body"))
    if kind == "location":
        parts = [_str(body.get("name")), _str(body.get("address"))]
        return ", ".join(p for p in parts if p) or None
    if kind == "reaction":
        return _str(body.get("emoji"))
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _sent_at(timestamp: Any) -> str | None:
    if isinstance(timestamp, str) and timestamp.isdigit() and len(timestamp) <= 12:
        return datetime.fromtimestamp(int(timestamp), UTC).isoformat()
    return None


def parse_webhook(data: Any) -> tuple[list[SourceRecord], int]:
    """(message records, count of ignored items: statuses, group events, malformed entries)."""
    if not isinstance(data, Mapping) or data.get("object") != "whatsapp_business_account":
        raise BadPayload("not a WhatsApp Business webhook (object must be whatsapp_business_account)")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise BadPayload("entry must be a list")
    records: list[SourceRecord] = []
    ignored = 0
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            ignored += 1
            continue
        for change in changes:
            value = change.get("value") if isinstance(change, Mapping) else None
            if not isinstance(value, Mapping) or change.get("field") != "messages":
                ignored += 1
                continue
            statuses = value.get("statuses")
            ignored += len(statuses) if isinstance(statuses, list) else 0
            new, skipped = _messages(value, _str(entry.get("id")))
            records += new
            ignored += skipped
    return records, ignored


def _messages(value: Mapping[str, Any], waba_id: str | None) -> tuple[list[SourceRecord], int]:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), Mapping) else {}
    profiles: dict[str, str | None] = {}
    contacts = value.get("contacts")
    for contact in contacts if isinstance(contacts, list) else []:
        if isinstance(contact, Mapping) and isinstance(contact.get("wa_id"), str):
            profile = contact.get("profile")
            profiles[contact["wa_id"]] = _str(profile.get("name")) if isinstance(profile, Mapping) else None
    records: list[SourceRecord] = []
    skipped = 0
    messages = value.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping) or not _str(message.get("id")) or not _str(message.get("from")):
            skipped += 1
            continue
        sender = message["from"]
        sent_at = _sent_at(message.get("timestamp"))
        payload = {
            "channel": "whatsapp",
            "message_id": message["id"],
            "from": sender,
            "profile_name": profiles.get(sender),
            "type": _str(message.get("type")),
            "text": _text(message),
            "sent_at": sent_at,
            "business_phone_number_id": _str(metadata.get("phone_number_id")),
            "business_display_phone_number": _str(metadata.get("display_phone_number")),
            "waba_id": waba_id,
            "message": dict(message),
        }
        occurred = datetime.fromisoformat(sent_at) if sent_at else None
        records.append(SourceRecord(key=f"wamid:{message['id']}"[:500], payload=payload, occurred_at=occurred))
    return records, skipped


@dataclass
class WhatsAppWebhookSource:
    """Push source: the intake lands messages as Meta posts them; reading it yields nothing."""

    name: str
    ordered: bool = True

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        return iter(())


def build(config: SourceConfig, hub: Any) -> WhatsAppWebhookSource:
    return WhatsAppWebhookSource(name=config.name)
