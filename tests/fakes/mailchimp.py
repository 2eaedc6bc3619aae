"""A stateful Mailchimp Marketing API fake on 127.0.0.1, following the documented contract (no spec is published).

What it follows (Mailchimp Marketing API 3.0 reference, "Lists/Audiences → Members" and "Errors"):
- HTTP Basic auth, any user name, the API key as password; a wrong key answers 401 "API Key Invalid".
- Members live under ``/3.0/lists/{list_id}/members/{subscriber_hash}``, the hash being the MD5 of the lower-cased
  e-mail. ``PUT`` adds or updates (``status_if_new`` for a new member, ``status`` to change an existing one);
  ``POST …/tags`` sets tags active/inactive (204); ``POST …/actions/delete-permanent`` erases (204), after which the
  address cannot be added again by API (400 "Forgotten Email Not Subscribed"); ``GET /members`` pages with
  ``count``/``offset`` and filters ``since_last_changed``.
- Errors are ``application/problem+json`` with ``type, title, status, detail, instance``.
- More than ``max_connections`` requests at once answer 429 "Too Many Requests" (Mailchimp allows 10).

Like Mailchimp, it lets an API call re-subscribe someone who unsubscribed: keeping consent is the caller's duty, so
the fake records every request (``requests``) and tests check what the hub sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes._http import LocalServer

ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
STATUSES = {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()  # noqa: S324 - Mailchimp's own id scheme


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class MailchimpFake:
    api_key: str = "0123456789abcdef0123456789abcdef-us21"
    max_connections: int = 10
    lists: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    # fault injection for tests: (status, title) answered instead of the next requests
    faults: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    _active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LocalServer | None = None

    def start(self) -> MailchimpFake:
        self._server = LocalServer(self._serve)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.origin + "/3.0"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    # ------------------------------------------------------------------------------------------ test helpers

    def add_list(self, list_id: str) -> None:
        self.lists.setdefault(list_id, {})

    def member(self, list_id: str, email: str) -> dict[str, Any] | None:
        return self.lists[list_id].get(subscriber_hash(email))

    def edit(self, list_id: str, email: str, **changes: Any) -> None:
        """A person changing a member in Mailchimp's UI (or the member clicking "unsubscribe")."""
        member = self.lists[list_id][subscriber_hash(email)]
        member.update(changes)
        member["last_changed"] = _now()

    # ------------------------------------------------------------------------------------------ the wire

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._active += 1
            busy = self._active > self.max_connections
            fault = self.faults.pop(0) if self.faults else None
        try:
            length = int(h.headers.get("Content-Length") or 0)
            raw = h.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            parts = urlsplit(h.path)
            with self._lock:
                self.requests.append(Recorded(h.command, parts.path, body))
            if busy:
                raise Problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")
            if fault:
                status, title, headers = fault
                self._problem(h, Problem(status, title, "injected"), headers)
                return
            if not self._authorised(h.headers.get("Authorization")):
                raise Problem(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access "
                              "the wrong datacenter.")
            status, payload = self._route(h.command, parts.path, parse_qs(parts.query), body)
            data = b"" if payload is None else json.dumps(payload).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except Problem as problem:
            self._problem(h, problem)
        finally:
            with self._lock:
                self._active -= 1

    def _problem(self, h: BaseHTTPRequestHandler, problem: Problem, headers: dict[str, str] | None = None) -> None:
        data = json.dumps({"type": ERRORS_DOC, "title": problem.title, "status": problem.status,
                           "detail": problem.detail, "instance": str(uuid.uuid4())}).encode()
        h.send_response(problem.status)
        h.send_header("Content-Type", "application/problem+json; charset=utf-8")
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        _, _, key = base64.b64decode(header[6:]).decode().partition(":")
        return key == self.api_key

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if path == "/3.0/ping":
            return 200, {"health_status": "Everything's Chimpy!"}
        m = re.fullmatch(r"/3\.0/lists/([^/]+)/members(?:/([0-9a-f]{32}))?(/tags|/actions/delete-permanent)?", path)
        if not m or m.group(1) not in self.lists:
            raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
        members = self.lists[m.group(1)]
        list_id, member_hash, action = m.group(1), m.group(2), m.group(3)
        with self._lock:
            if member_hash is None and method == "GET":
                return 200, self._page(list_id, members, query)
            if member_hash is None:
                raise Problem(405, "Method Not Allowed", "The requested method and resource are not compatible.")
            if action == "/tags" and method == "POST":
                return self._tags(members, member_hash, body)
            if action == "/actions/delete-permanent" and method == "POST":
                member = members.pop(member_hash, None)
                if member is None:
                    raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
                self.forgotten.add(member_hash)
                return 204, None
            if method == "GET":
                if member_hash not in members:
                    raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
                return 200, members[member_hash]
            if method == "PUT":
                return 200, self._put(list_id, members, member_hash, body or {})
        raise Problem(405, "Method Not Allowed", "The requested method and resource are not compatible.")

    def _page(self, list_id: str, members: dict[str, dict[str, Any]], query: dict[str, list[str]]) -> Any:
        count = min(int(query.get("count", ["10"])[0]), 1000)
        offset = int(query.get("offset", ["0"])[0])
        since = query.get("since_last_changed", [None])[0]
        rows = sorted(members.values(), key=lambda m: (m["last_changed"], m["id"]))
        if since:
            rows = [m for m in rows if datetime.fromisoformat(m["last_changed"]) >= datetime.fromisoformat(since)]
        return {"members": rows[offset:offset + count], "list_id": list_id, "total_items": len(rows)}

    def _put(self, list_id: str, members: dict[str, dict[str, Any]], member_hash: str, body: dict[str, Any]) -> Any:
        email = body.get("email_address")
        member = members.get(member_hash)
        if member is None:
            if not email or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise Problem(400, "Invalid Resource", "Please provide a valid email address.")
            if subscriber_hash(email) in self.forgotten:
                raise Problem(400, "Forgotten Email Not Subscribed",
                              f"{email} was permanently deleted and cannot be re-imported. The contact must "
                              "re-subscribe to get back on the list.")
            status = body.get("status") or body.get("status_if_new")
            if status not in STATUSES:
                raise Problem(400, "Invalid Resource", "The resource submitted could not be validated. "
                              "For field-specific details, see the 'errors' array.")
            member = {"id": subscriber_hash(email), "email_address": email, "unique_email_id": uuid.uuid4().hex[:10],
                      "status": status, "merge_fields": {}, "language": "", "tags": [], "tags_count": 0,
                      "list_id": list_id}
            members[member["id"]] = member
        else:
            if email and subscriber_hash(email) != member["id"]:  # an e-mail change moves the member
                members.pop(member["id"])
                member["id"], member["email_address"] = subscriber_hash(email), email
                members[member["id"]] = member
            if body.get("status"):
                if body["status"] not in STATUSES:
                    raise Problem(400, "Invalid Resource", "The resource submitted could not be validated.")
                member["status"] = body["status"]
        member["merge_fields"] = {**member["merge_fields"], **(body.get("merge_fields") or {})}
        if "language" in body:
            member["language"] = body["language"] or ""
        member["last_changed"] = _now()
        return member

    def _tags(self, members: dict[str, dict[str, Any]], member_hash: str, body: Any) -> tuple[int, Any]:
        member = members.get(member_hash)
        if member is None:
            raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
        names = [t["name"] for t in member["tags"]]
        for tag in (body or {}).get("tags", []):
            if tag.get("status") == "active" and tag["name"] not in names:
                names.append(tag["name"])
            elif tag.get("status") == "inactive" and tag["name"] in names:
                names.remove(tag["name"])
        member["tags"] = [{"id": abs(hash(n)) % 100000, "name": n} for n in names]
        member["tags_count"] = len(names)
        return 204, None


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
