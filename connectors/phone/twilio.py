"""Twilio-style Calls REST API as a source (kind ``twilio_calls``): ``GET /2010-04-01/Accounts/{Sid}/Calls.json``.

Calls are listed newest first and filtered by ``StartTime>`` (on the wire ``StartTime>=2025-08-23T00:00:00Z``:
the parameter's name ends in ``>``). A call is listed as soon as it starts, while still ``ringing`` or
``in-progress``; its duration, end time and price arrive later. So the window always re-reads an overlap:

    next window start = min(start of the oldest call not yet final, newest start seen - overlap)

never earlier than the current window start. A call read again unchanged lands as a no-op (same CallSid, same
content hash); a call whose content changed (it completed) lands as a new version of the same key.

The source is *unordered* (newest first): intermediate batches carry the previous cursor and only the last page's
batch carries the new one, so a run killed half-way re-reads the whole window instead of skipping part of it.
Paging follows ``next_page_uri``; a URI seen twice is a server bug we refuse to loop on (``FatalError``).

Errors go through ``connectors.http``: 429 (``Retry-After`` honoured, capped) and 5xx are retried with jittered
backoff; 401/403 stop the run at once with Twilio's own message and error code. Credentials: the connection's
login is the Account SID, its password the auth token; ``extra.base_url`` points elsewhere than
``https://api.twilio.com`` (Prism, a proxy).

Options: ``page_size`` (100), ``overlap_minutes`` (240: Twilio ends calls after 4 hours), ``since`` (first window
start, ISO 8601; default 30 days back), ``attempts`` (5), ``timeout`` (30 s).
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import requests

from connectors.credentials import Credentials, get_credentials
from connectors.http import error_for_response, request, retrying, truncate
from crm_core.errors import ConfigError, FatalError
from crm_core.records import Batch, SourceRecord

FINAL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}
KEPT_FIELDS = (
    "sid", "parent_call_sid", "from", "to", "from_formatted", "to_formatted", "caller_name", "forwarded_from",
    "direction", "status", "answered_by", "duration", "price", "price_unit", "phone_number_sid",
)
TIME_FIELDS = ("start_time", "end_time", "date_created", "date_updated")


@dataclass(frozen=True)
class TwilioOptions:
    page_size: int = 100
    overlap_minutes: int = 240
    since: str | None = None
    attempts: int = 5
    timeout: float = 30.0


def parse_time(value: Any) -> datetime | None:
    """Twilio writes RFC 2822 dates (``Fri, 18 Oct 2019 17:02:00 +0000``); accept ISO 8601 as well."""
    if not value or not isinstance(value, str):
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def call_payload(call: Mapping[str, Any]) -> dict[str, Any]:
    """The call's own fields, times in ISO 8601 UTC; links (``uri``, ``subresource_uris``) dropped as noise."""
    payload: dict[str, Any] = {"schema": "twilio_call/1"}
    for key in KEPT_FIELDS:
        payload[key] = call.get(key)
    for key in TIME_FIELDS:
        when = parse_time(call.get(key))
        payload[key] = when.isoformat() if when else None
    if payload["duration"] is not None:
        try:
            payload["duration"] = int(payload["duration"])
        except (TypeError, ValueError):
            payload["duration"] = None
    payload["final"] = call.get("status") in FINAL_STATUSES
    # the customer is the caller on inbound calls and the called party on outbound ones (outbound-api, -dial),
    # which a mapping spec cannot choose by itself
    inbound = str(call.get("direction") or "inbound").startswith("inbound")
    payload["customer_number"] = call.get("from") if inbound else call.get("to")
    return payload


class NextPageUri:
    """Paging strategy: the next URL comes from the page body; a URI seen before is an error, not a loop."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.seen: set[str] = set()

    def next_url(self, page: Mapping[str, Any]) -> str | None:
        uri = page.get("next_page_uri")
        if not uri:
            return None
        if uri in self.seen:
            raise FatalError("Twilio returned a next_page_uri it had already returned; refusing to loop",
                             obj="Calls.json")
        self.seen.add(uri)
        return urljoin(self.base_url + "/", str(uri).lstrip("/"))


class TwilioCallsSource:
    ordered = False

    def __init__(self, name: str, credentials: Credentials, options: TwilioOptions,
                 session: requests.Session | None = None) -> None:
        if not credentials.login or not credentials.password:
            raise ConfigError("hub.yaml", [f"sources.{name}: connection {credentials.conn_id!r} needs the Account SID "
                                           "as login and the auth token as password"])
        self.name = name
        self.credentials = credentials
        self.options = options
        self.base_url = credentials.base_url() if (credentials.host or credentials.extra.get("base_url")) else (
            "https://api.twilio.com")
        self.session = session or requests.Session()
        self.session.auth = (credentials.login, credentials.password)
        self._get = retrying(attempts=options.attempts)(self._get_once)

    def _get_once(self, url: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        response = request(self.session, "GET", url, params=params, timeout=self.options.timeout,
                           headers={"Accept": "application/json"})
        body: Any = None
        try:
            body = response.json()
        except ValueError:
            body = None
        error = error_for_response(response, vendor_code=_code(body), obj="Calls.json")
        if error is not None:
            vendor_message = body.get("message") if isinstance(body, dict) else None
            if vendor_message:  # Twilio's words ("Authenticate"), never our token or the query string
                error.args = (f"{error.args[0]}: Twilio says {truncate(str(vendor_message), 160)!r}",)
            raise error
        if not isinstance(body, dict):
            raise FatalError("Twilio answered without a JSON object", status=response.status_code, obj="Calls.json")
        return body

    def _window_start(self, cursor: Mapping[str, Any] | None) -> datetime:
        if cursor and cursor.get("start_time_from"):
            return datetime.fromisoformat(cursor["start_time_from"])
        if self.options.since:
            return parse_time(self.options.since) or datetime.now(UTC) - timedelta(days=30)
        return (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        window_start = self._window_start(cursor)
        previous = dict(cursor or {})
        url: str | None = f"{self.base_url}/2010-04-01/Accounts/{self.credentials.login}/Calls.json"
        params: dict[str, Any] | None = {
            "StartTime>": window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PageSize": self.options.page_size,
        }
        paging = NextPageUri(self.base_url)
        newest: datetime | None = None
        oldest_open: datetime | None = None
        while url is not None:
            page = self._get(url, params)
            params = None  # next_page_uri carries the query
            records = []
            for call in page.get("calls") or []:
                if not isinstance(call, Mapping) or not call.get("sid"):
                    continue
                payload = call_payload(call)
                started = parse_time(call.get("start_time"))
                if started is not None:
                    newest = max(newest or started, started)
                    if not payload["final"]:
                        oldest_open = min(oldest_open or started, started)
                records.append(SourceRecord(str(call["sid"]), payload, started))
            url = paging.next_url(page)
            if url is None:
                yield Batch(records=records, cursor=self._next_cursor(window_start, newest, oldest_open))
            else:
                yield Batch(records=records, cursor=previous)

    def _next_cursor(self, window_start: datetime, newest: datetime | None, oldest_open: datetime | None) -> dict[str, Any]:
        overlap = timedelta(minutes=self.options.overlap_minutes)
        candidate = (newest or datetime.now(UTC).replace(microsecond=0)) - overlap
        if oldest_open is not None:
            candidate = min(candidate, oldest_open)
        return {"start_time_from": max(window_start, candidate).isoformat()}


def _code(body: Any) -> str | None:
    return str(body["code"]) if isinstance(body, dict) and body.get("code") is not None else None


def build(config: Any, hub: Any) -> TwilioCallsSource:
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"sources.{config.name}: kind twilio_calls needs connection_id"])
    known = set(TwilioOptions.__dataclass_fields__)
    unknown = sorted(set(config.options) - known)
    if unknown:
        raise ConfigError("hub.yaml", [f"sources.{config.name}.options: unknown option(s) {', '.join(unknown)}"])
    return TwilioCallsSource(config.name, get_credentials(config.connection_id), TwilioOptions(**config.options))
