"""One mail message to one landing payload, shared by the IMAP reader and the local Maildir reader.

Both readers describe a message the same way before it gets here: its header block (bytes), its MIME leaves
(``Part``: section number, type, transfer encoding, size, file name) and the first ``cap`` encoded bytes of the
text part chosen by ``choose_text_part``. IMAP gets the leaves from BODYSTRUCTURE and fetches only that capped
section, so huge attachments are never downloaded; the Maildir reader walks the parsed file. Same input, same
payload: the landing content hash then deduplicates a message seen again (rescan after a UIDVALIDITY change).

Payload (``schema: imap/1``)::

    message_id      "<id@host>" or null          in_reply_to   "<id>" or null
    references      ["<id>", …]                  thread_id     first reference, else in_reply_to, else message_id
    folder          "INBOX"                      direction     "inbound" | "outbound" (sender is one of ours)
    subject         decoded text                 date          ISO 8601 with the sender's zone, or null
    from            {"name", "email"} or null     to, cc, reply_to   [{"name", "email"}, …]
    summary         first words of the text      text_truncated  true when the text part was over the cap
    size            whole message, bytes          attachments   [{"filename", "content_type", "size"}, …]
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from ._decode import decode_bytes, decode_header_value, decode_transfer, header_text, html_to_text, summarize

SCHEMA = "imap/1"


@dataclass(frozen=True)
class Part:
    """A MIME leaf, numbered like IMAP body sections ("1", "2.1")."""

    section: str
    content_type: str  # lower-case "text/plain"
    charset: str | None
    encoding: str | None
    size: int  # encoded octets
    filename: str | None
    attachment: bool  # Content-Disposition: attachment, or a named non-text part


# the headers a payload is built from; the rest of the block is never looked at
_WANTED = frozenset({"from", "to", "cc", "reply-to", "subject", "date", "message-id", "in-reply-to", "references"})
_FIELD_BREAK = re.compile(r"\r?\n(?![ \t])")  # a line break not followed by a continuation line


def header_fields(header_bytes: bytes) -> dict[str, list[str]]:
    """The wanted header fields, by lower-case name, in order; raw 8-bit bytes kept as surrogate escapes.

    Replaces ``email.parser`` for the header block: that parser builds a ``Message`` of every field through a
    line-by-line state machine, and was a fifth of a payload's cost. Unlike it, a malformed line (no colon) is
    skipped instead of ending the header block, so the fields after it are still read.
    """
    text = header_bytes.decode("ascii", "surrogateescape")
    fields: dict[str, list[str]] = {}
    for line in _FIELD_BREAK.split(text):
        name, colon, value = line.partition(":")
        if colon:
            name = name.strip().lower()
            if name in _WANTED:
                fields.setdefault(name, []).append(value.strip())
    return fields


def choose_text_part(parts: Sequence[Part]) -> Part | None:
    """The first inline text/plain leaf, else the first inline text/html: what a person reads first."""
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.content_type == wanted and not part.attachment:
                return part
    return None


def decode_text(part: Part, encoded: bytes, cap: int) -> tuple[str, bool]:
    """Text of a capped, still transfer-encoded part; True when it was cut at the cap."""
    truncated = len(encoded) >= cap and part.size > cap
    data = decode_transfer(encoded[:cap], part.encoding, truncated=truncated)
    text = decode_bytes(data, part.charset)
    if part.content_type == "text/html":
        text = html_to_text(text)
    return text, truncated


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR = rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# `phrase <addr>` or a bare addr, nothing the full RFC 5322 parser would read differently (quotes, comments, groups)
_SIMPLE_MAILBOX = re.compile(rf'\s*(?:([^"(),:;<>@\[\]\\]*?)\s*<({_ADDR})>|({_ADDR}))\s*')


def _simple_addresses(text: str) -> list[tuple[str, str]] | None:
    """``getaddresses`` for the everyday header (``=?utf-8?b?...?= <a@b.cn>, c@d.cn``), else ``None``.

    The stdlib parser walks the text a character at a time and was half the cost of a mail's payload; when any
    mailbox is not this simple (quoted names, comments, groups, odd spacing) the caller uses it after all.
    """
    out = []
    for item in text.split(","):
        if not item.strip():
            continue
        match = _SIMPLE_MAILBOX.fullmatch(item)
        if match is None:
            return None
        name, addr = (match[1], match[2]) if match[2] else ("", match[3])
        out.append((" ".join(name.split()), addr))
    return out


def _addresses(values: Iterable[str | None]) -> list[dict[str, str | None]]:
    out = []
    # parse on the raw header so a quoted "Zhang, San" or an encoded word holding a comma stays one name
    texts = [t for t in (header_text(v) for v in values) if t]
    pairs: list[tuple[str, str]] = []
    for text in texts:
        simple = _simple_addresses(text)
        if simple is None:
            pairs = email.utils.getaddresses(texts)
            break
        pairs.extend(simple)
    for name, addr in pairs:
        addr = addr.strip().lower()
        if not addr or "@" not in addr:
            continue
        out.append({"name": decode_header_value(name) or None, "email": addr})
    return out


def _msg_ids(value: Any) -> list[str]:
    return re.findall(r"<[^<>\s]+>", header_text(value) or "")


def _date(value: Any) -> str | None:
    value = header_text(value)
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.isoformat() if when is not None else None


def landing_key(payload: dict[str, Any], header_bytes: bytes) -> str:
    """The Message-ID (stable across UIDVALIDITY changes and folders), else a hash of the header block.

    Taken from the payload ``message_payload`` built, so the header block is parsed once per message, not twice.
    """
    if payload.get("message_id"):
        return str(payload["message_id"])
    normalised = header_bytes.replace(b"\r\n", b"\n").strip(b"\n")
    return "sha256:" + hashlib.sha256(normalised).hexdigest()


def counterparts(addresses: Iterable[dict[str, Any]], own: set[str]) -> list[dict[str, Any]]:
    """Everyone on the mail but us, once each: the people the hub should know.

    The mapping spec cannot tell our own mailbox from a customer, so the connector, which knows
    ``own_addresses``, hands over the list; the sales mailbox never becomes a customer.
    """
    seen: set[str] = set()
    out = []
    for address in addresses:
        email_address = (address.get("email") or "").lower()
        if email_address and email_address not in own and email_address not in seen:
            seen.add(email_address)
            out.append(address)
    return out


def message_payload(
    header_bytes: bytes,
    parts: Sequence[Part],
    text: str,
    text_truncated: bool,
    size: int,
    folder: str,
    own_addresses: Iterable[str] = (),
    summary_chars: int = 300,
) -> dict[str, Any]:
    fields = header_fields(header_bytes)

    def first(name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    sender = _addresses([first("from")])
    references = _msg_ids(first("references"))
    in_reply_to = (_msg_ids(first("in-reply-to")) or [None])[0]
    message_id = (_msg_ids(first("message-id")) or [None])[0]
    own = {a.lower() for a in own_addresses}
    to, cc, reply_to = (_addresses(fields.get(h, [])) for h in ("to", "cc", "reply-to"))
    return {
        "schema": SCHEMA,
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "thread_id": (references or [in_reply_to or message_id])[0],
        "folder": folder,
        "direction": "outbound" if sender and sender[0]["email"] in own else "inbound",
        "subject": decode_header_value(first("subject")),
        "date": _date(first("date")),
        "from": sender[0] if sender else None,
        "to": to,
        "cc": cc,
        "reply_to": reply_to,
        "counterparts": counterparts([*sender, *reply_to, *to, *cc], own),
        "summary": summarize(text, summary_chars),
        "text_truncated": text_truncated,
        "size": size,
        "attachments": [
            {"filename": p.filename, "content_type": p.content_type, "size": p.size}
            for p in parts
            if p.attachment
        ],
    }


def occurred_at(payload: dict[str, Any]) -> datetime | None:
    return datetime.fromisoformat(payload["date"]) if payload.get("date") else None


# ------------------------------------------------------------------------------------- a whole message file


def _filename(msg: Message) -> str | None:
    name = msg.get_filename()
    return decode_header_value(name) if name else None


def walk_message(msg: Message, prefix: str = "") -> list[tuple[Part, bytes]]:
    """MIME leaves of a parsed message with their encoded bytes, numbered as IMAP numbers body sections."""
    if msg.is_multipart():
        leaves: list[tuple[Part, bytes]] = []
        children = msg.get_payload()
        for index, child in enumerate(children if isinstance(children, list) else [], 1):
            leaves.extend(walk_message(child, f"{prefix}{index}."))
        return leaves
    section = prefix.rstrip(".") or "1"
    body = msg.get_payload()
    if isinstance(body, list):  # message/rfc822 parsed into a sub-message: treat as an attached whole
        data = b"".join(m.as_bytes() for m in body if isinstance(m, Message))
    else:
        # transfer decoding done by the stdlib (lenient on broken base64); charset decoding is ours
        decoded = msg.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
    content_type = msg.get_content_type()
    filename = _filename(msg)
    disposition = (msg.get_content_disposition() or "").lower()
    part = Part(
        section=section,
        content_type=content_type,
        charset=msg.get_param("charset") if isinstance(msg.get_param("charset"), str) else None,
        encoding=None,  # already transfer-decoded
        size=len(data),
        filename=filename,
        attachment=disposition == "attachment" or (filename is not None and not content_type.startswith("text/")),
    )
    return [(part, data)]


def payload_from_bytes(
    raw: bytes, folder: str, own_addresses: Iterable[str] = (), cap: int = 65536, summary_chars: int = 300
) -> tuple[str, dict[str, Any]]:
    """Landing key and payload of a whole message file (the Maildir/.eml path)."""
    split = re.search(rb"\r?\n\r?\n", raw)
    header_bytes = raw[: split.end()] if split else raw
    msg = BytesParser(policy=compat32).parsebytes(raw)
    leaves = walk_message(msg)
    parts = [p for p, _ in leaves]
    chosen = choose_text_part(parts)
    text, truncated = ("", False)
    if chosen is not None:
        encoded = next(b for p, b in leaves if p is chosen)
        text, truncated = decode_text(chosen, encoded[:cap], cap)
    payload = message_payload(header_bytes, parts, text, truncated, len(raw), folder, own_addresses, summary_chars)
    return landing_key(payload, header_bytes), payload
