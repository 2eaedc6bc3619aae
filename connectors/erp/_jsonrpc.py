"""A small Tryton JSON-RPC client: login, one ``call``, and every Tryton failure turned into our error classes.

Why not proteus: it loads the whole model registry per session (seconds) and hides the wire; the hub needs a handful
of calls and exact control over the ``_timestamp`` context that makes Tryton refuse a stale write.

Wire facts worth knowing:
- the endpoint is ``/<database>/rpc/`` (a POST to ``/<database>/`` answers 405);
- ``common.db.login`` returns ``[user_id, session, …]``; later calls send
  ``Authorization: Session base64(login:user_id:session)``; an expired session answers HTTP 401;
- a failed call still answers HTTP 200, with ``{"error": [ExceptionName, args…]}``;
- datetimes travel as ``{"__class__": "datetime", "year": …}``.

Classification (table-tested in ``tests/destinations/test_tryton_errors.py``):

    HTTP 401 after one re-login, 403, 404 (no such database)  → FatalError
    HTTP 408/425/429/5xx, network errors, RateLimitException,
    TimeOutException                                           → RetriableError
    ConcurrencyException                                       → ConcurrencyConflict (a SkippableError)
    UserError (and its subclasses), UserWarning, other        → SkippableError with Tryton's own message
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import requests

from connectors.http import error_for_response, request, retrying, truncate
from crm_core.errors import ConnectorError, FatalError, RetriableError, SkippableError


class ConcurrencyConflict(SkippableError):
    """Tryton refused a write because the record changed after we read it (``_timestamp`` check)."""


# Tryton's exception names (first element of a JSON-RPC ``error``) → our class. Every subclass of ``UserError``
# (AccessError, the validation errors, ForeignKeyError…) travels as "UserError".
VENDOR_ERRORS: dict[str, type[ConnectorError]] = {
    "ConcurrencyException": ConcurrencyConflict,
    "UserError": SkippableError,
    "UserWarning": SkippableError,
    "LoginException": FatalError,
    "RateLimitException": RetriableError,
    "TimeOutException": RetriableError,
}


def encode(value: Any) -> Any:
    """Python values to Tryton's JSON encoding (datetimes and decimals are tagged objects)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # Tryton stores naive UTC
            value = value.astimezone(UTC).replace(tzinfo=None)
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Tryton's tagged objects back to Python; datetimes come back aware, in UTC."""
    if isinstance(value, dict):
        kind = value.get("__class__")
        if kind == "datetime":
            return datetime(value["year"], value["month"], value["day"], value["hour"], value["minute"],
                            value["second"], value.get("microsecond", 0), tzinfo=UTC)
        if kind == "date":
            return date(value["year"], value["month"], value["day"])
        if kind == "Decimal":
            return Decimal(value["decimal"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def error_for_rpc(error: Any, method: str) -> ConnectorError:
    """Our error for a JSON-RPC ``error`` member; the message keeps Tryton's text, truncated (it may name a party)."""
    name = str(error[0]) if isinstance(error, list | tuple) and error else "Error"
    detail: Any = error[1] if isinstance(error, list | tuple) and len(error) > 1 else ""
    if isinstance(detail, list | tuple):  # UserError: [message, description, domain]; UserWarning: [name, message, …]
        detail = detail[1 if name == "UserWarning" else 0] if len(detail) > 1 else (detail[0] if detail else "")
    cls = VENDOR_ERRORS.get(name, SkippableError)
    code = name if name in VENDOR_ERRORS else "ServerError"
    text = truncate(str(detail if name in VENDOR_ERRORS else name))
    return cls(f"{method}: {text}", vendor_code=code)


class TrytonRpc:
    """One logged-in JSON-RPC session to one Tryton database; logs in on first use and once more on HTTP 401."""

    def __init__(self, base_url: str, database: str, login: str, password: str,
                 session: requests.Session | None = None, attempts: int = 5) -> None:
        self.url = f"{base_url.rstrip('/')}/{database}/rpc/"
        self._login, self._password = login, password
        self.http = session or requests.Session()
        self.http.trust_env = False
        self._auth: str | None = None
        self.calls = 0  # every HTTP request made, for benchmarks and call-count tests
        self._call = retrying(attempts)(self._call_once)

    def _post(self, method: str, params: list[Any], auth: bool) -> requests.Response:
        headers = {"Authorization": self._auth} if auth and self._auth else {}
        self.calls += 1
        return request(self.http, "POST", self.url, headers=headers,
                       json={"id": self.calls, "method": method, "params": encode(params)})

    def login(self) -> None:
        response = self._post("common.db.login", [self._login, {"password": self._password}, "en"], auth=False)
        if response.status_code in (401, 403):
            raise FatalError("Tryton refused the login (check the connection's login and password)",
                             status=response.status_code, vendor_code="LoginException")
        if response.status_code == 404:
            raise FatalError("Tryton has no such database (check the connection's schema)", status=404)
        failure = error_for_response(response)
        if failure is not None:
            raise failure
        body = response.json()
        if "error" in body:
            raise error_for_rpc(body["error"], "common.db.login")
        user_id, session = body["result"][:2]
        token = base64.b64encode(f"{self._login}:{user_id}:{session}".encode()).decode("ascii")
        self._auth = f"Session {token}"

    def _call_once(self, method: str, params: list[Any]) -> Any:
        if self._auth is None:
            self.login()
        response = self._post(method, params, auth=True)
        if response.status_code == 401:  # session expired or revoked: log in again, once
            self.login()
            response = self._post(method, params, auth=True)
        if response.status_code == 404:
            raise FatalError(f"{method}: Tryton has no such database or method", status=404)
        failure = error_for_response(response, obj=method)
        if failure is not None:
            raise failure
        body = response.json()
        if "error" in body:
            raise error_for_rpc(body["error"], method)
        return decode(body.get("result"))

    def call(self, method: str, *params: Any) -> Any:
        """``model.party.party.write`` etc.; retriable failures are retried with backoff, the rest raise."""
        return self._call(method, list(params))
