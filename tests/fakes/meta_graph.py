"""A stateful Meta Graph API fake on 127.0.0.1 serving the lead-forms bulk read, following the documented contract
(no machine-readable spec is published for it):

- ``GET /{version}/{form_id}/leads`` (Marketing API "Retrieving Leads"): leads newest first; ``fields`` chooses the
  fields returned (``id`` always); ``filtering`` is a JSON list of ``{"field", "operator", "value"}`` — here
  ``time_created`` with ``GREATER_THAN`` / ``LESS_THAN`` (unix seconds); ``limit`` (default 25).
- Cursor paging ("Paginated Results"): ``paging.cursors.before/after`` are opaque strings; ``after`` returns the
  page after the item it names; ``paging.next`` is present only when there is a next page, and repeats the query
  (with ``access_token`` when the caller sent it that way, as Graph does).
- Auth: ``Authorization: Bearer <token>`` or ``access_token=``; a missing or wrong token, or an expired one, answers
  400 ``OAuthException`` code 190 (subcode 463 when expired) — Graph's status for token errors. With ``app_secret``
  set (the app's *Require App Secret* setting) a call must also carry ``appsecret_proof``, the hex HMAC-SHA256 of
  the token keyed by the app secret ("Securing Graph API Requests"); a missing or wrong one is 400
  ``GraphMethodException`` code 100, with Graph's own messages.
- Errors ("Handling Errors"): ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``; an unknown
  form is 400 ``GraphMethodException`` code 100 subcode 33; an unknown filter field or operator is 400 code 100.

Fault injection: answers queued in ``faults`` (status, error object, headers) are served first, whatever the path
(throttling as Meta sends it: code 4/17/32/613 in the body of a 400 or 403, 5xx). Every request is recorded in
``requests`` so tests check what the connector sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes._http import LocalServer

DEFAULT_LIMIT = 25
MAX_LIMIT = 500
OPERATORS = {"GREATER_THAN": lambda a, b: a > b, "LESS_THAN": lambda a, b: a < b}


class GraphError(Exception):
    def __init__(self, status: int, message: str, type_: str, code: int, subcode: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.subcode = status, message, type_, code, subcode

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code,
                                 "fbtrace_id": "A" + secrets.token_hex(8)}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def _cursor(lead_id: str) -> str:
    return base64.urlsafe_b64encode(lead_id.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


def graph_time(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class MetaGraphFake:
    token: str = "EAAGm0PX4ZCpsBAFakeTokenForTests"
    version: str = "v22.0"
    forms: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    expired: bool = False
    app_secret: str | None = None
    faults: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LocalServer | None = None
    _next_id: int = 1200000000000000

    def start(self) -> MetaGraphFake:
        self._server = LocalServer(self._serve)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.origin

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    # ------------------------------------------------------------------------------------------ test helpers

    def add_lead(self, form_id: str, created: int, answers: dict[str, str | list[str]], **extra: Any) -> dict[str, Any]:
        """A person submitting the instant form at ``created`` (unix seconds)."""
        with self._lock:
            self._next_id += 1
            lead = {
                "id": str(self._next_id),
                "created_time": created,
                "form_id": form_id,
                "ad_id": "120210000000000001",
                "adset_id": "120210000000000002",
                "campaign_id": "120210000000000003",
                "is_organic": False,
                "platform": "fb",
                "field_data": [{"name": k, "values": v if isinstance(v, list) else [v]} for k, v in answers.items()],
                **extra,
            }
            self.forms.setdefault(form_id, []).append(lead)
        return lead

    def fault(self, status: int, code: int, message: str, type_: str = "OAuthException", subcode: int | None = None,
              headers: dict[str, str] | None = None) -> None:
        self.faults.append((status, GraphError(status, message, type_, code, subcode).body(), headers or {}))

    def lead_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.endswith("/leads")]

    # ------------------------------------------------------------------------------------------ the wire

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(Seen(parts.path, query, dict(h.headers)))
            fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            self._send(h, fault[0], fault[1], fault[2])
            return
        try:
            self._authorise(h.headers.get("Authorization"), query.get("access_token"), query.get("appsecret_proof"))
            status, body = 200, self._route(parts.path, query)
        except GraphError as error:
            status, body = error.status, error.body()
        self._send(h, status, body, {})

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        h.send_response(status)
        for name, value in {"Content-Type": "application/json; charset=UTF-8", **headers}.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _authorise(self, header: str | None, query_token: str | None, proof: str | None) -> None:
        token = header[len("Bearer "):] if header and header.startswith("Bearer ") else query_token
        if not token:
            raise GraphError(400, "An active access token must be used to query information about the current user.",
                             "OAuthException", 2500)
        if token != self.token:
            raise GraphError(400, "Invalid OAuth access token - Cannot parse access token", "OAuthException", 190)
        if self.expired:
            raise GraphError(400, "Error validating access token: Session has expired on Wednesday, 25-Nov-26 "
                             "09:00:00 PST. The current time is Thursday, 26-Nov-26 08:14:02 PST.",
                             "OAuthException", 190, 463)
        if self.app_secret is not None:
            if not proof:
                raise GraphError(400, "API calls from the server require an appsecret_proof argument",
                                 "GraphMethodException", 100)
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, expected):
                raise GraphError(400, "Invalid appsecret_proof provided in the API argument", "GraphMethodException", 100)

    def _route(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        segments = path.strip("/").split("/")
        if len(segments) != 3 or segments[0] != self.version or segments[2] != "leads":
            raise GraphError(400, f"Unknown path components: /{'/'.join(segments[1:])}", "OAuthException", 2500)
        form_id = segments[1]
        if form_id not in self.forms:
            raise GraphError(400, f"Unsupported get request. Object with ID '{form_id}' does not exist, cannot be "
                             "loaded due to missing permissions, or does not support this operation.",
                             "GraphMethodException", 100, 33)
        leads = sorted(self.forms[form_id], key=lambda lead: (-lead["created_time"], -int(lead["id"])))
        leads = [lead for lead in leads if self._passes(lead, query.get("filtering"))]
        limit = min(int(query.get("limit") or DEFAULT_LIMIT), MAX_LIMIT)
        start = 0
        if query.get("after"):
            ids = [lead["id"] for lead in leads]
            after = _uncursor(query["after"])
            start = ids.index(after) + 1 if after in ids else len(ids)
        chunk = leads[start:start + limit]
        wanted = set((query.get("fields") or "id,created_time").split(",")) | {"id"}
        body: dict[str, Any] = {"data": [self._render(lead, wanted) for lead in chunk]}
        if chunk:
            paging: dict[str, Any] = {"cursors": {"before": _cursor(chunk[0]["id"]), "after": _cursor(chunk[-1]["id"])}}
            if start + limit < len(leads):
                next_query = {k: v for k, v in query.items() if k != "before"} | {"after": _cursor(chunk[-1]["id"])}
                paging["next"] = f"{self.url}{path}?{urlencode(next_query)}"
            body["paging"] = paging
        return body

    @staticmethod
    def _passes(lead: dict[str, Any], filtering: str | None) -> bool:
        if not filtering:
            return True
        try:
            rules = json.loads(filtering)
        except ValueError:
            raise GraphError(400, "(#100) param filtering must be an array.", "OAuthException", 100) from None
        for rule in rules if isinstance(rules, list) else [None]:
            if not isinstance(rule, dict) or rule.get("field") != "time_created" or rule.get("operator") not in OPERATORS:
                raise GraphError(400, f"(#100) Filtering field {rule!r} is invalid.", "OAuthException", 100)
            if not OPERATORS[rule["operator"]](lead["created_time"], int(rule["value"])):
                return False
        return True

    @staticmethod
    def _render(lead: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
        out = {k: v for k, v in lead.items() if k in wanted}
        if "created_time" in out:
            out["created_time"] = graph_time(lead["created_time"])
        return out
