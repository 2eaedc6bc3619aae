"""HubSpot contacts: batch upsert by e-mail, batch read, list membership for tags, per-record results.

Calls per batch of up to 100 contacts (HubSpot's batch limit): one ``batch/upsert`` (``idProperty=email``) for
contacts new to the hub's sync, one ``batch/update`` for contacts whose HubSpot id is known (so an e-mail change
updates the contact instead of creating a second one), one ``batch/read`` first when the engine asks for a guarded
write, and one ``memberships/add-and-remove`` per list whose members change. ``fetch`` is one ``batch/read`` per
100 keys. So 1,000 changed contacts cost 10 reads + 10 writes: HubSpot's floor.

Keys: numeric keys are HubSpot record ids; a key with ``@`` is an e-mail; anything else is a hub key, read through
the unique custom property ``options.hub_key_property`` (default ``crmhub_id``; create it in HubSpot as a
single-line text property with "unique values" on, and the hub writes it on every upsert).

Tags are HubSpot lists: ``options.tag_lists`` maps a tag to the ILS id of a MANUAL list; a contact is added to the
lists of its tags and removed from the other configured lists.

Version marker: the contact's ``updatedAt`` (millisecond resolution, moves on every property change). HubSpot has
no conditional write, so a guarded upsert re-reads ``updatedAt`` immediately before writing.

Errors (classified in ``error_for``, table-tested): 401 and 403 (missing scopes) → FatalError; 429 with
``policyName: DAILY`` → QuotaExceeded (a FatalError: the day's quota is spent; the push keeps the batches it
finished, stops cleanly and the next run resumes); other 429s and 5xx →
RetriableError honouring Retry-After; a 400/409 for a whole batch → the batch is re-sent record by record so only
the bad record fails, with HubSpot's ``category`` as the vendor code. Bodies echo e-mails, so messages never hold them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from connectors.credentials import get_credentials
from connectors.http import error_for_response, request, retrying
from crm_core.errors import ConfigError, ConnectorError, RetriableError, SkippableError
from crm_core.records import Batch, OutboundItem, PushResult, QuotaExceeded, RemoteRecord, SourceRecord

from ._results import Conflict, failed

BATCH_LIMIT = 100
DEFAULT_PROPERTIES = ("email", "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle", "address",
                      "city", "zip", "state", "country", "hs_language")


def error_for(response: requests.Response) -> ConnectorError | None:
    """Our error for a failed HubSpot response; the vendor code is HubSpot's ``category`` (or ``policyName``)."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code == 429 and body.get("policyName") == "DAILY":
        return QuotaExceeded("HubSpot's daily API limit is spent: the run stops and resumes on the next one",
                             status=429, vendor_code="DAILY")
    code = body.get("policyName") or body.get("category") or body.get("errorType")
    return error_for_response(response, vendor_code=str(code) if code else None, obj="contacts")


class HubSpotDestination:
    def __init__(self, base_url: str, token: str, name: str = "hubspot", batch_size: int = BATCH_LIMIT,
                 hub_key_property: str = "crmhub_id", properties: Sequence[str] = DEFAULT_PROPERTIES,
                 tag_lists: Mapping[str, str] | None = None, attempts: int = 5,
                 session: requests.Session | None = None) -> None:
        self.name = name
        self.batch_size = min(batch_size, BATCH_LIMIT)
        self.base_url = base_url.rstrip("/")
        self.hub_key_property = hub_key_property
        self.properties = list(dict.fromkeys([*properties, hub_key_property]))
        self.tag_lists = dict(tag_lists or {})
        self.http = session or requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.calls = 0
        self._send = retrying(attempts)(self._send_once)

    def _send_once(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls += 1
        response = request(self.http, method, f"{self.base_url}{path}", **kwargs)
        failure = error_for(response)
        if failure is not None:
            raise failure
        return response.json() if response.content else None

    # ------------------------------------------------------------------------------------------ reading

    def _read(self, keys: Sequence[str], id_property: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_LIMIT):
            body: dict[str, Any] = {"inputs": [{"id": k} for k in keys[start:start + BATCH_LIMIT]],
                                    "properties": self.properties, "propertiesWithHistory": []}
            if id_property:
                body["idProperty"] = id_property
            found += (self._send("POST", "/crm/v3/objects/contacts/batch/read", json=body) or {}).get("results", [])
        return found

    def fetch(self, keys: Sequence[str]) -> dict[str, RemoteRecord]:
        by_kind: dict[str | None, list[str]] = {}
        for key in keys:
            kind = None if key.isdigit() else "email" if "@" in key else self.hub_key_property
            by_kind.setdefault(kind, []).append(key)
        remote: dict[str, RemoteRecord] = {}
        for kind, group in by_kind.items():
            for contact in self._read(group, kind):
                record = _remote(contact, self.properties)
                props = contact.get("properties") or {}
                key = contact["id"] if kind is None else props.get(kind)
                if kind == "email" and key:
                    key = next((k for k in group if k.lower() == str(key).lower()), key)
                if key in group:
                    remote[key] = record
        return remote

    def changed_since(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        """Contacts modified since the cursor via CRM search (``lastmodifieddate``), keyed by HubSpot id."""
        since = (cursor or {}).get("since")
        newest, after = since, None
        while True:
            body: dict[str, Any] = {"limit": 100, "properties": self.properties,
                                    "sorts": ["lastmodifieddate"], "filterGroups": []}
            if since:
                body["filterGroups"] = [{"filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": since}]}]
            if after:
                body["after"] = after
            page = self._send("POST", "/crm/v3/objects/contacts/search", json=body) or {}
            records = []
            for contact in page.get("results", []):
                record = _remote(contact, self.properties)
                if contact.get("updatedAt") and (newest is None or contact["updatedAt"] > newest):
                    newest = contact["updatedAt"]
                # ``_version``: the push engine plans from this read, and guards its write with it
                records.append(SourceRecord(key=contact["id"], payload={**record.fields, "hubspot_id": contact["id"],
                                                                        "_version": record.version},
                                            occurred_at=record.updated_at))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                yield Batch(records=records, cursor={"since": newest})
                return
            yield Batch(records=records, cursor=dict(cursor or {}))

    # ------------------------------------------------------------------------------------------ writing

    def upsert(self, items: Sequence[OutboundItem]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        for start in range(0, len(items), self.batch_size):
            results.update(self._upsert_batch(items[start:start + self.batch_size]))
        return [results[id(item)] for item in items]

    def _upsert_batch(self, items: Sequence[OutboundItem]) -> dict[int, PushResult]:
        results: dict[int, PushResult] = {}
        guarded = {id(i): i for i in items if i.expected_version is not None and i.external_id}
        current = {c["id"]: c for c in self._read([i.external_id or "" for i in guarded.values()], None)}
        updates, upserts = [], []
        for item in items:
            if id(item) in guarded:
                contact = current.get(item.external_id or "")
                if contact is None or contact.get("updatedAt") != item.expected_version:
                    what = "deleted" if contact is None else "changed"
                    results[id(item)] = failed(item.customer_id, Conflict(
                        f"the contact was {what} in HubSpot since it was read", vendor_code="Changed"),
                        item.external_id)
                    continue
            if item.external_id:
                updates.append(item)
            elif item.fields.get("email"):
                upserts.append(item)
            else:
                results[id(item)] = failed(item.customer_id, SkippableError(
                    "a new HubSpot contact needs an e-mail to upsert by", vendor_code="NoEmail"))
        written: dict[int, dict[str, Any]] = {}
        for group, write in ((upserts, self._write_upserts), (updates, self._write_updates)):
            for item, outcome in zip(group, _isolate(group, write), strict=True):
                if isinstance(outcome, ConnectorError):
                    results[id(item)] = failed(item.customer_id, outcome, item.external_id)
                else:
                    written[id(item)] = outcome
        self._sync_lists([(i, written[id(i)]["id"]) for i in items if id(i) in written and "tags" in i.fields])
        for item in items:
            contact = written.get(id(item))
            if contact is not None:
                record = _remote(contact, self.properties)
                results[id(item)] = PushResult(
                    customer_id=item.customer_id, ok=True, external_id=contact["id"],
                    created=bool(contact.get("new")), remote_version=record.version,
                    extra={"fields": dict(record.fields)})
        return results

    def _properties(self, item: OutboundItem) -> dict[str, str]:
        props = {k: "" if v is None else str(v) for k, v in item.fields.items() if k != "tags"}
        props[self.hub_key_property] = item.hub_key
        return props

    def _write_upserts(self, items: Sequence[OutboundItem]) -> list[Any]:
        inputs = [{"id": str(i.fields["email"]), "idProperty": "email", "properties": self._properties(i)}
                  for i in items]
        body = self._send("POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}) or {}
        by_email = {str((c.get("properties") or {}).get("email", "")).lower(): c for c in body.get("results", [])}
        return [by_email.get(str(i.fields["email"]).lower()) or _missing(body) for i in items]

    def _write_updates(self, items: Sequence[OutboundItem]) -> list[Any]:
        inputs = [{"id": i.external_id, "properties": self._properties(i)} for i in items]
        body = self._send("POST", "/crm/v3/objects/contacts/batch/update", json={"inputs": inputs}) or {}
        by_id = {c["id"]: c for c in body.get("results", [])}
        return [by_id.get(i.external_id or "") or _missing(body, i.external_id) for i in items]

    def _sync_lists(self, written: Sequence[tuple[OutboundItem, str]]) -> None:
        for tag, list_id in self.tag_lists.items():
            add = [cid for item, cid in written if tag in (item.fields.get("tags") or [])]
            remove = [cid for item, cid in written if tag not in (item.fields.get("tags") or [])]
            if add or remove:
                self._send("PUT", f"/crm/v3/lists/{list_id}/memberships/add-and-remove",
                           json={"recordIdsToAdd": add, "recordIdsToRemove": remove})

    def delete(self, external_ids: Sequence[str]) -> list[PushResult]:
        """GDPR-delete (permanent) each contact; one already gone counts as erased."""
        results = []
        for contact_id in external_ids:
            try:
                self._send("POST", "/crm/v3/objects/contacts/gdpr-delete", json={"objectId": contact_id})
                results.append(PushResult(customer_id=0, ok=True, external_id=contact_id))
            except SkippableError as exc:
                results.append(PushResult(customer_id=0, ok=True, external_id=contact_id) if exc.status == 404
                               else failed(0, exc, contact_id))
        return results


def _missing(body: Mapping[str, Any], contact_id: str | None = None) -> SkippableError:
    """A record the batch answered for with an error (207) or not at all."""
    for error in body.get("errors") or []:
        ids = [v for vals in (error.get("context") or {}).values() for v in (vals or [])]
        if contact_id is None or contact_id in ids:
            return SkippableError("HubSpot refused the record", status=400,
                                  vendor_code=str(error.get("category") or "ERROR"))
    return SkippableError("HubSpot returned no result for the record", vendor_code="NoResult")


def _isolate(items: Sequence[OutboundItem], write: Any) -> list[Any]:
    """Write a batch; on a whole-batch rejection (400/409), write each record alone to find the bad one."""
    if not items:
        return []
    try:
        return list(write(items))
    except RetriableError as exc:
        return [exc] * len(items)
    except SkippableError as exc:
        if len(items) == 1:
            return [exc]
    out: list[Any] = []
    for item in items:
        try:
            out += write([item])
        except (SkippableError, RetriableError) as exc:
            out.append(exc)
    return out


def _remote(contact: Mapping[str, Any], properties: Sequence[str]) -> RemoteRecord:
    props = contact.get("properties") or {}
    fields = {p: (props.get(p) if props.get(p) != "" else None) for p in properties}
    updated = contact.get("updatedAt")
    when = None
    if isinstance(updated, str):
        try:
            when = datetime.fromisoformat(updated.replace("Z", "+00:00"))
        except ValueError:
            when = None
    return RemoteRecord(external_id=str(contact["id"]), fields=fields, version=updated, updated_at=when)


def build(config: Any, hub: Any) -> HubSpotDestination:
    """Factory for ``kind: hubspot`` targets: the connection's password is a private-app access token."""
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"targets.{config.name}.connection_id: HubSpot needs a connection"])
    creds = get_credentials(config.connection_id)
    if not creds.password:
        raise ConfigError("hub.yaml", [f"connection {config.connection_id}: put the private-app token in password"])
    options = dict(config.options)
    base_url = creds.extra.get("base_url") or "https://api.hubapi.com"
    return HubSpotDestination(
        base_url, creds.password, name=config.name, batch_size=int(options.get("batch_size", BATCH_LIMIT)),
        hub_key_property=str(options.get("hub_key_property", "crmhub_id")),
        properties=tuple(options.get("properties", DEFAULT_PROPERTIES)),
        tag_lists={str(k): str(v) for k, v in (options.get("tag_lists") or {}).items()},
    )
