"""WhatsApp and WeChat pushes through the intake over real HTTP: verified, deduplicated, answered as each platform
expects."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from connectors.intake import IntakeSource, create_intake_app, hub_lander
from connectors.social import wechat, whatsapp
from crm_core.hub import Hub
from tests.connectors._forms_social_fixtures import UvicornThread, count_rows, landed_rows, open_hub
from tests.servers import REPO

APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me"
WECHAT_TOKEN = "wechat-token"
EXAMPLES = REPO / "examples" / "social"


def recorded(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXAMPLES / name).read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = open_hub(tmp_path_factory.mktemp("social-intake"))
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def base_url(hub: Hub) -> Iterator[str]:
    sources = {
        "wa": IntakeSource(kind="whatsapp", secret=APP_SECRET, verify_token=VERIFY_TOKEN),
        "wx": IntakeSource(kind="wechat", secret=WECHAT_TOKEN),
    }
    with UvicornThread(create_intake_app(hub_lander(hub), sources)) as server:
        yield f"{server.url}/intake"


def post_whatsapp(url: str, body: bytes, secret: str = APP_SECRET) -> requests.Response:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": whatsapp.sign(secret, body)}
    return requests.post(url, data=body, headers=headers, timeout=10)


def wechat_params(timestamp: int | None = None, nonce: str = "1405720") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"signature": wechat.sign(WECHAT_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
            "openid": "oia2TjjewbmiOUlr6X-1crbLOvLw"}


# ------------------------------------------------------------------------------------------- WhatsApp


def test_the_whatsapp_subscription_handshake_echoes_the_challenge(base_url: str) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    ok = requests.get(f"{base_url}/wa", params=params, timeout=10)
    bad = requests.get(f"{base_url}/wa", params={**params, "hub.verify_token": "guess"}, timeout=10)
    assert (ok.status_code, ok.text, bad.status_code) == (200, "1158201444", 403)


def test_a_signed_whatsapp_message_lands_once_even_when_meta_delivers_it_again(hub: Hub, base_url: str) -> None:
    body = json.dumps(recorded("whatsapp-webhooks.jsonl")[1]["body"], ensure_ascii=False).encode()
    first, again = post_whatsapp(f"{base_url}/wa", body), post_whatsapp(f"{base_url}/wa", body)
    assert (first.status_code, first.json()["landed"], again.status_code, again.json()["landed"]) == (200, 1, 200, 0)
    [row] = [r for r in landed_rows(hub, "wa") if r.payload["from"] == "447400123456"]
    assert row.payload["profile_name"] == "Oliver Smith"


def test_whatsapp_statuses_are_acknowledged_without_landing(hub: Hub, base_url: str) -> None:
    before = count_rows(hub)
    body = json.dumps(recorded("whatsapp-webhooks.jsonl")[2]["body"]).encode()
    response = post_whatsapp(f"{base_url}/wa", body)
    assert (response.status_code, response.json()["ignored"], count_rows(hub)) == (200, 1, before)


@pytest.mark.parametrize(
    ("signature", "status"),
    [pytest.param(None, 401, id="unsigned"), pytest.param("sha256=00", 401, id="wrong")],
)
def test_an_unverified_whatsapp_post_is_refused(hub: Hub, base_url: str, signature: str | None, status: int) -> None:
    before = count_rows(hub)
    body = json.dumps(recorded("whatsapp-webhooks.jsonl")[0]["body"]).encode()
    headers = {"Content-Type": "application/json", **({"X-Hub-Signature-256": signature} if signature else {})}
    response = requests.post(f"{base_url}/wa", data=body, headers=headers, timeout=10)
    assert (response.status_code, count_rows(hub)) == (status, before)


def test_a_signed_but_malformed_whatsapp_body_is_refused(hub: Hub, base_url: str) -> None:
    before = count_rows(hub)
    response = post_whatsapp(f"{base_url}/wa", b'{"object": "page", "entry": []}')
    assert (response.status_code, count_rows(hub)) == (400, before)


# ------------------------------------------------------------------------------------------- WeChat


def test_the_wechat_url_check_echoes_echostr(base_url: str) -> None:
    response = requests.get(f"{base_url}/wx", params={**wechat_params(), "echostr": "7192883871"}, timeout=10)
    assert (response.status_code, response.text) == (200, "7192883871")


def test_a_wechat_message_and_its_retries_land_once_and_are_answered_success(hub: Hub, base_url: str) -> None:
    xml = recorded("wechat-pushes.jsonl")[0]["body"].encode()
    answers = [requests.post(f"{base_url}/wx", params=wechat_params(nonce=f"n{i}"), data=xml, timeout=10)
               for i in range(4)]  # WeChat's delivery plus its three retries
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 4
    [row] = landed_rows(hub, "wx")
    assert row.payload["content"].startswith("我想预约看房")


@pytest.mark.parametrize(
    ("params", "body", "status"),
    [
        pytest.param({"timestamp": "1756022400", "nonce": "x", "signature": "0" * 40}, b"<xml/>", 401, id="bad-sig"),
        pytest.param("stale", b"<xml/>", 401, id="stale"),
        pytest.param("fresh", b'<!DOCTYPE x [<!ENTITY a "b">]><xml>&a;</xml>', 400, id="dtd"),
        pytest.param("fresh", b"<xml><Content>unclosed", 400, id="malformed"),
        pytest.param("fresh", b"<xml>" + b"x" * 70_000 + b"</xml>", 413, id="oversized"),
    ],
)
def test_a_bad_wechat_push_is_refused(hub: Hub, base_url: str, params: object, body: bytes, status: int) -> None:
    before = count_rows(hub)
    query = wechat_params(int(time.time()) - 600) if params == "stale" else (
        wechat_params() if params == "fresh" else params)
    response = requests.post(f"{base_url}/wx", params=query, data=body, timeout=10)
    assert (response.status_code, count_rows(hub)) == (status, before)
