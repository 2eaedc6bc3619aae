"""A stateful HTTPS Salesforce fake that follows the documented REST contract (REST API Developer Guide).

There is no runnable Salesforce, so the connector is tested against this: a ``ThreadingHTTPServer`` wrapped in TLS
with a ``trustme`` CA, holding Contact records in memory. What it does as Salesforce documents it:

* upsert by external id: 201 + ``{"id","success","errors","created":true}`` on insert, 204 on update, 300 with the
  matching record URLs when several records carry the external id;
* ``PATCH sobjects/Contact/<Id>`` honouring ``If-Unmodified-Since`` (412 when the record changed after that date);
* sObject Collections (``composite/sobjects``, at most 200 records, ``allOrNone``) and Composite (``composite``,
  at most 25 subrequests, per-subrequest ``httpHeaders``);
* SOQL ``query`` in pages (``page_size``, 2,000 by default) chained by ``nextRecordsUrl``;
* errors as ``[{"message","errorCode","fields"}]``; ``Sforce-Limit-Info: api-usage=N/M`` on every answer;
  ``INVALID_SESSION_ID`` (401) for an expired token, re-issued by the OAuth client-credentials token endpoint;
  ``REQUEST_LIMIT_EXCEEDED`` as 403 once the daily allowance is used up; 18-character ids with their checksum.

Test hooks (all thread-safe): ``calls`` (API calls counted here, the token endpoint excluded), ``edit`` (a person's
edit in the Salesforce UI), ``set_clock``, ``before_write`` (run just before a write is applied: an edit between our
read and our write), ``drop_responses_after_commit`` (the request is applied, the response lost), ``fail_next`` (transient
errors), ``expire_session``, ``daily_limit``. Its clock ticks one second per change, so second-granular
``If-Unmodified-Since`` is exact.
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import _soql

API_VERSION = "59.0"
FIELDS = {
    "Id", "FirstName", "LastName", "Email", "Phone", "Title", "MailingStreet", "MailingCity",
    "MailingPostalCode", "MailingState", "MailingCountryCode", "Birthdate", "Hub_Customer_Id__c",
    "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted",
}
READ_ONLY = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"}
EXTERNAL_ID_FIELDS = {"Hub_Customer_Id__c"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sf_id(prefix: str, n: int) -> str:
    """An 18-character id: 15 case-sensitive characters plus the documented 3-character case checksum."""
    body = ""
    for _ in range(12):
        n, r = divmod(n, 62)
        body = _B62[r] + body
    base = prefix + body
    suffix = ""
    for chunk in (base[0:5], base[5:10], base[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return base + suffix


def sf_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_sf_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def _error(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": fields or []}]


Reply = tuple[int, dict[str, str], Any]


class FakeSalesforce:
    """The org's state and the REST semantics, independent of the HTTP plumbing (``serve`` adds that)."""

    def __init__(self, *, page_size: int = 2000, daily_limit: int = 100_000) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, Any]] = {}
        self.page_size = page_size
        self.daily_limit = daily_limit
        self.used = 0
        self.calls: list[tuple[str, str]] = []
        self.client_id, self.client_secret = "hub-client", "hub-secret"
        self.tokens = {"token-0"}
        self._token_seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._clock = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self.before_write: Callable[[], None] | None = None
        self.drop_responses_after_commit = 0
        self._failures: list[tuple[int, Any]] = []

    # ------------------------------------------------------------------ test hooks

    def tick(self) -> datetime:
        with self.lock:
            self._clock += timedelta(seconds=1)
            return self._clock

    @property
    def now(self) -> datetime:
        return self._clock

    def set_clock(self, when: datetime) -> None:
        """Move the org's clock (it only goes forward), e.g. so a person's edit is newer than the hub's change."""
        with self.lock:
            self._clock = max(self._clock, when)

    def expire_session(self) -> None:
        with self.lock:
            self.tokens.clear()

    def fail_next(self, status: int, code: str = "SERVER_UNAVAILABLE", times: int = 1) -> None:
        """The next ``times`` writes (not reads) answer ``status`` with ``code`` and change nothing."""
        with self.lock:
            self._failures.extend([(status, _error(code, "injected failure"))] * times)

    def insert(self, **fields: Any) -> str:
        """A record created in Salesforce by a person (not through the hub)."""
        with self.lock:
            return self._create(fields)

    def edit(self, record_id: str, **fields: Any) -> None:
        """A person edits a record in the Salesforce UI."""
        with self.lock:
            self._apply(self.records[record_id], fields)

    def by_hub_key(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.records.values() if r.get("Hub_Customer_Id__c") == key]

    def api_calls(self) -> int:
        with self.lock:
            return len(self.calls)

    # ------------------------------------------------------------------ records

    def _create(self, fields: dict[str, Any]) -> str:
        record_id = sf_id("003", next(self._ids))
        now = self.tick()
        self.records[record_id] = {
            "Id": record_id, "CreatedDate": sf_datetime(now), "LastModifiedDate": sf_datetime(now),
            "SystemModstamp": sf_datetime(now), **fields,
        }
        return record_id

    def _apply(self, record: dict[str, Any], fields: dict[str, Any]) -> None:
        record.update(fields)
        now = self.tick()
        record["LastModifiedDate"] = record["SystemModstamp"] = sf_datetime(now)

    def _validate(self, fields: dict[str, Any], creating: bool) -> list[dict[str, Any]] | None:
        unknown = sorted(set(fields) - FIELDS - {"attributes"})
        if unknown:
            return _error("INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Contact'.", unknown[:1])
        read_only = sorted(set(fields) & (READ_ONLY - {"Id"}))
        if read_only:
            return _error("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields", read_only)
        if creating and not fields.get("LastName"):
            return _error("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"])
        if "LastName" in fields and not creating and not fields["LastName"]:
            return _error("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"])
        email = fields.get("Email")
        if email and not _EMAIL.match(str(email)):
            return _error("INVALID_EMAIL_ADDRESS", "Email: invalid email address", ["Email"])
        return None

    def _upsert_one(self, sobject: str, ext_field: str, key: str, body: dict[str, Any]) -> Reply:
        fields = {k: v for k, v in body.items() if k != "attributes"}
        if ext_field not in EXTERNAL_ID_FIELDS:
            return 404, {}, _error("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {ext_field}")
        found = [r for r in self.records.values() if r.get(ext_field) == key]
        if len(found) > 1:
            return 300, {}, [f"/services/data/v{API_VERSION}/sobjects/{sobject}/{r['Id']}" for r in found]
        fields[ext_field] = key
        problem = self._validate(fields, creating=not found)
        if problem:
            return 400, {}, problem
        if found:
            self._apply(found[0], fields)
            return 204, {}, None
        record_id = self._create(fields)
        return 201, {}, {"id": record_id, "success": True, "errors": [], "created": True}

    def _update_one(self, record_id: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        record = self.records.get(record_id)
        if record is None:
            return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")
        since = headers.get("if-unmodified-since")
        if since:
            try:
                limit = parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return 400, {}, _error("INVALID_HEADER_TYPE", "If-Unmodified-Since is not an HTTP date")
            modified = parse_sf_datetime(record["LastModifiedDate"])
            assert modified is not None
            if modified.replace(microsecond=0) > limit:
                return 412, {}, _error("PRECONDITION_FAILED", "The requested resource has been modified")
        fields = {k: v for k, v in body.items() if k not in ("attributes", "Id")}
        problem = self._validate(fields, creating=False)
        if problem:
            return 400, {}, problem
        self._apply(record, fields)
        return 204, {}, None

    # ------------------------------------------------------------------ query

    def _query(self, soql: str) -> Reply:
        try:
            q = _soql.parse(soql)
        except _soql.SoqlError as exc:
            return 400, {}, _error("MALFORMED_QUERY", str(exc))
        unknown = [f for f in q.fields if f not in FIELDS]
        if unknown or q.sobject != "Contact":
            return 400, {}, _error("INVALID_FIELD", f"No such column '{(unknown or [q.sobject])[0]}'")
        rows = [r for r in self.records.values() if all(_soql.matches(r, c, parse_sf_datetime) for c in q.where)]
        if q.order_by:
            rows.sort(key=lambda r: (r.get(q.order_by) is None, r.get(q.order_by) or ""), reverse=q.descending)
        if q.limit is not None:
            rows = rows[: q.limit]
        out = [
            {"attributes": {"type": "Contact", "url": f"/services/data/v{API_VERSION}/sobjects/Contact/{r['Id']}"},
             **{f: r.get(f) for f in q.fields}}
            for r in rows
        ]
        return 200, {}, self._page(out, len(out))

    def _page(self, rows: list[dict[str, Any]], total: int) -> dict[str, Any]:
        head, rest = rows[: self.page_size], rows[self.page_size :]
        page: dict[str, Any] = {"totalSize": total, "done": not rest, "records": head}
        if rest:
            locator = f"01gFAKE{next(self._ids):06d}-{self.page_size}"
            self._cursors[locator] = rest
            page["nextRecordsUrl"] = f"/services/data/v{API_VERSION}/query/{locator}"
        return page

    # ------------------------------------------------------------------ collections and composite

    def _collection_upsert(self, sobject: str, ext_field: str, body: dict[str, Any]) -> Reply:
        records = body.get("records") or []
        if len(records) > 200:
            return 400, {}, _error("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records")
        snapshot = json.loads(json.dumps(self.records))
        results = []
        for rec in records:
            status, _h, reply = self._upsert_one(sobject, ext_field, str(rec.get(ext_field, "")), rec)
            if status in (200, 201, 204):
                rid = reply["id"] if isinstance(reply, dict) else self.by_hub_key(rec.get(ext_field))[0]["Id"]
                results.append({"id": rid, "success": True, "errors": [], "created": status == 201})
            elif status == 300:
                results.append({"success": False, "errors": _error(
                    "DUPLICATE_EXTERNAL_ID", f"Multiple records match {ext_field}", [ext_field])})
            else:
                results.append({"success": False, "errors": reply})
        return 200, {}, self._all_or_none(body, results, snapshot)

    def _collection_update(self, body: dict[str, Any]) -> Reply:
        records = body.get("records") or []
        if len(records) > 200:
            return 400, {}, _error("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records")
        snapshot = json.loads(json.dumps(self.records))
        results = []
        for rec in records:
            status, _h, reply = self._update_one(str(rec.get("Id")), rec, {})
            ok = status == 204
            results.append({"id": rec.get("Id"), "success": ok, "errors": [] if ok else reply})
        return 200, {}, self._all_or_none(body, results, snapshot)

    def _all_or_none(self, body: dict[str, Any], results: list[dict[str, Any]], snapshot: dict[str, Any]) -> Any:
        if body.get("allOrNone") and any(not r["success"] for r in results):
            self.records = snapshot
            return [r if not r["success"] else {"id": None, "success": False, "errors": _error(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid")}
                for r in results]
        return results

    def _composite(self, body: dict[str, Any]) -> Reply:
        subrequests = body.get("compositeRequest") or []
        if len(subrequests) > 25:
            return 400, {}, _error("INVALID_BATCH_REQUEST", "Limit Exceeded: composite can have at most 25 subrequests")
        out = []
        for sub in subrequests:
            headers = {k.lower(): v for k, v in (sub.get("httpHeaders") or {}).items()}
            status, hdrs, reply = self.route(sub["method"], sub["url"], headers, sub.get("body"))
            out.append({"body": reply, "httpHeaders": hdrs, "httpStatusCode": status, "referenceId": sub["referenceId"]})
        return 200, {}, {"compositeResponse": out}

    # ------------------------------------------------------------------ routing

    def route(self, method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
        parts = urlsplit(url)
        path = re.sub(rf"^/services/data/v{re.escape(API_VERSION)}/", "", parts.path).strip("/")
        segs = [unquote(s) for s in path.split("/")]
        if method == "GET" and segs[0] == "query":
            if len(segs) == 2:
                rest = self._cursors.pop(segs[1], None)
                if rest is None:
                    return 400, {}, _error("INVALID_QUERY_LOCATOR", "invalid query locator")
                return 200, {}, self._page(rest, len(rest))
            return self._query(parse_qs(parts.query).get("q", [""])[0])
        if segs[:2] == ["composite", "sobjects"]:
            if method == "PATCH" and len(segs) == 4:
                return self._write(lambda: self._collection_upsert(segs[2], segs[3], body or {}))
            if method == "PATCH" and len(segs) == 2:
                return self._write(lambda: self._collection_update(body or {}))
            if method == "DELETE":
                ids = parse_qs(parts.query).get("ids", [""])[0].split(",")
                return self._write(lambda: (200, {}, [self._delete(i) for i in ids]))
        if segs == ["composite"] and method == "POST":
            return self._composite(body or {})
        if segs[0] == "sobjects" and len(segs) >= 3 and segs[1] == "Contact":
            if method == "PATCH" and len(segs) == 4:
                return self._write(lambda: self._upsert_one("Contact", segs[2], segs[3], body or {}))
            if method == "PATCH" and len(segs) == 3:
                return self._write(lambda: self._update_one(segs[2], body or {}, headers))
            if method == "GET" and len(segs) == 3 and segs[2] in self.records:
                return 200, {}, self.records[segs[2]]
        return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")

    def _write(self, apply: Callable[[], Reply]) -> Reply:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook()
        return apply()

    def _delete(self, record_id: str) -> dict[str, Any]:
        if self.records.pop(record_id, None) is None:
            return {"id": record_id, "success": False, "errors": _error("ENTITY_IS_DELETED", "entity is deleted")}
        return {"id": record_id, "success": True, "errors": []}

    def handle(self, method: str, url: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any, bool]:
        """One HTTP exchange: (status, headers, body, drop the response?)."""
        with self.lock:
            if urlsplit(url).path == "/services/oauth2/token":
                form = parse_qs(raw.decode())
                if form.get("client_id") != [self.client_id] or form.get("client_secret") != [self.client_secret]:
                    return 400, {}, {"error": "invalid_client", "error_description": "invalid client credentials"}, False
                token = f"token-{next(self._token_seq)}"
                self.tokens.add(token)
                return 200, {}, {"access_token": token, "instance_url": "", "token_type": "Bearer"}, False
            if headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
                return 401, {}, _error("INVALID_SESSION_ID", "Session expired or invalid"), False
            self.calls.append((method, urlsplit(url).path))
            self.used += 1
            limit = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.daily_limit}"}
            if self.used > self.daily_limit:
                return 403, limit, _error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), False
            if self._failures and method != "GET":
                status, reply = self._failures.pop(0)
                return status, limit, reply, False
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return 400, limit, _error("JSON_PARSER_ERROR", "The request body is not JSON"), False
            status, hdrs, reply = self.route(method, url, headers, body)
            drop = method != "GET" and self.drop_responses_after_commit > 0
            if drop:
                self.drop_responses_after_commit -= 1
            return status, {**limit, **hdrs}, reply, drop


def _handler_for(org: FakeSalesforce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, hdrs, body, drop = org.handle(self.command, self.path, headers, raw)
            if drop:  # the request was applied; the client never hears back
                self.close_connection = True
                return
            payload = b"" if body is None or status == 204 else json.dumps(body).encode()
            self.send_response(status)
            for key, value in hdrs.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Date", format_datetime(datetime.now(UTC), usegmt=True))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

    return Handler


@contextmanager
def serve(org: FakeSalesforce, tmp: Path) -> Iterator[tuple[str, str]]:
    """Run ``org`` over HTTPS on a free 127.0.0.1 port; yields (instance URL, CA bundle path)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_path = tmp / "sf-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(org))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", str(ca_path)
    finally:
        server.shutdown()
        server.server_close()
