"""A small stateful HubSpot-shaped server on 127.0.0.1 for sync behaviour (batching, idempotence, lists).

Prism checks our requests against the official spec but forgets everything; this keeps contacts and list members so
tests can see that an upsert sent twice is one contact. Shapes follow the CRM v3 contacts and lists v3 specs:
batch responses ``{status, results, startedAt, completedAt}``, errors ``{status, message, correlationId, category}``,
more than 100 inputs → 400 ``VALIDATION_ERROR``, one invalid e-mail fails the whole batch (as HubSpot does), 429
bodies carry ``policyName`` (``TEN_SECONDLY_ROLLING`` or ``DAILY``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes._http import LocalServer


class Refused(Exception):
    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                     "category": category, **extra}
        self.status = status


@dataclass
class HubSpotServer:
    token: str = "pat-na1-test-token"
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, set[str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    _next_id: int = 1001
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LocalServer | None = None

    def start(self) -> HubSpotServer:
        self._server = LocalServer(self._serve)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.origin

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def edit(self, contact_id: str, **properties: str) -> None:
        """A person editing the contact in HubSpot."""
        contact = self.contacts[contact_id]
        contact["properties"].update(properties)
        contact["updatedAt"] = _now()

    # ------------------------------------------------------------------------------------------ the wire

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length)) if length else None
        with self._lock:
            self.requests.append((h.command, h.path))
            fault = self.faults.pop(0) if self.faults else None
            try:
                if fault:
                    status, payload, headers = fault
                elif h.headers.get("Authorization") != f"Bearer {self.token}":
                    raise Refused(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
                else:
                    status, payload, headers = *self._route(h.command, h.path, body or {}), {}
            except Refused as refused:
                status, payload, headers = refused.status, refused.body, {}
        data = json.dumps(payload).encode() if payload is not None else b""
        h.send_response(status)
        h.send_header("Content-Type", "application/json;charset=utf-8")
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        inputs = body.get("inputs", [])
        if len(inputs) > 100:
            raise Refused(400, "VALIDATION_ERROR", "Batch size cannot exceed 100")
        base = "/crm/v3/objects/contacts"
        if (method, path) == ("POST", f"{base}/batch/upsert"):
            return self._upsert(inputs)
        if (method, path) == ("POST", f"{base}/batch/update"):
            return self._update(inputs)
        if (method, path) == ("POST", f"{base}/batch/read"):
            prop = body.get("idProperty")
            found = [c for i in inputs for c in self.contacts.values()
                     if (c["id"] if not prop else str(c["properties"].get(prop, "")).lower()) == str(i["id"]).lower()]
            return 200, _batch([_public(c, body.get("properties")) for c in found])
        if (method, path) == ("POST", f"{base}/search"):
            return self._search(body)
        if (method, path) == ("POST", f"{base}/gdpr-delete"):
            if self.contacts.pop(str(body.get("objectId")), None) is None:
                raise Refused(404, "OBJECT_NOT_FOUND", "resource not found")
            for members in self.lists.values():
                members.discard(str(body.get("objectId")))
            return 204, None
        m = re.fullmatch(r"/crm/v3/lists/(\d+)/memberships/add-and-remove", path)
        if m and method == "PUT":
            members = self.lists.setdefault(m.group(1), set())
            members.update(body.get("recordIdsToAdd", []))
            members.difference_update(body.get("recordIdsToRemove", []))
            return 200, {"recordIdsAdded": body.get("recordIdsToAdd", []),
                         "recordIdsRemoved": body.get("recordIdsToRemove", []), "recordsIdsMissing": []}
        raise Refused(404, "OBJECT_NOT_FOUND", "resource not found")

    def _validate(self, properties: dict[str, str]) -> None:
        email = properties.get("email")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise Refused(400, "VALIDATION_ERROR", "Property values were not valid",
                          errors=[{"message": "Email address is invalid", "code": "INVALID_EMAIL"}])

    def _upsert(self, inputs: list[dict[str, Any]]) -> tuple[int, Any]:
        for i in inputs:
            self._validate(i.get("properties", {}))
        results = []
        for i in inputs:
            prop = i.get("idProperty") or "hs_object_id"
            existing = next((c for c in self.contacts.values()
                             if str(c["properties"].get(prop, "")).lower() == str(i["id"]).lower()), None)
            new = existing is None
            if new:
                existing = self._create({prop: i["id"]})
            existing["properties"].update(i.get("properties", {}))
            existing["updatedAt"] = _now()
            results.append({**_public(existing, None), "new": new})
        return 200, _batch(results)

    def _update(self, inputs: list[dict[str, Any]]) -> tuple[int, Any]:
        for i in inputs:
            self._validate(i.get("properties", {}))
        results, errors = [], []
        for i in inputs:
            contact = self.contacts.get(str(i["id"]))
            if contact is None:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Object not found",
                               "context": {"ids": [str(i["id"])]}, "errors": [], "links": {}})
                continue
            contact["properties"].update(i.get("properties", {}))
            contact["updatedAt"] = _now()
            results.append(_public(contact, None))
        return (207 if errors else 200), {**_batch(results), **({"errors": errors, "numErrors": len(errors)}
                                                                if errors else {})}

    def _create(self, properties: dict[str, str]) -> dict[str, Any]:
        contact_id = str(self._next_id)
        self._next_id += 1
        now = _now()
        contact = {"id": contact_id, "properties": {**properties, "hs_object_id": contact_id},
                   "createdAt": now, "updatedAt": now, "archived": False}
        self.contacts[contact_id] = contact
        return contact

    def _search(self, body: dict[str, Any]) -> tuple[int, Any]:
        rows = sorted(self.contacts.values(), key=lambda c: (c["updatedAt"], int(c["id"])))
        for group in body.get("filterGroups", []):
            for f in group.get("filters", []):
                if f["propertyName"] == "lastmodifieddate" and f["operator"] == "GTE":
                    rows = [c for c in rows if c["updatedAt"] >= f["value"]]
        start = int(body.get("after") or 0)
        limit = int(body.get("limit", 10))
        page = rows[start:start + limit]
        out: dict[str, Any] = {"total": len(rows), "results": [_public(c, body.get("properties")) for c in page]}
        if start + limit < len(rows):
            out["paging"] = {"next": {"after": str(start + limit)}}
        return 200, out


def _public(contact: dict[str, Any], properties: list[str] | None) -> dict[str, Any]:
    props = contact["properties"]
    shown = {k: props.get(k) for k in properties} if properties else dict(props)
    return {**{k: v for k, v in contact.items() if k != "properties"}, "properties": shown}


def _batch(results: list[Any]) -> dict[str, Any]:
    now = _now()
    return {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
