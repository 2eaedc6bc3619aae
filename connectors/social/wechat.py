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

Encrypted (安全模式, "safe") and compatible (兼容模式) modes add ``encrypt_type=aes`` and ``msg_signature`` to the
query, and the body becomes an envelope ``<xml><ToUserName/>…<Encrypt>base64</Encrypt></xml>``:

- ``msg_signature = sha1("".join(sorted([token, timestamp, nonce, Encrypt])))``: unlike ``signature`` it covers
  the message, so a captured URL cannot carry another body.
- The key is the account's EncodingAESKey (43 base64 characters, the trailing ``=`` left off) decoded to 32 bytes;
  AES-256-CBC with the key's first 16 bytes as IV, PKCS#7 padding to a multiple of 32 bytes (not AES's 16).
- The plaintext is ``16 random bytes + 4-byte big-endian length + XML + AppID``; the AppID must be ours, so a
  message encrypted for another account sharing the token and key is still refused.
- Compatible mode repeats some fields in clear next to ``<Encrypt>``. Those are not covered by the signature, so
  only the decrypted XML is read; the clear fields are ignored.
- Our ``success`` answer needs no encryption (WeChat accepts it in every mode).
- Key rotation: with ``previous_encoding_aes_key`` set beside the new key, a message the new key cannot open is
  tried with the previous one (``decrypt_any``), so pushes sealed before the change still land.

Errors: ``BadMessage`` (not a message we can read) ⊃ ``BadCiphertext`` (signed, but not decryptable, bad
padding or length) ⊃ ``WrongAccount`` (decrypted, but for another AppID). Their messages never quote key material
or plaintext.

XML comes from the internet: a body with a DTD or entity declaration is refused outright (WeChat never sends one),
and ``defusedxml`` parses the rest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_core.config import SourceConfig
from crm_core.records import Batch, SourceRecord

MAX_XML_BYTES = 64 * 1024  # a text message is at most 2048 characters; events are smaller

BLOCK_BYTES = 32  # WeChat pads to 32-byte blocks (PKCS#7 with K = 32), not to AES's 16
_HEADER_BYTES = 20  # 16 random bytes + 4-byte big-endian message length
_KNOWN = {"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Content", "Event", "EventKey"}


class BadMessage(ValueError):
    """Not a WeChat message we can read; the message is safe to return to the sender."""


class BadCiphertext(BadMessage):
    """Encrypted-mode content that does not decrypt to a well-formed plaintext (wrong key, bad padding, length)."""


class WrongAccount(BadCiphertext):
    """Decrypted fine, but the AppID inside is not this account's."""


def sign(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()  # noqa: S324


def signature_valid(token: str, params: Mapping[str, str]) -> bool:
    signature = params.get("signature") or ""
    timestamp, nonce = params.get("timestamp") or "", params.get("nonce") or ""
    if not signature or not timestamp or not nonce:
        return False
    return hmac.compare_digest(sign(token, timestamp, nonce), signature.lower())


def msg_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """Encrypted modes' signature: like ``sign`` with the ``Encrypt`` text (or encrypted ``echostr``) sorted in."""
    parts = sorted([token, timestamp, nonce, encrypted])
    return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's scheme


def msg_signature_valid(token: str, params: Mapping[str, str], encrypted: str) -> bool:
    signature = params.get("msg_signature") or ""
    timestamp, nonce = params.get("timestamp") or "", params.get("nonce") or ""
    if not signature or not timestamp or not nonce or not encrypted:
        return False
    return hmac.compare_digest(msg_signature(token, timestamp, nonce, encrypted), signature.lower())


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from an EncodingAESKey. ``ValueError`` (quoting nothing of the key) when malformed."""
    if len(encoding_aes_key) != 43 or not encoding_aes_key.isascii() or not encoding_aes_key.isalnum():
        raise ValueError("an EncodingAESKey is 43 letters and digits")
    return base64.b64decode(encoding_aes_key + "=", validate=True)


def decrypt(key: bytes, encrypted: str, app_id: str) -> bytes:
    """The XML inside ``Encrypt`` (or an encrypted ``echostr``), checked to be addressed to ``app_id``.

    Every way the content can be wrong is a ``BadCiphertext``: with a wrong key the padding (else the length field,
    else the AppID) gives it away, so garbled bytes never reach the XML parser. The length field is held to the
    plaintext, never trusted.
    """
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        sealed = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise BadCiphertext("Encrypt is not base64") from None
    if not sealed or len(sealed) % BLOCK_BYTES:
        raise BadCiphertext(f"Encrypt is not a whole number of {BLOCK_BYTES}-byte blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(sealed) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK_BYTES * 8).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise BadCiphertext("Encrypt does not decrypt with this account's key (bad padding)") from None
    if len(plain) < _HEADER_BYTES:
        raise BadCiphertext("decrypted content is shorter than its header")
    length = int.from_bytes(plain[16:_HEADER_BYTES], "big")
    if length > len(plain) - _HEADER_BYTES:
        raise BadCiphertext("decrypted length field runs past the content")
    message, addressee = plain[_HEADER_BYTES : _HEADER_BYTES + length], plain[_HEADER_BYTES + length :]
    if not hmac.compare_digest(addressee, app_id.encode("utf-8")):
        raise WrongAccount("message is encrypted for another AppID")
    return message


def decrypt_any(keys: Sequence[bytes], encrypted: str, app_id: str) -> tuple[bytes, int]:
    """``decrypt`` with each key in turn (the current EncodingAESKey's, then the previous one's): the message and the
    index of the key that opened it.

    Changing the EncodingAESKey is a click in the console, and the connection is edited by someone else a little
    before or after; messages sealed with the old key, and WeChat's retries of them, keep arriving meanwhile. A wrong
    key fails on the padding or the length field, so trying the next one is safe; a message that decrypts but names
    another AppID was opened by the right key and is refused at once. When every key fails, the current key's error
    is the one raised.
    """
    first: BadCiphertext | None = None
    for index, key in enumerate(keys):
        try:
            return decrypt(key, encrypted, app_id), index
        except WrongAccount:
            raise
        except BadCiphertext as exc:
            first = first or exc
    raise first or BadCiphertext("no EncodingAESKey to decrypt with")


def encrypted_field(body: bytes) -> str:
    """The ``<Encrypt>`` text of an encrypted- or compatible-mode envelope; its clear fields are left unread."""
    encrypted = _leaf_values(body).get("Encrypt")
    if not encrypted:
        raise BadMessage("encrypted push without <Encrypt>")
    return encrypted


def _leaf_values(body: bytes) -> dict[str, str]:
    """The text of each leaf child of ``<xml>``, after refusing what WeChat never sends (DTDs, huge bodies)."""
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
    return values


def parse_message(body: bytes) -> SourceRecord:
    """One pushed XML message → one record. ``BadMessage`` for anything that is not one."""
    values = _leaf_values(body)
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
