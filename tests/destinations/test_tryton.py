"""Tryton as a destination, against a real trytond on SQLite: upsert, versions, concurrency, pull-back, erasure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.erp import ErpDestination
from crm_core.records import OutboundItem
from tests.servers.tryton import TrytonServer

pytestmark = pytest.mark.slow


def item(hub_key: str, customer_id: int = 1, **fields: Any) -> OutboundItem:
    return OutboundItem(customer_id=customer_id, hub_key=hub_key, fields=fields)


def test_an_upsert_creates_a_party_with_its_contact_mechanisms_and_address(
        tryton: ErpDestination, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    [result] = tryton.upsert([item(key, name="张伟", email=f"{key}@example.com", mobile="+8613800138000",
                                   street="长安街1号", postal_code="100000", city="北京", country="CN")])
    assert result.ok and result.created and result.external_id and result.remote_version
    remote = tryton.fetch([key])[key]
    assert remote.external_id == result.external_id
    assert dict(remote.fields) == {"name": "张伟", "email": f"{key}@example.com", "phone": None,
                                   "mobile": "+86 138 0013 8000", "street": "长安街1号",
                                   "postal_code": "100000", "city": "北京", "country": "CN"}
    assert remote.version == result.remote_version  # what we wrote is recognised when read back


def test_the_same_upsert_twice_leaves_one_party(
        tryton: ErpDestination, tryton_server: TrytonServer, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    first = tryton.upsert([item(key, name="Anna Schmidt", email=f"{key}@example.com")])[0]
    second = tryton.upsert([item(key, name="Anna Schmidt", email=f"{key}@example.com")])[0]
    assert first.created and not second.created and second.ok
    assert first.external_id == second.external_id
    assert tryton_server.call("model.party.party.search_count", [["code", "=", key]], {}) == 1


def test_an_update_changes_only_the_fields_given(tryton: ErpDestination, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    created = tryton.upsert([item(key, name="Anna", email=f"{key}@example.com", phone="+493012345678")])[0]
    updated = tryton.upsert([item(key, email=f"new-{key}@example.com", phone=None, city="Berlin")])[0]
    assert updated.ok and updated.remote_version != created.remote_version
    fields = tryton.fetch([created.external_id or ""])[created.external_id or ""].fields
    assert (fields["name"], fields["email"], fields["phone"], fields["city"]) == (
        "Anna", f"new-{key}@example.com", None, "Berlin")


def test_fetch_finds_parties_by_hub_key_or_tryton_id_and_omits_unknown_keys(
        tryton: ErpDestination, unique: Callable[[str], str]) -> None:
    a, b = unique("hub-a"), unique("hub-b")
    results = tryton.upsert([item(a, 1, name="A"), item(b, 2, name="B")])
    found = tryton.fetch([a, results[1].external_id or "", unique("hub-missing")])
    assert set(found) == {a, results[1].external_id}
    assert found[a].fields["name"] == "A"


def test_an_edit_of_only_a_phone_number_in_tryton_changes_the_version(
        tryton: ErpDestination, tryton_server: TrytonServer, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    written = tryton.upsert([item(key, name="Li Na", phone="+861062345678")])[0]
    [mechanism] = tryton_server.call("model.party.contact_mechanism.search",
                                     [["party", "=", int(written.external_id or 0)]], 0, None, None, {})
    tryton_server.call("model.party.contact_mechanism.write", [mechanism], {"value": "+861062345679"}, {})
    assert tryton.fetch([key])[key].version != written.remote_version


def test_an_edit_made_in_tryton_after_our_read_is_not_overwritten(
        tryton: ErpDestination, tryton_server: TrytonServer, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    tryton.upsert([item(key, name="Wang Fang", email=f"{key}@example.com")])
    seen = tryton.fetch([key])[key]  # the planner's read
    tryton_server.call("model.party.party.write", [int(seen.external_id)], {"name": "王芳 (edited)"}, {})
    [result] = tryton.upsert([OutboundItem(customer_id=7, hub_key=key, external_id=seen.external_id,
                                           fields={"name": "Wang Fang Updated"}, expected_version=seen.version)])
    assert (result.ok, result.error_class, result.retriable) == (False, "conflict", False)
    assert tryton.fetch([key])[key].fields["name"] == "王芳 (edited)"


def test_tryton_itself_refuses_a_write_carrying_outdated_timestamps(
        tryton: ErpDestination, tryton_server: TrytonServer, unique: Callable[[str], str]) -> None:
    """The last line of defence: an edit between our re-read and our write is caught by Tryton's _timestamp."""
    from connectors.erp import ConcurrencyConflict

    key = unique("hub")
    tryton.upsert([item(key, name="Chen Jie")])
    backend = tryton.backend
    [stale] = backend.read([key], [])
    tryton_server.call("model.party.party.write", [int(stale.erp_id)], {"name": "陈杰"}, {})
    with pytest.raises(ConcurrencyConflict) as caught:
        backend.update([(stale, {"name": "Chen Jie 2"})], guard=True)
    assert caught.value.vendor_code == "ConcurrencyException"
    assert backend.read([key], [])[0].fields["name"] == "陈杰"


def test_a_stale_record_in_a_batch_fails_alone(
        tryton: ErpDestination, tryton_server: TrytonServer, unique: Callable[[str], str]) -> None:
    a, b = unique("hub-a"), unique("hub-b")
    tryton.upsert([item(a, 1, name="A"), item(b, 2, name="B")])
    seen = tryton.fetch([a, b])
    tryton_server.call("model.party.party.write", [int(seen[b].external_id)], {"name": "B edited"}, {})
    results = tryton.upsert([
        OutboundItem(1, a, {"name": "A2"}, seen[a].external_id, seen[a].version),
        OutboundItem(2, b, {"name": "B2"}, seen[b].external_id, seen[b].version),
    ])
    assert [(r.ok, r.error_class) for r in results] == [(True, None), (False, "conflict")]


def test_a_record_tryton_rejects_fails_alone_with_trytons_message(
        tryton: ErpDestination, unique: Callable[[str], str]) -> None:
    good, bad, nowhere = unique("hub-good"), unique("hub-bad"), unique("hub-nowhere")
    results = tryton.upsert([item(good, 1, name="Good", email=f"{good}@example.com"),
                             item(bad, 2, name="Bad", email="not an e-mail"),
                             item(nowhere, 3, name="Atlantis", country="ZZ")])
    assert [(r.ok, r.error_class) for r in results] == [(True, None), (False, "invalid"), (False, "invalid")]
    assert results[1].extra["vendor_code"] == "UserError" and "is not valid" in (results[1].error_message or "")
    assert results[2].extra["vendor_code"] == "UnknownCountry"
    assert set(tryton.fetch([good, bad, nowhere])) == {good}


def test_a_party_deleted_in_tryton_after_the_last_sync_is_not_recreated(
        tryton: ErpDestination, tryton_server: TrytonServer, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    written = tryton.upsert([item(key, name="Gone")])[0]
    tryton_server.call("model.party.party.delete", [int(written.external_id or 0)], {})
    [result] = tryton.upsert([OutboundItem(1, key, {"name": "Gone"}, written.external_id, written.remote_version)])
    assert (result.ok, result.error_class) == (False, "conflict")
    assert tryton.fetch([key]) == {}


def test_changed_since_returns_edits_made_in_tryton_keyed_by_tryton_id(
        tryton: ErpDestination, tryton_server: TrytonServer, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    written = tryton.upsert([item(key, name="Zhao Lei", email=f"{key}@example.com")])[0]
    batches = list(tryton.changed_since(None))
    cursor = batches[-1].cursor
    assert written.external_id in {r.key for b in batches for r in b.records}
    [mechanism] = tryton_server.call("model.party.contact_mechanism.search",
                                     [["party", "=", int(written.external_id or 0)]], 0, None, None, {})
    tryton_server.call("model.party.contact_mechanism.write", [mechanism], {"value": f"edit-{key}@example.com"}, {})
    changed = [r for b in tryton.changed_since(cursor) for r in b.records]
    mine = [r for r in changed if r.key == written.external_id]
    assert mine and mine[0].payload["email"] == f"edit-{key}@example.com" and mine[0].payload["hub_key"] == key


def test_delete_erases_parties(tryton: ErpDestination, unique: Callable[[str], str]) -> None:
    key = unique("hub")
    written = tryton.upsert([item(key, name="Erase Me", email=f"{key}@example.com")])[0]
    [result] = tryton.delete([written.external_id or ""])
    assert result.ok and tryton.fetch([key]) == {}


def test_a_wrong_password_stops_the_run(tryton_server: TrytonServer, target: Callable[..., Any]) -> None:
    import json

    from crm_core.errors import FatalError

    connection = json.loads(tryton_server.connection_uri())
    destination = target("tryton", json.dumps({**connection, "password": "wrong"}))
    with pytest.raises(FatalError, match="refused the login"):
        destination.fetch(["hub-1"])
