"""Mailchimp audience members: add or update by subscriber hash, tags, and consent that is never overridden.

Consent, the rule this module exists to keep: a member who unsubscribed (or was cleaned) at Mailchimp is never sent
``status: subscribed`` again, whatever the hub thinks; a customer whose consent is false is sent ``unsubscribed``;
a new member is created ``subscribed`` only when the hub holds consent, otherwise with ``status_if_unknown``
(default ``transactional``: known to the audience, never mailed). The current status is read before every write.
Erasure uses ``delete-permanent``; Mailchimp then refuses the address for good ("Forgotten Email Not Subscribed").

Fields (target names): ``email_address``, ``status`` (``subscribed`` | ``unsubscribed`` | empty = unknown),
``language``, ``tags`` (list of names: the member ends with exactly these), and merge fields by their tag in
upper case (``FNAME``, ``LNAME``, ``PHONE``, ``HUBID``…).

Hub key: Mailchimp finds members only by subscriber hash, so ``fetch_by_external_id`` tells the engine to fetch by
the hash it stored; the hub key is written to the merge field ``hub_key_field`` (the target map's
``external_id_field``, ``HUBID`` in the builtin map) so pull-back can tell whose member an edit belongs to.

Calls: one ``GET`` + one ``PUT`` per customer, plus one ``POST …/tags`` when the tags differ; ``fetch`` is one
``GET`` per known member. No ``/batches``: those run asynchronously and report per-operation results in a
downloadable archive, which would delay conflicts and errors to a later run.

The version marker is a hash of the member's synced content (status, e-mail, merge fields, language, tags):
``last_changed`` has one-second resolution, and an edit within the same second must still count.

Errors (``application/problem+json``; the ``title`` is the vendor code, ``detail`` is dropped as it names people):
401 "API Key Invalid", 403 → FatalError; 429 "Too Many Requests" (over 10 connections), 5xx → RetriableError;
other 4xx ("Invalid Resource", "Forgotten Email Not Subscribed", "Member In Compliance State") → per record.
Connection: password = API key (``…-us21``: the data centre); ``extra.base_url`` overrides the API address;
``options.list_id`` (or the connection's schema) names the audience.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from connectors.credentials import get_credentials
from connectors.http import error_for_response, request, retrying
from crm_core.errors import ConfigError, ConnectorError, RetriableError, SkippableError
from crm_core.records import Batch, OutboundItem, PushResult, RemoteRecord, SourceRecord, content_hash

from ._results import Conflict, failed

PROTECTED = {"unsubscribed", "cleaned"}  # statuses only the person (or Mailchimp) may change back
_HASH = re.compile(r"^[0-9a-f]{32}$")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased address (an identifier, not a security measure)."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()  # noqa: S324


def error_for(response: requests.Response) -> ConnectorError | None:
    title = None
    if response.status_code >= 400:
        try:
            title = str(response.json().get("title") or "") or None
        except ValueError:
            title = None
    return error_for_response(response, vendor_code=title, obj="member")


class MailchimpDestination:
    fetch_by_external_id = True  # members cannot be looked up by the hub key (module docstring)

    def __init__(self, base_url: str, api_key: str, list_id: str, name: str = "mailchimp",
                 status_if_unknown: str = "transactional", batch_size: int = 500, attempts: int = 5,
                 session: requests.Session | None = None, hub_key_field: str | None = None) -> None:
        self.name = name
        self.hub_key_field = hub_key_field
        self.batch_size = batch_size
        self.base_url = base_url.rstrip("/")
        self.list_id = list_id
        self.status_if_unknown = status_if_unknown
        self.http = session or requests.Session()
        self.http.trust_env = False
        self.http.auth = ("crmhub", api_key)
        self.calls = 0
        self._send = retrying(attempts)(self._send_once)

    # ------------------------------------------------------------------------------------------ wire

    def _send_once(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.calls += 1
        response = request(self.http, method, f"{self.base_url}/lists/{self.list_id}{path}", **kwargs)
        if response.status_code == 404 and method == "GET":
            return response
        failure = error_for(response)
        if failure is not None:
            raise failure
        return response

    def _member(self, member_hash: str) -> dict[str, Any] | None:
        response = self._send("GET", f"/members/{member_hash}")
        return None if response.status_code == 404 else response.json()

    # ------------------------------------------------------------------------------------------ reading

    def fetch(self, keys: Sequence[str]) -> dict[str, RemoteRecord]:
        """Members by subscriber hash (or e-mail); hub keys are not searchable in Mailchimp and stay absent."""
        found: dict[str, RemoteRecord] = {}
        for key in keys:
            member_hash = key if _HASH.match(key) else subscriber_hash(key) if "@" in key else None
            member = self._member(member_hash) if member_hash else None
            if member is not None:
                found[key] = _remote(member)
        return found

    def changed_since(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        """Members changed since the cursor (``since_last_changed``), as source records keyed by subscriber hash."""
        since = (cursor or {}).get("since")
        newest = since
        offset, count = 0, 1000
        while True:
            params: dict[str, Any] = {"count": count, "offset": offset}
            if since:
                params["since_last_changed"] = since
            page = self._send("GET", "/members", params=params).json()
            members = page.get("members", [])
            offset += len(members)
            records = []
            for member in members:
                newest = max(newest or member["last_changed"], member["last_changed"])
                # ``_version``: the push engine plans from this read, and guards its write with it
                records.append(SourceRecord(key=member["id"], payload={**_remote(member).fields,
                                                                       "_version": _version(member)},
                                            occurred_at=datetime.fromisoformat(member["last_changed"])))
            if len(members) < count:
                yield Batch(records=records, cursor={"since": newest})
                return
            yield Batch(records=records, cursor=dict(cursor or {}))

    # ------------------------------------------------------------------------------------------ writing

    def upsert(self, items: Sequence[OutboundItem]) -> list[PushResult]:
        results = []
        for item in items:
            try:
                results.append(self._upsert_one(item))
            except (SkippableError, RetriableError) as exc:
                results.append(failed(item.customer_id, exc, item.external_id))
        return results

    def _upsert_one(self, item: OutboundItem) -> PushResult:
        fields = dict(item.fields)
        email = fields.get("email_address")
        if item.external_id and _HASH.match(item.external_id):
            member_hash = item.external_id
        elif email:
            member_hash = subscriber_hash(email)
        else:
            raise SkippableError("a Mailchimp member needs an e-mail address", vendor_code="NoEmail")
        current = self._member(member_hash)
        if item.expected_version is not None and (current is None or _version(current) != item.expected_version):
            what = "deleted" if current is None else "changed"
            raise Conflict(f"the member was {what} in Mailchimp since it was read", vendor_code="Changed")
        body: dict[str, Any] = {"email_address": email or (current or {}).get("email_address")}
        merge = {k: ("" if v is None else v) for k, v in fields.items() if k.isupper()}
        if self.hub_key_field:
            merge[self.hub_key_field] = item.hub_key
        if merge:
            body["merge_fields"] = merge
        if "language" in fields:
            body["language"] = fields["language"] or ""
        wanted = fields.get("status") or None
        consent_kept = None
        if current is None:
            body["status_if_new"] = wanted if wanted in ("subscribed", "unsubscribed") else self.status_if_unknown
        elif wanted == "unsubscribed" and current["status"] not in PROTECTED:
            body["status"] = "unsubscribed"
        elif wanted == "subscribed" and current["status"] in PROTECTED:
            consent_kept = current["status"]  # they said no at Mailchimp: that stands
        elif wanted == "subscribed" and current["status"] == "transactional":
            body["status"] = "subscribed"
        member = self._send("PUT", f"/members/{member_hash}", json=body,
                            params={"skip_merge_validation": "true"}).json()
        if "tags" in fields:
            have = {t["name"] for t in member.get("tags", [])}
            want = set(fields.get("tags") or [])
            if have != want:
                changes = [{"name": n, "status": "active"} for n in sorted(want - have)]
                changes += [{"name": n, "status": "inactive"} for n in sorted(have - want)]
                self._send("POST", f"/members/{member['id']}/tags", json={"tags": changes})
                member = {**member, "tags": [{"name": n} for n in sorted(want)]}
        extra: dict[str, Any] = {"fields": dict(_remote(member).fields)}
        if consent_kept:
            extra["consent_kept"] = consent_kept
        return PushResult(customer_id=item.customer_id, ok=True, external_id=member["id"], created=current is None,
                          remote_version=_version(member), extra=extra)

    def delete(self, external_ids: Sequence[str]) -> list[PushResult]:
        """Erase members for good (``delete-permanent``); one already gone counts as erased."""
        results = []
        for member_hash in external_ids:
            try:
                self._send("POST", f"/members/{member_hash}/actions/delete-permanent")
                results.append(PushResult(customer_id=0, ok=True, external_id=member_hash))
            except SkippableError as exc:
                gone = exc.status == 404
                results.append(PushResult(customer_id=0, ok=True, external_id=member_hash) if gone
                               else failed(0, exc, member_hash))
        return results


def _remote(member: Mapping[str, Any]) -> RemoteRecord:
    fields: dict[str, Any] = {
        "email_address": member.get("email_address"), "status": member.get("status"),
        "language": member.get("language") or None,
        "tags": sorted(t["name"] for t in member.get("tags", [])),
        **{k: (v if v != "" else None) for k, v in (member.get("merge_fields") or {}).items()},
    }
    changed = member.get("last_changed")
    return RemoteRecord(external_id=member["id"], fields=fields, version=_version(member),
                        updated_at=datetime.fromisoformat(changed) if changed else None)


def _version(member: Mapping[str, Any]) -> str:
    return content_hash({
        "email": member.get("email_address"), "status": member.get("status"), "language": member.get("language"),
        "merge": member.get("merge_fields") or {}, "tags": sorted(t["name"] for t in member.get("tags", [])),
    })[:20]


def build(config: Any, hub: Any) -> MailchimpDestination:
    """Factory for ``kind: mailchimp`` targets."""
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"targets.{config.name}.connection_id: Mailchimp needs a connection"])
    creds = get_credentials(config.connection_id)
    options = dict(config.options)
    list_id = options.get("list_id") or creds.schema
    if not creds.password or not list_id:
        raise ConfigError("hub.yaml", [f"target {config.name}: Mailchimp needs the API key as the connection's "
                                       "password and options.list_id (the audience id)"])
    base_url = creds.extra.get("base_url") or f"https://{creds.password.rsplit('-', 1)[-1]}.api.mailchimp.com/3.0"
    return MailchimpDestination(base_url, creds.password, str(list_id), name=config.name,
                                status_if_unknown=str(options.get("status_if_unknown", "transactional")),
                                batch_size=int(options.get("batch_size", 500)),
                                hub_key_field=_hub_key_field(config, hub))


def _hub_key_field(config: Any, hub: Any) -> str | None:
    """``options.hub_key_merge_field``, else the target map's external-id field when it is a merge tag (HUBID)."""
    if config.options.get("hub_key_merge_field"):
        return str(config.options["hub_key_merge_field"])
    if hub is None:
        return None
    from mapping.target import load_target_map

    field = load_target_map(hub.config.mapping_path(config.mapping)).external_id_field
    return field if field.isupper() else None
