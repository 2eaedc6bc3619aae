"""Paging strategies and JSON GETs with the vendor's own error message, shared by the REST pull connectors.

A paginator is a small strategy object: ``update(body)`` reads a page, ``params()`` shapes the next request,
``has_next`` says whether there is one. A page token seen twice is the vendor looping: ``FatalError``, never an
endless run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import requests

from connectors.http import error_for_response, redact_url, request, retrying, truncate
from crm_core.errors import FatalError, RetriableError


class Paginator(Protocol):
    has_next: bool

    def params(self) -> dict[str, str]: ...

    def update(self, body: Any) -> None: ...


def dig(body: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(part)
    return body


class TokenPaginator:
    """The next page's token is in the body (``meta.next_token`` for X, ``next_page_token`` for form backends)
    and goes back as a query parameter (``pagination_token``, ``page_token``)."""

    def __init__(self, token_path: Sequence[str], param: str) -> None:
        self.token_path = tuple(token_path)
        self.param = param
        self.token: str | None = None
        self.has_next = True
        self._seen: set[str] = set()

    def params(self) -> dict[str, str]:
        return {self.param: self.token} if self.token else {}

    def update(self, body: Any) -> None:
        token = dig(body, self.token_path)
        if token in (None, ""):
            self.token, self.has_next = None, False
            return
        token = str(token)
        if token in self._seen:
            raise FatalError(f"the vendor returned page token {truncate(token, 40)!r} twice; stopping instead of looping")
        self._seen.add(token)
        self.token, self.has_next = token, True


def vendor_message(response: requests.Response) -> tuple[str | None, str | None]:
    """(message, code) from a JSON error body in the shapes vendors use; bodies are truncated, never logged whole."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (truncate(text) if text else None), None
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        body = first if isinstance(first, Mapping) else {"message": str(first)}
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]
    if not isinstance(body, Mapping):
        return None, None
    message = next(
        (str(body[k]) for k in ("detail", "message", "error_description", "error", "title") if body.get(k)), None
    )
    code = next((str(body[k]) for k in ("code", "type", "error_code") if body.get(k) not in (None, "")), None)
    return (truncate(message) if message else None), (truncate(code, 80) if code else None)


def check(response: requests.Response) -> None:
    """Raise our error class for a failed response, with the vendor's message and code attached."""
    error = error_for_response(response)
    if error is None:
        return
    message, code = vendor_message(response)
    retry_after = error.retry_after
    reset = response.headers.get("x-rate-limit-reset")  # X: epoch seconds when the window resets
    if response.status_code == 429 and retry_after is None and reset and reset.isdigit():
        import time

        retry_after = max(0.0, int(reset) - time.time())
    text = str(error).split(" status=")[0] + (f": {message}" if message else "")
    raise type(error)(text, status=error.status, vendor_code=code, retry_after=retry_after) from None


def get_json(
    session: requests.Session, url: str, params: Mapping[str, str], attempts: int = 5, timeout: float = 30.0
) -> Any:
    """GET with retries on our ``RetriableError`` only (5xx, 429 honouring Retry-After, network errors)."""

    @retrying(attempts=attempts)
    def once() -> Any:
        response = request(session, "GET", url, params=dict(params), timeout=timeout)
        check(response)
        try:
            return response.json()
        except ValueError as exc:
            raise RetriableError(f"GET {redact_url(url)}: response is not JSON", status=response.status_code) from exc

    return once()


__all__ = ["Paginator", "TokenPaginator", "check", "dig", "get_json", "vendor_message"]
