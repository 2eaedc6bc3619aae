"""Salesforce as a destination: Contacts upserted by the hub's external id, through simple-salesforce.

Calls, and why these:

* read: one SOQL query per chunk of hub keys (``WHERE Hub_Customer_Id__c IN (…)``), pages of up to 2,000 records
  chained by ``nextRecordsUrl``; pull-back: ``WHERE SystemModstamp >= cursor ORDER BY SystemModstamp``.
* create: sObject Collections upsert by external id (``PATCH composite/sobjects/Contact/<field>``, 200 records per
  call, ``allOrNone`` false so one bad record fails alone). Upsert by the hub key makes a re-send after a lost
  response update the record it already created instead of making a duplicate.
* update, ``concurrency: strict`` (default): Composite (25 subrequests per call), each a ``PATCH sobjects/Contact/<Id>``
  carrying ``If-Unmodified-Since`` = the LastModifiedDate we read, so an edit made between our read and our write
  answers 412 and is re-planned, never overwritten. Collections cannot carry conditional headers.
  ``concurrency: collections`` updates through Collections too (8× fewer calls) and accepts that race window.

Errors, classified once here (``classify``):

    SalesforceExpiredSession INVALID_SESSION_ID → new token (client credentials), call repeated once
    SalesforceRefusedRequest REQUEST_LIMIT_EXCEEDED (403, not 429) → QuotaExceeded (stop cleanly, resume next run)
    other 401/403                               → FatalError
    5xx, network errors                         → RetriableError (tenacity, backoff)
    300, 400, 404                               → SkippableError (per record: dead letter)

Per-record failures inside a 200 answer become ``PushResult(ok=False, error_class=<errorCode>)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
)

from crm_core.errors import ConnectorError, FatalError, RetriableError, SkippableError
from crm_core.records import OutboundItem, PushResult, QuotaExceeded, RemoteBatch, RemoteRecord

from .credentials import get_credentials
from .http import redact_url, retrying, truncate

T = TypeVar("T")
API_VERSION = "59.0"
COLLECTION_LIMIT = 200  # sObject Collections
DEFAULT_TIMEOUT = 60.0  # seconds per HTTP call (connect and each read)
COMPOSITE_LIMIT = 25  # Composite subrequests
KEYS_PER_QUERY = 300  # keeps the GET query URL well under Salesforce's 16 KB limit
VERSION_FIELDS = ("Id", "LastModifiedDate", "SystemModstamp")
# per-record error codes worth another try later (record locks, timeouts inside Salesforce)
RETRIABLE_CODES = {"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE"}


def _vendor_error(exc: SalesforceError) -> tuple[str | None, str]:
    content = exc.content
    if isinstance(content, bytes | bytearray):
        try:
            content = json.loads(content)
        except ValueError:
            content = content.decode("utf-8", "replace")
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return content[0].get("errorCode"), str(content[0].get("message", ""))
    return None, truncate(str(content))


def classify(exc: Exception) -> ConnectorError:
    """Our error for a simple-salesforce or network exception (messages without bodies or query strings)."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return RetriableError(f"Salesforce unreachable: {type(exc).__name__}")
    if not isinstance(exc, SalesforceError):
        return FatalError(f"Salesforce client failed: {type(exc).__name__}")
    code, message = _vendor_error(exc)
    where = f"Salesforce {exc.resource_name or ''} {redact_url(str(exc.url))}".strip()
    status = exc.status
    text = f"{where}: {truncate(message)}" if message else where
    if code == "REQUEST_LIMIT_EXCEEDED":
        return QuotaExceeded(text, status=status, vendor_code=code)
    if isinstance(exc, SalesforceMoreThanOneRecord):
        return SkippableError(f"{where}: several records carry this external id", status=300,
                              vendor_code="MULTIPLE_EXTERNAL_ID_MATCHES")
    if status in (401, 403) or isinstance(exc, SalesforceExpiredSession | SalesforceRefusedRequest):
        return FatalError(text, status=status, vendor_code=code)
    if status >= 500 or status in (408, 429):
        return RetriableError(text, status=status, vendor_code=code)
    return SkippableError(text, status=status, vendor_code=code)


def http_date(sf_timestamp: str) -> str:
    """``2026-01-05T09:00:01.000+0000`` → ``Mon, 05 Jan 2026 09:00:01 GMT`` (If-Unmodified-Since wants an HTTP date)."""
    when = datetime.strptime(sf_timestamp, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    return format_datetime(when.replace(microsecond=0), usegmt=True)


_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def soql_name(name: str) -> str:
    """A field or object name, checked: names come from the target map, values go through ``format_soql``."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a Salesforce field or object name: {name!r}")
    return name


def select_soql(sobject: str, fields: Sequence[str], where: str = "", order_by: str | None = None,
                **values: Any) -> str:
    """``SELECT … FROM …`` with checked names and values quoted by simple-salesforce's ``format_soql``."""
    clauses = ["SELECT {fields:literal}", "FROM {sobject:literal}"]
    if where:
        clauses.append("WHERE " + where)
    if order_by:
        clauses.append("ORDER BY {order_by:literal}")
    template = " ".join(clauses)
    return format_soql(template, fields=", ".join(soql_name(f) for f in fields), sobject=soql_name(sobject),
                       order_by=soql_name(order_by) if order_by else None, **values)


def _parse_ts(value: Any) -> datetime | None:
    """Salesforce writes ``…000+0000``; cursors stored as ISO text read back too."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class SalesforceDestination:
    """Contacts in one Salesforce org. ``fields`` are the target fields the map reads and writes."""

    batch_size = COLLECTION_LIMIT

    def __init__(
        self,
        *,
        name: str,
        sobject: str,
        external_id_field: str,
        fields: Sequence[str],
        instance_url: str,
        access_token: str,
        session: requests.Session,
        client_id: str | None = None,
        client_secret: str | None = None,
        concurrency: str = "strict",
        api_version: str = API_VERSION,
    ) -> None:
        if concurrency not in ("strict", "collections"):
            raise ValueError("concurrency must be 'strict' or 'collections'")
        self.name = name
        self.sobject = sobject
        self.external_id_field = external_id_field
        self.fields = list(dict.fromkeys([*fields, external_id_field]))
        self.instance_url = instance_url.rstrip("/")
        self.session = session
        self.client_id, self._client_secret = client_id, client_secret
        self.concurrency = concurrency
        self.api_version = api_version
        self.sf = Salesforce(instance_url=self.instance_url, session_id=access_token, session=session,
                             version=api_version)

    def __repr__(self) -> str:
        return f"SalesforceDestination({self.name!r}, {self.instance_url!r})"

    # ------------------------------------------------------------------ calls

    def _reauthenticate(self) -> None:
        """OAuth 2.0 client credentials against the org's own token endpoint; the new token replaces the old."""
        if not (self.client_id and self._client_secret):
            raise FatalError("Salesforce session expired and no client credentials to renew it",
                             vendor_code="INVALID_SESSION_ID")
        response = self.session.post(
            f"{self.instance_url}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self._client_secret},
            timeout=30,
        )
        if response.status_code != 200:
            raise FatalError("Salesforce token request refused", status=response.status_code,
                             vendor_code=str(response.json().get("error")) if response.content else None)
        self.sf.session_id = response.json()["access_token"]
        self.sf._generate_headers()
        self.sf.headers = dict(self.sf.headers)

    def _call(self, fn: Callable[[], T]) -> T:
        """One API call: vendor exceptions classified, transient ones retried, an expired session renewed once."""

        @retrying(attempts=4)
        def attempt() -> T:
            try:
                return fn()
            except SalesforceExpiredSession as exc:
                if _vendor_error(exc)[0] != "INVALID_SESSION_ID":
                    raise classify(exc) from exc
                self._reauthenticate()
                try:
                    return fn()
                except Exception as again:
                    raise classify(again) from again
            except Exception as exc:
                raise classify(exc) from exc

        return attempt()

    def _query(self, soql: str) -> Iterator[dict[str, Any]]:
        page = self._call(lambda: self.sf.query(soql))
        while True:
            yield from page["records"]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            url = page["nextRecordsUrl"]
            page = self._call(lambda url=url: self.sf.query_more(url, identifier_is_url=True))

    def _remote(self, row: Mapping[str, Any]) -> RemoteRecord:
        fields = {k: v for k, v in row.items() if k != "attributes"}
        return RemoteRecord(
            external_id=str(row["Id"]),
            fields=fields,
            version=row.get("LastModifiedDate"),
            updated_at=_parse_ts(row.get("LastModifiedDate")),
            hub_key=row.get(self.external_id_field),
        )

    def _select(self) -> list[str]:
        return list(dict.fromkeys([*VERSION_FIELDS, *self.fields]))

    # ------------------------------------------------------------------ Destination

    def fetch(self, keys: Sequence[str]) -> dict[str, RemoteRecord]:
        """Current Contacts by hub key; keys without a record are absent. Duplicates keep the oldest record."""
        found: dict[str, RemoteRecord] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            soql = select_soql(self.sobject, self._select(), "{key_field:literal} IN {keys}", "CreatedDate",
                               key_field=soql_name(self.external_id_field), keys=list(chunk))
            for row in self._query(soql):
                found.setdefault(str(row[self.external_id_field]), self._remote(row))
        return found

    def changed_since(self, cursor: Mapping[str, Any] | None) -> Iterator[RemoteBatch]:
        """Contacts modified at or after the cursor, oldest first; ``>=`` because several records can share a
        SystemModstamp across a page boundary (the engine recognises what it has already seen)."""
        since = (cursor or {}).get("system_modstamp")
        soql = select_soql(self.sobject, self._select(), "SystemModstamp >= {since}" if since else "",
                           "SystemModstamp", since=_parse_ts(since) if since else None)
        batch: list[RemoteRecord] = []
        last = since
        for row in self._query(soql):
            batch.append(self._remote(row))
            last = row.get("SystemModstamp") or last
            if len(batch) >= 2000:
                yield RemoteBatch(records=batch, cursor=dict(cursor or {}))
                batch = []
        yield RemoteBatch(records=batch, cursor={"system_modstamp": last} if last else {})

    def upsert(self, items: Sequence[OutboundItem]) -> list[PushResult]:
        creates = [i for i in items if i.external_id is None or self.concurrency == "collections"]
        updates = [i for i in items if i.external_id is not None and self.concurrency == "strict"]
        results: list[PushResult] = []
        for start in range(0, len(creates), COLLECTION_LIMIT):
            results.extend(self._collection_upsert(creates[start : start + COLLECTION_LIMIT]))
        for start in range(0, len(updates), COMPOSITE_LIMIT):
            results.extend(self._conditional_updates(updates[start : start + COMPOSITE_LIMIT]))
        return results

    def delete(self, external_ids: Sequence[str]) -> list[str]:
        """Delete Contacts (erasure); returns the ids that are gone (already deleted counts as gone)."""
        gone: list[str] = []
        for start in range(0, len(external_ids), COLLECTION_LIMIT):
            chunk = list(external_ids[start : start + COLLECTION_LIMIT])
            answer = self._call(lambda chunk=chunk: self.sf.restful(
                "composite/sobjects", params={"ids": ",".join(chunk), "allOrNone": "false"}, method="DELETE"))
            for rid, row in zip(chunk, answer or [], strict=False):
                codes = {e.get("statusCode") or e.get("errorCode") for e in row.get("errors", [])}
                if row.get("success") or "ENTITY_IS_DELETED" in codes:
                    gone.append(rid)
        return gone

    # ------------------------------------------------------------------ writes

    def _collection_upsert(self, items: Sequence[OutboundItem]) -> list[PushResult]:
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": self.sobject}, **item.fields, self.external_id_field: item.hub_key}
                        for item in items],
        }
        path = f"composite/sobjects/{self.sobject}/{self.external_id_field}"
        answer = self._call(lambda: self.sf.restful(path, method="PATCH", json=body)) or []
        results = []
        for item, row in zip(items, answer, strict=True):
            if row.get("success"):
                results.append(PushResult(item.customer_id, True, external_id=row.get("id"),
                                          created=bool(row.get("created"))))
            else:
                results.append(self._failure(item, row.get("errors") or []))
        return results

    def _conditional_updates(self, items: Sequence[OutboundItem]) -> list[PushResult]:
        base = f"/services/data/v{self.api_version}/sobjects/{self.sobject}"
        subrequests = []
        for n, item in enumerate(items):
            sub: dict[str, Any] = {"method": "PATCH", "url": f"{base}/{item.external_id}", "referenceId": f"r{n}",
                                   "body": dict(item.fields)}
            if item.expected_version:
                sub["httpHeaders"] = {"If-Unmodified-Since": http_date(item.expected_version)}
            subrequests.append(sub)
        answer = self._call(lambda: self.sf.restful(
            "composite", method="POST", json={"allOrNone": False, "compositeRequest": subrequests}))
        by_ref = {r["referenceId"]: r for r in (answer or {}).get("compositeResponse", [])}
        results = []
        for n, item in enumerate(items):
            row = by_ref.get(f"r{n}", {})
            status = int(row.get("httpStatusCode", 500))
            if status in (200, 204):
                results.append(PushResult(item.customer_id, True, external_id=item.external_id))
            elif status == 412:
                results.append(PushResult(item.customer_id, False, external_id=item.external_id, stale=True,
                                          error_class="PRECONDITION_FAILED",
                                          error_message="changed in Salesforce after it was read"))
            else:
                body = row.get("body")
                results.append(self._failure(item, body if isinstance(body, list) else [], status))
        return results

    @staticmethod
    def _failure(item: OutboundItem, errors: Sequence[Mapping[str, Any]], status: int | None = None) -> PushResult:
        first = errors[0] if errors else {}
        code = str(first.get("errorCode") or first.get("statusCode") or f"HTTP_{status or 'ERROR'}")
        fields = first.get("fields") or []
        message = truncate(str(first.get("message", "")), 300) + (f" (fields: {', '.join(fields)})" if fields else "")
        return PushResult(item.customer_id, False, external_id=item.external_id, error_class=code,
                          error_message=message, retriable=code in RETRIABLE_CODES or (status or 0) >= 500)


class TimeoutSession(requests.Session):
    """A session whose requests time out: simple-salesforce passes no timeout, so a stalled org would hang the push
    for ever. A timeout is a ``RetriableError`` like a reset connection (retried, then the run fails cleanly)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def build(config: Any, hub: Any) -> SalesforceDestination:
    """From a ``salesforce`` target: credentials from its connection (access token as password; extras
    ``base_url`` or host, ``client_id``/``client_secret`` for renewing the token, ``ca_bundle``), field map from
    its mapping file, ``options.concurrency``, ``options.timeout`` (seconds per HTTP call, default 60)."""
    from mapping.target import load_target_map

    target_map = load_target_map(hub.config.mapping_path(config.mapping))
    creds = get_credentials(config.connection_id or config.name)
    session = TimeoutSession(float(config.options.get("timeout", DEFAULT_TIMEOUT)))
    session.trust_env = False  # REQUESTS_CA_BUNDLE / proxies from the environment must not override ours
    if creds.extra.get("ca_bundle"):
        session.verify = str(creds.extra["ca_bundle"])
    if not creds.password:
        raise FatalError(f"connection {creds.conn_id!r} has no access token (password)")
    return SalesforceDestination(
        name=config.name,
        sobject=target_map.object,
        external_id_field=target_map.external_id_field,
        fields=target_map.target_fields,
        instance_url=creds.base_url(),
        access_token=creds.password,
        session=session,
        client_id=creds.extra.get("client_id") or creds.login,
        client_secret=creds.extra.get("client_secret"),
        concurrency=str(config.options.get("concurrency", "strict")),
        api_version=str(config.options.get("api_version", API_VERSION)),
    )
