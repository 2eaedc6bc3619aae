"""Every target kind works from a plain hub.yaml and its builtin target map (``builtin:targets/<name>``).

Per target, the same story against its peer (the stateful fakes, the real Tryton): a customer is created with its
hub key, a second run writes nothing (our own write read back is an echo), a person's edit in the target comes back
as a contact record from that target, and the run after it writes nothing either.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.hub import Hub
from crm_core.jobs import push
from crm_core.models import ContactRecord
from tests.destinations._targets import GOLDEN, add_customer, target_hub
from tests.destinations.hubspot_server import HubSpotServer
from tests.fakes.mailchimp import MailchimpFake
from tests.fakes.salesforce import FakeSalesforce, serve
from tests.servers.tryton import TrytonServer


def pulled(hub: Hub, cid: int) -> dict[str, Any]:
    with hub.sessions() as session:
        record = session.scalars(select(ContactRecord).where(ContactRecord.source == "crm",
                                                             ContactRecord.customer_id == cid)).one()
        return dict(record.normalized)


def round_trip(hub: Hub, cid: int, writes: Callable[[], int], edit: Callable[[], None]) -> dict[str, Any]:
    """Create, quiet re-run, a person's edit pulled back, quiet again; returns the pulled contact record."""
    created = push(hub, "crm")
    assert (created.detail["created"], created.records_failed) == (1, 0)
    after_create = writes()
    assert after_create >= 1
    echo = push(hub, "crm")
    assert echo.records_out == 0 and echo.records_failed == 0 and writes() == after_create
    edit()
    pull = push(hub, "crm")
    assert pull.detail["pulled"] == 1 and pull.records_out == 0 and writes() == after_create
    quiet = push(hub, "crm")
    assert quiet.records_out == 0 and quiet.detail["pulled"] == 0 and writes() == after_create
    return pulled(hub, cid)


# ---------------------------------------------------------------------------------------------- peers


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[tuple[FakeSalesforce, str, str]]:
    org = FakeSalesforce()
    with serve(org, tmp_path) as (url, ca):
        yield org, url, ca


def test_salesforce_from_hub_yaml(make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch,
                                  salesforce: tuple[FakeSalesforce, str, str]) -> None:
    org, url, ca = salesforce
    hub = target_hub(make_hub, monkeypatch, "salesforce", "salesforce_contact", {
        "conn_type": "salesforce", "password": "token-0", "login": "hub-client",
        "extra": {"base_url": url, "client_secret": "hub-secret", "ca_bundle": ca}})
    cid = add_customer(hub, GOLDEN)

    def edit() -> None:
        org.edit(str(org.by_hub_key(f"hub-{cid}")[0]["Id"]), Title="Leitung Einkauf")

    came_back = round_trip(hub, cid, lambda: sum(1 for method, _ in org.calls if method != "GET"), edit)
    [record] = org.by_hub_key(f"hub-{cid}")
    assert (record["LastName"], record["Email"], record["MailingCountryCode"]) == ("Schmidt", "anna@example.de", "DE")
    assert came_back["title"] == "Leitung Einkauf"


def test_hubspot_from_hub_yaml(make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch,
                               hubspot_server: HubSpotServer) -> None:
    hub = target_hub(make_hub, monkeypatch, "hubspot", "hubspot_contact", {
        "conn_type": "hubspot", "password": hubspot_server.token, "extra": {"base_url": hubspot_server.url}})
    cid = add_customer(hub, GOLDEN)

    def contact() -> dict[str, Any]:
        [found] = [c for c in hubspot_server.contacts.values() if c["properties"].get("crmhub_id") == f"hub-{cid}"]
        return found

    def writes() -> int:
        return sum(1 for _, path in hubspot_server.requests if not path.endswith(("/batch/read", "/search")))

    came_back = round_trip(hub, cid, writes, lambda: hubspot_server.edit(contact()["id"], jobtitle="Leitung"))
    props = contact()["properties"]
    assert (props["lastname"], props["email"], props["country"], props["hs_language"]) == (
        "Schmidt", "anna@example.de", "DE", "de")
    assert came_back["title"] == "Leitung"


def test_mailchimp_from_hub_yaml(make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch,
                                 mailchimp_fake: MailchimpFake) -> None:
    hub = target_hub(make_hub, monkeypatch, "mailchimp", "mailchimp_member", {
        "conn_type": "mailchimp", "password": mailchimp_fake.api_key, "extra": {"base_url": mailchimp_fake.url}},
        {"list_id": "aud1"})
    cid = add_customer(hub, GOLDEN)

    def writes() -> int:
        return sum(1 for r in mailchimp_fake.requests if r.method != "GET")

    def unsubscribe() -> None:  # the member clicks "unsubscribe" in a newsletter
        mailchimp_fake.edit("aud1", "anna@example.de", status="unsubscribed")

    came_back = round_trip(hub, cid, writes, unsubscribe)
    member = mailchimp_fake.member("aud1", "anna@example.de")
    assert member is not None
    assert member["merge_fields"] == {"FNAME": "Anna", "LNAME": "Schmidt", "PHONE": "+493012345678",
                                      "HUBID": f"hub-{cid}"}
    assert {t["name"] for t in member["tags"]} == {"vip", "b2b"} and member["status"] == "unsubscribed"
    assert came_back["consent"] == {"email_marketing": False}  # the hub learns it; it never re-subscribes


def test_tryton_from_hub_yaml(make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch,
                              tryton_server: TrytonServer) -> None:
    hub = target_hub(make_hub, monkeypatch, "tryton", "tryton_party", json.loads(tryton_server.connection_uri()))
    cid = add_customer(hub, GOLDEN)

    def party() -> dict[str, Any]:
        [found] = tryton_server.call("model.party.party.search_read", [["code", "=", f"hub-{cid}"]], 0, None, None,
                                     ["name", "write_date", "contact_mechanisms", "addresses"], {})
        return found

    def stamps() -> list[Any]:
        """Tryton keeps no request log, but every write moves a ``write_date`` of the party or its parts."""
        found = [party()["write_date"]]
        for model in ("contact_mechanism", "address"):
            found += [r["write_date"] for r in tryton_server.call(
                f"model.party.{model}.search_read", [["party.code", "=", f"hub-{cid}"]], 0, None, None,
                ["write_date"], {})]
        return found

    def edit() -> None:
        tryton_server.call("model.party.party.write", [party()["id"]], {"name": "Anna Schmidt-Weber"}, {})

    created = push(hub, "crm")
    assert created.detail["created"] == 1 and party()["name"] == "Anna Schmidt"
    after_create = stamps()
    echo = push(hub, "crm")
    assert echo.records_out == 0 and echo.detail["echoes"] == 1 and stamps() == after_create
    edit()
    after_edit = stamps()
    assert push(hub, "crm").detail["pulled"] == 1
    quiet = push(hub, "crm")
    assert quiet.records_out == 0 and quiet.detail["pulled"] == 0 and stamps() == after_edit
    assert pulled(hub, cid)["full_name"] == "Anna Schmidt-Weber" and party()["name"] == "Anna Schmidt-Weber"
