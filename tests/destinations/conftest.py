"""Fixtures for the destination tests: a real Tryton per session, a Destination built the way the hub builds it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crm_core.config import TargetConfig
from tests.destinations.hubspot_server import HubSpotServer
from tests.fakes.mailchimp import MailchimpFake
from tests.servers.tryton import TrytonServer


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    server = TrytonServer(tmp_path_factory.mktemp("tryton"))
    yield server
    server.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Hub keys and e-mails unique to this test: the Tryton database is shared by the session."""
    tag = uuid.uuid4().hex[:8]
    return lambda stem: f"{stem}-{tag}"


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Build a destination from a target config, with its connection given as AIRFLOW_CONN_<ID>."""

    def make(kind: str, connection: str, **options: Any) -> Any:
        from connectors import build_destination

        conn_id = f"{kind}_test"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection)
        config = TargetConfig(name=kind, kind=kind, mapping=f"builtin:{kind}", connection_id=conn_id,
                              options=options)
        return build_destination(config, hub=None)

    return make


@pytest.fixture
def tryton(tryton_server: TrytonServer, target: Callable[..., Any]) -> Any:
    return target("tryton", tryton_server.connection_uri())



@pytest.fixture
def mailchimp_fake() -> Iterator[MailchimpFake]:
    fake = MailchimpFake().start()
    fake.add_list("aud1")
    yield fake
    fake.stop()


@pytest.fixture
def mailchimp(mailchimp_fake: MailchimpFake, target: Callable[..., Any]) -> Any:
    connection = json.dumps({"conn_type": "mailchimp", "password": mailchimp_fake.api_key,
                             "extra": {"base_url": mailchimp_fake.url}})
    return target("mailchimp", connection, list_id="aud1")


@pytest.fixture
def hubspot_server() -> Iterator[HubSpotServer]:
    server = HubSpotServer().start()
    yield server
    server.stop()


@pytest.fixture
def hubspot(hubspot_server: HubSpotServer, target: Callable[..., Any]) -> Any:
    connection = json.dumps({"conn_type": "hubspot", "password": hubspot_server.token,
                             "extra": {"base_url": hubspot_server.url}})
    return target("hubspot", connection, tag_lists={"vip": "17", "newsletter": "18"})


@pytest.fixture
def salesforce_org(tmp_path: Any) -> Iterator[tuple[Any, str, str]]:
    from tests.fakes.salesforce import FakeSalesforce, serve

    org = FakeSalesforce()
    with serve(org, tmp_path) as (url, ca):
        yield org, url, ca


@pytest.fixture(params=["salesforce", "hubspot", "mailchimp", "tryton"])
def target_peer(request: pytest.FixtureRequest) -> Any:
    """Each target kind in turn, configured only through hub.yaml with its builtin map (``_targets.TargetPeer``)."""
    from tests.destinations._targets import TargetPeer

    kind = request.param
    if kind == "salesforce":
        org, url, ca = request.getfixturevalue("salesforce_org")
        return TargetPeer(
            kind, "salesforce_contact",
            {"conn_type": "salesforce", "password": "token-0", "login": "hub-client",
             "extra": {"base_url": url, "client_secret": "hub-secret", "ca_bundle": ca}}, {},
            "title", lambda cid: org.by_hub_key(f"hub-{cid}"),
            lambda cid, value: org.edit(str(org.by_hub_key(f"hub-{cid}")[0]["Id"]), Title=value),
            lambda r: r.get("Title"), lambda r: r.get("Phone"), lambda d: d.session)
    if kind == "hubspot":
        server = request.getfixturevalue("hubspot_server")

        def contacts(cid: int) -> list[dict[str, Any]]:
            return [c for c in server.contacts.values() if c["properties"].get("crmhub_id") == f"hub-{cid}"]

        return TargetPeer(
            kind, "hubspot_contact",
            {"conn_type": "hubspot", "password": server.token, "extra": {"base_url": server.url}}, {},
            "title", contacts, lambda cid, value: server.edit(contacts(cid)[0]["id"], jobtitle=value),
            lambda c: c["properties"].get("jobtitle"), lambda c: c["properties"].get("phone"), lambda d: d.http)
    if kind == "mailchimp":
        fake = request.getfixturevalue("mailchimp_fake")

        def members(cid: int) -> list[dict[str, Any]]:
            return [m for m in fake.lists["aud1"].values() if m["merge_fields"].get("HUBID") == f"hub-{cid}"]

        return TargetPeer(
            kind, "mailchimp_member",
            {"conn_type": "mailchimp", "password": fake.api_key, "extra": {"base_url": fake.url}},
            {"list_id": "aud1"}, "given_name", members,
            lambda cid, value: fake.edit("aud1", members(cid)[0]["email_address"],
                                         merge_fields={**members(cid)[0]["merge_fields"], "FNAME": value}),
            lambda m: m["merge_fields"].get("FNAME"), lambda m: m["merge_fields"].get("PHONE"), lambda d: d.http)
    server = request.getfixturevalue("tryton_server")

    def parties(cid: int) -> list[dict[str, Any]]:
        rows = server.call("model.party.party.search_read", [["code", "=", f"hub-{cid}"]], 0, None, None,
                           ["name", "contact_mechanisms"], {})
        for row in rows:
            mechs = server.call("model.party.contact_mechanism.read", row["contact_mechanisms"], ["type", "value"], {})
            row["phone"] = next((m["value"] for m in mechs if m["type"] == "phone"), None)
        return list(rows)

    return TargetPeer(
        kind, "tryton_party", json.loads(server.connection_uri()), {}, "full_name", parties,
        lambda cid, value: server.call("model.party.party.write", [parties(cid)[0]["id"]], {"name": value}, {}),
        lambda p: p["name"], lambda p: p["phone"], lambda d: d.backend.rpc.http)
