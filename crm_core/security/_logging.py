"""The PII-masking log filter and the one call every entry point makes to install it.

Python applies a *logger's* filters only to records logged on that very logger, not to records propagated from
its children, so a filter on the root logger alone would miss ``crm_core.landing``'s lines. ``install_log_masking``
therefore masks at the source: it wraps the log record factory, so every record from every logger is masked when it
is created, whichever handler (ours, Airflow's, pytest's) formats it later. The filter is also attached to the root
logger's handlers for records built by code that bypasses the factory.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from typing import Any
from urllib.parse import urlsplit

from ._masking import mask_text, register_secret

_installed = False
_SECRET_EXTRA_KEYS = ("password", "secret", "token", "key", "signature", "session")


class PiiMaskingFilter(logging.Filter):
    """Rewrite a record so its message, arguments and exception text carry no personal data or secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pii_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line, nor leak the arguments
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg, record.args = mask_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        record._pii_masked = True
        return True


def register_environment_secrets(environ: dict[str, str] | None = None) -> None:
    """Register the secrets the process was given: ``HUB_*KEY``, and the passwords/tokens of ``AIRFLOW_CONN_*``."""
    env = os.environ if environ is None else environ
    for name, value in env.items():
        if name in ("HUB_SECRET_KEY", "HUB_HASH_KEY", "AIRFLOW_VAR_HUB_SECRET_KEY", "AIRFLOW_VAR_HUB_HASH_KEY"):
            for key in value.split(","):
                register_secret(key.strip())
        elif name.startswith("AIRFLOW_CONN_"):
            for secret in _connection_secrets(value):
                register_secret(secret)


def _connection_secrets(value: str) -> list[str]:
    out: list[str] = []
    value = value.strip()
    try:
        if value.startswith("{"):
            data: dict[str, Any] = json.loads(value)
            out.append(str(data.get("password") or ""))
            extra = data.get("extra") or {}
            extra = json.loads(extra) if isinstance(extra, str) and extra else extra
        else:
            parts = urlsplit(value)
            out.append(parts.password or "")
            extra = {}
    except (ValueError, TypeError):
        return []
    if isinstance(extra, dict):
        out += [str(v) for k, v in extra.items() if any(s in str(k).lower() for s in _SECRET_EXTRA_KEYS)]
    return [s for s in out if s]


def install_log_masking() -> None:
    """Mask personal data and secrets in every log record of this process. Idempotent; call it at start-up.

    Entry points: ``crm_core.cli.main`` and each Airflow task (``crm_core.security.install_log_masking()`` first
    thing in the task body), the webhook intake app on start.
    """
    global _installed
    register_environment_secrets()
    masking = PiiMaskingFilter()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, PiiMaskingFilter) for f in handler.filters):
            handler.addFilter(masking)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        masking.filter(record)
        return record

    logging.setLogRecordFactory(masked_record)
    _installed = True
