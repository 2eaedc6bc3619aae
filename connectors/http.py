"""HTTP plumbing every REST connector shares: error classification at the boundary and polite retries.

A response becomes one of our error classes exactly once, here:

    401, 403           → FatalError       (credentials or permissions: retrying cannot help)
    400, 404, 409, 422 → SkippableError   (this request/record is bad: dead letter it, carry on)
    408, 425, 429, 5xx → RetriableError   (with ``retry_after`` from the Retry-After header, capped)
    network errors     → RetriableError   (timeouts, refused or reset connections)

Messages carry status, vendor code and the path without its query string; bodies are truncated, because CRM
responses echo personal data.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from crm_core.errors import ConnectorError, FatalError, RetriableError, SkippableError

T = TypeVar("T")

MAX_RETRY_AFTER = 60.0  # seconds: honour the vendor, but never park a worker for longer than this
BODY_LIMIT = 200

_RETRIABLE = {408, 425, 429, 500, 502, 503, 504}
_FATAL = {401, 403}


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def redact_url(url: str) -> str:
    """Drop the query string: it may hold tokens (``access_token=``) or personal data (``email=``)."""
    return re.sub(r"\?.*$", "?…", url)


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def error_for_response(
    response: requests.Response, vendor_code: str | None = None, obj: str | None = None
) -> ConnectorError | None:
    """Our error for a failed response, or None when it succeeded."""
    status = response.status_code
    if status < 400:
        return None
    where = f"{response.request.method if response.request else 'GET'} {redact_url(response.url)}"
    message = f"{where} failed"
    if status in _RETRIABLE or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RetriableError(message, status=status, vendor_code=vendor_code, obj=obj, retry_after=retry_after)
    if status in _FATAL:
        return FatalError(message, status=status, vendor_code=vendor_code, obj=obj)
    return SkippableError(message, status=status, vendor_code=vendor_code, obj=obj)


def raise_for_response(response: requests.Response, vendor_code: str | None = None, obj: str | None = None) -> None:
    error = error_for_response(response, vendor_code, obj)
    if error is not None:
        raise error


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    backoff = wait_random_exponential(multiplier=0.5, max=30)(state)
    if isinstance(exc, RetriableError) and exc.retry_after is not None:
        return min(max(exc.retry_after, backoff), MAX_RETRY_AFTER)
    return backoff


def retrying(attempts: int = 5, wait: Callable[[RetryCallState], float] = _wait) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: retry on ``RetriableError`` only, with jittered backoff honouring Retry-After (capped)."""
    return retry(
        retry=retry_if_exception_type(RetriableError),
        wait=wait,
        stop=stop_after_attempt(attempts),
        reraise=True,
    )


def request(session: requests.Session, method: str, url: str, *, timeout: float = 30.0, **kwargs: Any) -> requests.Response:
    """One HTTP call with network failures mapped to ``RetriableError``; status mapping is the caller's choice."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise RetriableError(f"{method} {redact_url(url)}: {type(exc).__name__}") from exc
