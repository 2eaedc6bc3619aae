"""Website forms that post to us: the signing contract and the ``form_webhook`` source.

A form backend (or the website's own server) posts each submission to ``POST /intake/{source}`` of the intake app
(``connectors.intake``), signed like this::

    X-Signature-Timestamp: 1755915300                 (Unix seconds when the sender signed)
    X-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body bytes)>
    X-Submission-Id: sub-123                          (optional; else the body's id field, else a content hash)

The raw body is the bytes on the wire (still gzip-compressed when ``Content-Encoding: gzip``), so an unsigned or
forged body is refused before we spend anything on decompressing or parsing it. The timestamp binds the signature
to a five-minute window; within it, the intake remembers signatures it has accepted and refuses an exact replay.

The secret comes from the source's connection (its password), never from ``hub.yaml``.

Submissions are landed by the intake as they arrive, so the ``form_webhook`` source has nothing to pull:
``crmhub ingest`` on it reads nothing, and its cursor only records when the intake last landed something.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from crm_core.config import SourceConfig
from crm_core.records import Batch

TIMESTAMP_HEADER = "X-Signature-Timestamp"
SIGNATURE_HEADER = "X-Signature"
SUBMISSION_ID_HEADER = "X-Submission-Id"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Signature`` value a sender puts on ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_valid(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time comparison; a timestamp that is not plain digits never verifies."""
    if not timestamp.isdigit() or not timestamp.isascii():
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature.strip())


def timestamp_fresh(timestamp: str, now: float, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Within ``tolerance`` seconds either side of now (a sender's clock may run a little ahead)."""
    if not timestamp.isdigit() or not timestamp.isascii() or len(timestamp) > 12:
        return False
    return abs(now - int(timestamp)) <= tolerance


@dataclass
class FormWebhookSource:
    """Push source: the intake lands submissions as they arrive; reading it yields nothing."""

    name: str
    form: str | None
    ordered: bool = True

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        return iter(())


def build(config: SourceConfig, hub: Any) -> FormWebhookSource:
    return FormWebhookSource(name=config.name, form=config.options.get("form"))
