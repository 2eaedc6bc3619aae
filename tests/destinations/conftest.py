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
