"""WeChat official account (微信公众号) message push: signature, XML messages, retries deduplicated.

WeChat pushes each message a follower sends (and each event: subscribe, menu click, scan) as an XML body to the
account's server URL, which here is the intake route ``/intake/{source}``:

- Every request carries ``?signature=…&timestamp=…&nonce=…`` with
  ``signature = sha1("".join(sorted([token, timestamp, nonce])))``. The token is the connection's password. The
  signature does not cover the body (plain-text mode), so the timestamp is also held to a five-minute window.
- The server URL is confirmed once with ``GET ?signature&timestamp&nonce&echostr``: answer ``echostr`` verbatim.
- WeChat waits 5 seconds for an answer and retries three times, so the same message arrives up to four times:
  records are keyed by ``MsgId`` (events have none: ``FromUserName`` + ``CreateTime`` + ``Event``), and landing
  turns the retries into no-ops. Answering ``success`` tells WeChat we took it (and sends no reply to the user).
- Encrypted ("safe") mode is not supported: configure the account in plain or compatible mode.

XML comes from the internet: a body with a DTD or entity declaration is refused outright (WeChat never sends one),
and ``defusedxml`` parses the rest.
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

MAX_XML_BYTES = 64 * 1024  # a text message is at most 2048 characters; events are smaller

_KNOWN = {"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Content", "Event", "EventKey"}


class BadMessage(ValueError):
    """Not a WeChat message we can read; the message is safe to return to the sender."""


def sign(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()  # noqa: S324


def signature_valid(token: str, params: Mapping[str, str]) -> bool:
    signature = params.get("signature") or ""
    timestamp, nonce = params.get("timestamp") or "", params.get("nonce") or ""
    if not signature or not timestamp or not nonce:
        return False
    return hmac.compare_digest(sign(token, timestamp, nonce), signature.lower())


def parse_message(body: bytes) -> SourceRecord:
    """One pushed XML message → one record. ``BadMessage`` for anything that is not one."""
    import defusedxml.ElementTree as ET  # noqa: N817
    from defusedxml import DefusedXmlException

    if len(body) > MAX_XML_BYTES:
        raise BadMessage(f"message larger than {MAX_XML_BYTES} bytes")
    head = body[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body.upper():
        raise BadMessage("DTDs and entities are not accepted")
    try:
        root = ET.fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"body is not well-formed XML ({type(exc).__name__})") from None
    if root.tag != "xml":
        raise BadMessage("root element must be <xml>")
    values: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and len(child) == 0:
            values[child.tag] = (child.text or "").strip()
    openid, account = values.get("FromUserName"), values.get("ToUserName")
    msg_type, create_time = values.get("MsgType"), values.get("CreateTime", "")
    if not openid or not account or not msg_type:
        raise BadMessage("FromUserName, ToUserName and MsgType are required")
    sent = (
        datetime.fromtimestamp(int(create_time), UTC)
        if create_time.isdigit() and len(create_time) <= 12
        else None
    )
    msg_id = values.get("MsgId") or None
    event = values.get("Event") or None
    if msg_id:
        key = f"msg:{msg_id}"
    elif create_time:
        key = f"event:{openid}:{create_time}:{event or msg_type}"
    else:
        raise BadMessage("a message needs MsgId, an event needs CreateTime")
    payload = {
        "channel": "wechat",
        "account": account,
        "openid": openid,
        "msg_type": msg_type,
        "msg_id": msg_id,
        "content": values.get("Content") or None,
        "event": event,
        "event_key": values.get("EventKey") or None,
        "sent_at": sent.isoformat() if sent else None,
        "extra": {k: v for k, v in sorted(values.items()) if k not in _KNOWN},
    }
    return SourceRecord(key=key[:500], payload=payload, occurred_at=sent)


@dataclass
class WeChatWebhookSource:
    """Push source: the intake lands messages as WeChat pushes them; reading it yields nothing."""

    name: str
    ordered: bool = True

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        return iter(())


def build(config: SourceConfig, hub: Any) -> WeChatWebhookSource:
    return WeChatWebhookSource(name=config.name)
