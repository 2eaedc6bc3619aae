"""The plugin's FastAPI app over HTTP (Starlette's test client), with the access check it is given."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from crm_core.db import transaction
from crm_core.models import ContactRecord, Customer, DeadLetter, RunStat


def _deny(request: Request) -> None:
    raise HTTPException(401, "not signed in")


@pytest.fixture
def client(hub_home: Any, db_url: str) -> TestClient:
    from crm_sync import build_app

    hub = hub_home(url=db_url)
    with transaction(hub.sessions) as s:
        customer = Customer(golden={"full_name": "Ada Lovelace", "email": "ada@example.org"})
        s.add(customer)
        s.flush()
        s.add(ContactRecord(source="web_forms", source_key="1", customer_id=customer.id, email="ada@example.org"))
        s.add(RunStat(stage="ingest", name="web_forms", status="success", records_in=3, records_out=3))
        s.add(DeadLetter(stage="map", name="web_forms", error_class="InvalidEmail", error_message="no @ in it"))
    return TestClient(build_app(home=hub.home))


def test_status_json_lists_the_flows_with_their_counts(client: TestClient) -> None:
    body = client.get("/api/status").json()
    forms = next(f for f in body["flows"] if f["name"] == "web_forms")
    assert (forms["in_24h"], forms["failed_by_class"]) == (3, {"InvalidEmail": 1})


def test_failed_lists_what_a_replay_would_resend(client: TestClient) -> None:
    items = client.get("/api/failed", params={"stage": "map", "name": "web_forms"}).json()["items"]
    assert [(i["error_class"], i["error_message"]) for i in items] == [("InvalidEmail", "no @ in it")]
    assert client.get("/api/failed", params={"stage": "nope"}).status_code == 422


def test_lookup_returns_the_card_404_when_unknown_422_when_unusable(client: TestClient) -> None:
    found = client.get("/customers/lookup", params={"email": "ADA@example.org"})
    assert found.status_code == 200 and found.json()["customer"]["full_name"] == "Ada Lovelace"
    assert client.get("/customers/lookup", params={"email": "bob@example.org"}).status_code == 404
    assert client.get("/customers/lookup").status_code == 422


def test_the_page_and_the_replay_form_are_served(client: TestClient) -> None:
    assert "CRM sync" in client.get("/").text
    assert "replay_failed" in client.get("/replay").text


def test_data_routes_follow_the_access_check_the_shell_holds_no_data(hub_home: Any) -> None:
    from crm_sync import build_app

    hub = hub_home()
    guarded = TestClient(build_app(require_user=_deny, home=hub.home))
    for path in ("/api/status", "/api/failed", "/customers/lookup?email=a@b.c"):
        assert guarded.get(path).status_code == 401, path
    assert guarded.get("/").status_code == 200
