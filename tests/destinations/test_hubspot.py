"""HubSpot contacts against a stateful HubSpot-shaped server: batching, idempotence, lists, conflicts, errors."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.marketing.hubspot import HubSpotDestination
from crm_core.errors import FatalError
from crm_core.records import OutboundItem, QuotaExceeded
from tests.destinations.hubspot_server import HubSpotServer


def contact(n: int, **fields: Any) -> OutboundItem:
    return OutboundItem(customer_id=n, hub_key=f"hub-{n}", fields={"email": f"c{n}@example.com", **fields})


def test_an_upsert_creates_then_updates_by_email(hubspot: HubSpotDestination, hubspot_server: HubSpotServer) -> None:
    first = hubspot.upsert([contact(1, firstname="伟", lastname="张")])[0]
    second = hubspot.upsert([contact(1, firstname="Wei", lastname="张")])[0]
    assert first.ok and first.created and second.ok and not second.created
    assert first.external_id == second.external_id and len(hubspot_server.contacts) == 1
    stored = hubspot_server.contacts[first.external_id or ""]["properties"]
    assert (stored["firstname"], stored["crmhub_id"]) == ("Wei", "hub-1")


def test_250_contacts_are_written_in_batches_of_100(hubspot: HubSpotDestination,
                                                     hubspot_server: HubSpotServer) -> None:
    results = hubspot.upsert([contact(n) for n in range(250)])
    assert all(r.ok for r in results) and len(hubspot_server.contacts) == 250
    assert [p for _, p in hubspot_server.requests] == ["/crm/v3/objects/contacts/batch/upsert"] * 3


def test_fetch_by_hub_key_email_or_id_returns_what_was_written(hubspot: HubSpotDestination) -> None:
    written = hubspot.upsert([contact(1, firstname="Anna"), contact(2, firstname="Bo")])
    found = hubspot.fetch(["hub-1", "c2@example.com", written[1].external_id or "", "hub-404"])
    assert set(found) == {"hub-1", "c2@example.com", written[1].external_id}
    assert found["hub-1"].fields["firstname"] == "Anna" and found["hub-1"].version == written[0].remote_version


def test_a_known_contact_is_updated_by_id_so_an_email_change_makes_no_duplicate(
        hubspot: HubSpotDestination, hubspot_server: HubSpotServer) -> None:
    first = hubspot.upsert([contact(1)])[0]
    moved = hubspot.upsert([OutboundItem(1, "hub-1", {"email": "new@example.com"}, first.external_id)])[0]
    assert moved.ok and moved.external_id == first.external_id and len(hubspot_server.contacts) == 1


def test_tags_become_list_memberships(hubspot: HubSpotDestination, hubspot_server: HubSpotServer) -> None:
    a, b = hubspot.upsert([contact(1, tags=["vip"]), contact(2, tags=["vip", "newsletter"])])
    assert hubspot_server.lists == {"17": {a.external_id, b.external_id}, "18": {b.external_id}}
    hubspot.upsert([OutboundItem(2, "hub-2", {"tags": ["newsletter"]}, b.external_id)])
    assert hubspot_server.lists["17"] == {a.external_id}


def test_an_edit_made_in_hubspot_after_our_read_is_not_overwritten(
        hubspot: HubSpotDestination, hubspot_server: HubSpotServer) -> None:
    written = hubspot.upsert([contact(1, firstname="Li")])[0]
    seen = hubspot.fetch([written.external_id or ""])[written.external_id or ""]
    hubspot_server.edit(seen.external_id, firstname="丽")
    [result] = hubspot.upsert([OutboundItem(1, "hub-1", {"firstname": "Lily"}, seen.external_id, seen.version)])
    assert (result.ok, result.error_class) == (False, "conflict")
    assert hubspot_server.contacts[seen.external_id]["properties"]["firstname"] == "丽"


def test_one_invalid_email_fails_alone(hubspot: HubSpotDestination, hubspot_server: HubSpotServer) -> None:
    items = [contact(1), OutboundItem(2, "hub-2", {"email": "not-an-address"}), contact(3)]
    results = hubspot.upsert(items)
    assert [(r.ok, r.error_class) for r in results] == [(True, None), (False, "invalid"), (True, None)]
    assert results[1].extra == {"vendor_code": "VALIDATION_ERROR", "status": 400}
    assert len(hubspot_server.contacts) == 2


def test_a_contact_deleted_in_hubspot_fails_alone_on_update(hubspot: HubSpotDestination,
                                                            hubspot_server: HubSpotServer) -> None:
    a, b = hubspot.upsert([contact(1), contact(2)])
    del hubspot_server.contacts[b.external_id or ""]
    results = hubspot.upsert([OutboundItem(1, "hub-1", {"firstname": "A"}, a.external_id),
                              OutboundItem(2, "hub-2", {"firstname": "B"}, b.external_id)])
    assert [(r.ok, r.extra.get("vendor_code")) for r in results] == [(True, None), (False, "OBJECT_NOT_FOUND")]


def test_a_rate_limit_is_waited_out_honouring_retry_after(hubspot: HubSpotDestination,
                                                          hubspot_server: HubSpotServer) -> None:
    hubspot_server.faults.append((429, {"status": "error", "message": "You have reached your ten_secondly_rolling "
                                        "limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
                                  {"Retry-After": "0"}))
    assert hubspot.upsert([contact(1)])[0].ok and len(hubspot_server.requests) == 2


def test_the_daily_limit_stops_the_run_cleanly(hubspot: HubSpotDestination, hubspot_server: HubSpotServer) -> None:
    hubspot_server.faults.append((429, {"status": "error", "message": "You have reached your daily limit.",
                                        "errorType": "RATE_LIMIT", "policyName": "DAILY"}, {}))
    with pytest.raises(QuotaExceeded, match="daily API limit"):  # the engine stops cleanly on this one
        hubspot.upsert([contact(1)])
    assert len(hubspot_server.requests) == 1  # no retries against a spent quota


def test_a_wrong_token_stops_the_run(hubspot_server: HubSpotServer) -> None:
    destination = HubSpotDestination(hubspot_server.url, "wrong")
    with pytest.raises(FatalError, match="code=INVALID_AUTHENTICATION"):
        destination.fetch(["hub-1"])


def test_changed_since_pages_through_edits_made_in_hubspot(hubspot: HubSpotDestination,
                                                           hubspot_server: HubSpotServer) -> None:
    written = hubspot.upsert([contact(n) for n in range(150)])
    first = list(hubspot.changed_since(None))
    assert len(first) == 2 and sum(len(b.records) for b in first) == 150
    hubspot_server.edit(written[7].external_id or "", phone="+8613800138000")
    later = [r for b in hubspot.changed_since(first[-1].cursor) for r in b.records]
    assert written[7].external_id in {r.key for r in later}


def test_erasure_gdpr_deletes_and_is_idempotent(hubspot: HubSpotDestination, hubspot_server: HubSpotServer) -> None:
    [written] = hubspot.upsert([contact(1, tags=["vip"])])
    assert [r.ok for r in hubspot.delete([written.external_id or ""])] == [True]
    assert hubspot_server.contacts == {} and hubspot_server.lists["17"] == set()
    assert [r.ok for r in hubspot.delete([written.external_id or ""])] == [True]
