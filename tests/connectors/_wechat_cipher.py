"""WeChat's sender side of encrypted (safe) and compatible mode, written from the published scheme for the tests.

Independent of ``connectors.social.wechat`` on purpose (its own padding, framing and signature), so a test passes
only when the intake agrees with the spec, not with itself: plaintext = 16 random bytes + 4-byte big-endian length
+ XML + AppID, PKCS#7-padded to 32-byte blocks, AES-256-CBC with the key's first 16 bytes as IV, base64;
``msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt))``. The knobs (``padding``, ``length``) exist to
build the broken messages the intake must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def key_bytes(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def encrypt(
    xml: str | bytes,
    encoding_aes_key: str,
    app_id: str,
    *,
    padding: bytes | None = None,
    length: int | None = None,
) -> str:
    """``Encrypt`` for ``xml``; ``padding`` replaces the correct PKCS#7 tail, ``length`` the true length field."""
    message = xml.encode("utf-8") if isinstance(xml, str) else xml
    framed = os.urandom(16) + (len(message) if length is None else length).to_bytes(4, "big")
    framed += message + app_id.encode("utf-8")
    if padding is None:
        n = 32 - len(framed) % 32
        padding = bytes([n]) * n
    padded = framed + padding
    assert len(padded) % 16 == 0, "AES-CBC needs whole 16-byte blocks"
    key = key_bytes(encoding_aes_key)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def envelope(encrypted: str, account: str = "gh_7f083739789a", clear: str = "") -> bytes:
    """The POST body: safe mode has only ``ToUserName`` and ``Encrypt``; compatible mode adds ``clear`` fields."""
    return f"<xml><ToUserName><![CDATA[{account}]]></ToUserName>{clear}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()


def signed_query(token: str, encrypted: str, *, timestamp: int | None = None, nonce: str = "1320562132") -> dict[str, str]:
    """The query WeChat sends with an encrypted push (``signature`` too, though ``msg_signature`` is the one that counts)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    msg_signature = hashlib.sha1("".join(sorted([token, ts, nonce, encrypted])).encode()).hexdigest()  # noqa: S324
    signature = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()  # noqa: S324
    return {"signature": signature, "timestamp": ts, "nonce": nonce, "openid": "oia2TjjewbmiOUlr6X-1crbLOvLw",
            "encrypt_type": "aes", "msg_signature": msg_signature}
