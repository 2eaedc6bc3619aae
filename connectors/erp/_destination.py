"""``ErpDestination``: the hub's ``Destination`` contract over any ``ErpBackend``.

Upsert, per batch: read the parties again (1 request), compare each with the version the planner saw, create the
new ones (1 request), update the known ones with the ERP's stale-write guard (1 request), read back the new versions
(1 request). A party that changed since the planner's read is not written: its result is ``error_class="conflict"``
so the engine re-plans it with fresh values. A party deleted in the ERP after we synced it is not resurrected.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from crm_core.errors import ConnectorError
from crm_core.records import Batch, OutboundItem, PushResult, RemoteRecord, SourceRecord

from ._base import ConcurrencyConflict, ErpBackend, ErpParty, isolate, result_error


class ErpDestination:
    """A Destination over an ERP backend; the hub key lives in the ERP's party key field (Tryton: ``code``)."""

    def __init__(self, backend: ErpBackend, name: str | None = None, page_size: int = 500) -> None:
        self.backend = backend
        self.name = name or backend.name
        self.batch_size = backend.batch_size
        self.page_size = page_size

    # ------------------------------------------------------------------------------------------ reading

    def _read(self, keys: Sequence[str]) -> dict[str, ErpParty]:
        """Parties by hub key and by ERP id, both spellings in one map."""
        ids = [k for k in keys if k.isdigit()]
        hub_keys = [k for k in keys if not k.isdigit()]
        found: dict[str, ErpParty] = {}
        for party in self.backend.read(hub_keys, ids) if keys else []:
            found[party.erp_id] = party
            if party.hub_key:
                found[party.hub_key] = party
        return found

    def fetch(self, keys: Sequence[str]) -> dict[str, RemoteRecord]:
        parties = self._read(keys)
        return {key: _remote(parties[key]) for key in keys if key in parties}

    # ------------------------------------------------------------------------------------------ writing

    def upsert(self, items: Sequence[OutboundItem]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        current = self._read([k for item in items for k in (item.external_id, item.hub_key) if k])
        creates: list[OutboundItem] = []
        updates: list[tuple[OutboundItem, ErpParty]] = []
        for item in items:
            party = current.get(item.external_id or "") or current.get(item.hub_key)
            if party is None and item.expected_version is not None:
                results[id(item)] = result_error(item.customer_id, ConcurrencyConflict(
                    "the party was deleted in the ERP after the last sync", vendor_code="Deleted"),
                    item.external_id)
            elif party is None:
                creates.append(item)
            elif item.expected_version is not None and party.version != item.expected_version:
                results[id(item)] = result_error(item.customer_id, ConcurrencyConflict(
                    "the party changed in the ERP since it was read", vendor_code="ConcurrencyException"),
                    party.erp_id)
            else:
                updates.append((item, party))

        created: dict[int, str] = {}
        outcomes = isolate(creates, lambda rows: self.backend.create([(i.hub_key, dict(i.fields)) for i in rows]))
        for item, outcome in zip(creates, outcomes, strict=True):
            if isinstance(outcome, ConnectorError):
                results[id(item)] = result_error(item.customer_id, outcome)
            else:
                created[id(item)] = outcome

        def write(rows: Sequence[tuple[OutboundItem, ErpParty]]) -> list[None]:
            guard = any(item.expected_version is not None for item, _ in rows)
            self.backend.update([(party, dict(item.fields)) for item, party in rows], guard=guard)
            return [None] * len(rows)

        written: dict[int, str] = {}
        for (item, party), outcome in zip(updates, isolate(updates, write), strict=True):
            if isinstance(outcome, ConnectorError):
                results[id(item)] = result_error(item.customer_id, outcome, party.erp_id)
            else:
                written[id(item)] = party.erp_id

        fresh = self._read(list(created.values()) + list(written.values()))
        for item in items:
            erp_id = created.get(id(item)) or written.get(id(item))
            if erp_id is None:
                continue
            party = fresh.get(erp_id)
            results[id(item)] = PushResult(
                customer_id=item.customer_id, ok=True, external_id=erp_id, created=id(item) in created,
                remote_version=party.version if party else None,
                extra={"fields": dict(party.fields)} if party else {},
            )
        return [results[id(item)] for item in items]

    # ------------------------------------------------------------------------------------------ pull-back, erasure

    def changed_since(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        """Parties changed since the cursor, as source records keyed by ERP id.

        Unordered ("updated since"): intermediate pages carry the old cursor and only the last the new one, so a
        crash mid-way re-reads the window. Records at the boundary instant are read again; landing is idempotent.
        """
        since = datetime.fromisoformat(cursor["since"]) if cursor and cursor.get("since") else None
        newest = since
        offset = 0
        while True:
            page = self.backend.changed(since, offset, self.page_size)
            offset += len(page)
            for party in page:
                if party.updated_at and (newest is None or party.updated_at > newest):
                    newest = party.updated_at
            last = len(page) < self.page_size
            records = [_source_record(p) for p in page]
            if last:
                yield Batch(records=records, cursor={"since": newest.isoformat() if newest else None})
                return
            yield Batch(records=records, cursor=dict(cursor or {}))

    def delete(self, external_ids: Sequence[str]) -> list[PushResult]:
        """Erase parties by ERP id; per-id results (a party another document still references is refused)."""
        outcomes = isolate(list(external_ids), lambda ids: (self.backend.delete(ids), [None] * len(ids))[1])
        return [
            result_error(0, o, erp_id) if isinstance(o, ConnectorError)
            else PushResult(customer_id=0, ok=True, external_id=erp_id)
            for erp_id, o in zip(external_ids, outcomes, strict=True)
        ]


def _remote(party: ErpParty) -> RemoteRecord:
    return RemoteRecord(external_id=party.erp_id, fields=dict(party.fields), version=party.version,
                        updated_at=party.updated_at)


def _source_record(party: ErpParty) -> SourceRecord:
    # ``_version``: the push engine plans from this read, and guards its write with it
    payload = {"erp_id": party.erp_id, "hub_key": party.hub_key, **party.fields, "_version": party.version}
    return SourceRecord(key=party.erp_id, payload=payload, occurred_at=party.updated_at)
