"""WeChat encrypted (安全模式, safe) and compatible mode through the intake over real HTTP.

Messages are sealed by ``_wechat_cipher``, a sender written from WeChat's published scheme, and by WeChat's own
worked example (the sample values of its message-encryption docs), so the intake is held to the spec, not to itself.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from connectors.intake import IntakeSource, create_intake_app, hub_lander
from connectors.social import wechat
from crm_core.hub import Hub
from tests.connectors._forms_social_fixtures import UvicornThread, count_rows, landed_rows, open_hub
from tests.connectors._wechat_cipher import encrypt, envelope, signed_query

TOKEN = "safe-mode-token"
KEY = "Qm9vdHN0cmFwS2V5Rm9yV2VDaGF0U2FmZU1vZGUxMjM"  # 43 letters and digits, as the console generates
APP_ID = "wx7a1c9e3f5b2d4680"
OTHER_KEY = "ZZZZ" + KEY[4:]
NEW_KEY = "TmV3S2V5QWZ0ZXJSb3RhdGlvbkZvcldlQ2hhdDAwMDE"  # what the console generated at the key change
BAD_KEY = "this-is-not-an-encoding-aes-key"

# WeChat's worked example (message encryption docs and the sample code shipped with them), compatible mode
SPEC_TOKEN, SPEC_KEY, SPEC_APP_ID = "spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
SPEC_TIMESTAMP, SPEC_NONCE = "1409735669", "1320562132"
SPEC_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SPEC_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9Fr"
    "XpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WG"
    "zjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIB"
    "YYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
SPEC_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    f"</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[{SPEC_ENCRYPT}]]></Encrypt></xml>"
).encode()

CHINESE = "你好，我想预约周六看房，预算300万左右，电话13912345678"


def text_message(msg_id: str, content: str = CHINESE, openid: str = "oia2TjjewbmiOUlr6X-1crbLOvLw") -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>1756022400</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]>"
        f"</Content><MsgId>{msg_id}</MsgId></xml>"
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = open_hub(tmp_path_factory.mktemp("wechat-aes-intake"))
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def base_url(hub: Hub) -> Iterator[str]:
    spec_window = int(time.time()) - int(SPEC_TIMESTAMP) + 600  # the 2014 example, let through by its own source
    sources = {
        "wxs": IntakeSource(kind="wechat", secret=TOKEN, encoding_aes_key=KEY, app_id=APP_ID),
        "wx-plain": IntakeSource(kind="wechat", secret=TOKEN),
        "wx-spec": IntakeSource(kind="wechat", secret=SPEC_TOKEN, encoding_aes_key=SPEC_KEY, app_id=SPEC_APP_ID,
                                tolerance_seconds=spec_window),
        "wx-conn": IntakeSource(kind="wechat", connection_id="wechat_safe"),
        "wx-conn-extra": IntakeSource(kind="wechat", connection_id="wechat_safe_extra"),
        "wx-badkey": IntakeSource(kind="wechat", secret=TOKEN, encoding_aes_key=BAD_KEY, app_id=APP_ID),
        "wx-rotated": IntakeSource(kind="wechat", secret=TOKEN, encoding_aes_key=NEW_KEY, previous_encoding_aes_key=KEY,
                                   app_id=APP_ID),
        "wx-conn-rotated": IntakeSource(kind="wechat", connection_id="wechat_rotated"),
        "wx-badprevious": IntakeSource(kind="wechat", secret=TOKEN, encoding_aes_key=NEW_KEY,
                                       previous_encoding_aes_key=BAD_KEY, app_id=APP_ID),
    }
    connections = {
        "AIRFLOW_CONN_WECHAT_SAFE": {"conn_type": "generic", "password": TOKEN,
                                     "extra": {"encoding_aes_key": KEY, "app_id": APP_ID}},
        "AIRFLOW_CONN_WECHAT_SAFE_EXTRA": {"conn_type": "generic",
                                           "extra": {"token": TOKEN, "encoding_aes_key": KEY, "app_id": APP_ID}},
        "AIRFLOW_CONN_WECHAT_ROTATED": {"conn_type": "generic", "password": TOKEN,
                                        "extra": {"encoding_aes_key": NEW_KEY, "previous_encoding_aes_key": KEY,
                                                  "app_id": APP_ID}},
    }
    with pytest.MonkeyPatch.context() as env, UvicornThread(create_intake_app(hub_lander(hub), sources)) as server:
        for name, value in connections.items():
            env.setenv(name, json.dumps(value))
        yield f"{server.url}/intake"


def post_sealed(url: str, xml: str, *, key: str = KEY, app_id: str = APP_ID, nonce: str = "1320562132",
                token: str = TOKEN, timestamp: int | None = None) -> requests.Response:
    sealed = encrypt(xml, key, app_id)
    query = signed_query(token, sealed, timestamp=timestamp, nonce=nonce)
    return requests.post(url, params=query, data=envelope(sealed), timeout=10)


# ------------------------------------------------------------------------------------------- the spec's example


def test_the_spec_example_signature_and_plaintext_are_reproduced() -> None:
    key = wechat.aes_key(SPEC_KEY)
    assert wechat.msg_signature(SPEC_TOKEN, SPEC_TIMESTAMP, SPEC_NONCE, SPEC_ENCRYPT) == SPEC_MSG_SIGNATURE
    plain = wechat.decrypt(key, SPEC_ENCRYPT, SPEC_APP_ID)
    assert plain.startswith(b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>")
    assert b"<MsgId>6054768590064713728</MsgId>" in plain and plain.endswith(b"</xml>")


def test_the_spec_example_posted_in_compatible_mode_lands(hub: Hub, base_url: str) -> None:
    query = {"signature": wechat.sign(SPEC_TOKEN, SPEC_TIMESTAMP, SPEC_NONCE), "timestamp": SPEC_TIMESTAMP,
             "nonce": SPEC_NONCE, "encrypt_type": "aes", "msg_signature": SPEC_MSG_SIGNATURE}
    response = requests.post(f"{base_url}/wx-spec", params=query, data=SPEC_BODY, timeout=10)
    assert (response.status_code, response.text) == (200, "success")
    [row] = landed_rows(hub, "wx-spec")
    assert (row.source_key, row.payload["content"], row.payload["account"]) == (
        "msg:6054768590064713728", "abcdteT", "gh_10f6c3c3ac5a")
    assert row.payload["extra"] == {}  # the decrypted message, not the envelope (whose <Encrypt> would show here)


# ------------------------------------------------------------------------------------------- safe and compatible


def test_a_safe_mode_chinese_message_and_its_retries_land_once(hub: Hub, base_url: str) -> None:
    xml = text_message("24700000000000001")
    answers = [post_sealed(f"{base_url}/wxs", xml, nonce=f"n{i}") for i in range(4)]  # delivery + three retries,
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 4  # each sealed with fresh random
    [row] = [r for r in landed_rows(hub, "wxs") if r.source_key == "msg:24700000000000001"]
    assert (row.payload["content"], row.payload["openid"]) == (CHINESE, "oia2TjjewbmiOUlr6X-1crbLOvLw")


def test_compatible_mode_lands_the_encrypted_part_and_ignores_the_clear_copy(hub: Hub, base_url: str) -> None:
    sealed = encrypt(text_message("24700000000000002", content="真正的内容：请回电"), KEY, APP_ID)
    forged = ("<FromUserName><![CDATA[attacker]]></FromUserName><MsgType><![CDATA[text]]></MsgType>"
              "<Content><![CDATA[forged clear copy]]></Content><MsgId>1</MsgId>")
    response = requests.post(f"{base_url}/wxs", params=signed_query(TOKEN, sealed), data=envelope(sealed, clear=forged),
                             timeout=10)
    assert (response.status_code, response.text) == (200, "success")
    [row] = [r for r in landed_rows(hub, "wxs") if r.source_key == "msg:24700000000000002"]
    assert (row.payload["content"], row.payload["openid"]) == ("真正的内容：请回电", "oia2TjjewbmiOUlr6X-1crbLOvLw")


def test_a_safe_mode_event_without_msgid_and_its_retry_land_once(hub: Hub, base_url: str) -> None:
    event = ("<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQ]]>"
             "</FromUserName><CreateTime>1756022500</CreateTime><MsgType><![CDATA[event]]></MsgType>"
             "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_开放日]]></EventKey></xml>")
    answers = [post_sealed(f"{base_url}/wxs", event, nonce=f"e{i}") for i in range(2)]
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 2
    [row] = [r for r in landed_rows(hub, "wxs") if r.source_key.startswith("event:oia2TjuEGTNoeX76QEjQ:")]
    assert (row.payload["event"], row.payload["event_key"]) == ("subscribe", "qrscene_开放日")


@pytest.mark.parametrize("source", ["wx-conn", "wx-conn-extra"], ids=["token-in-password", "token-in-extra"])
def test_keys_come_from_the_airflow_connection(hub: Hub, base_url: str, source: str) -> None:
    response = post_sealed(f"{base_url}/{source}", text_message("24700000000000003", content="连接里的密钥"))
    assert (response.status_code, response.text) == (200, "success")
    [row] = landed_rows(hub, source)
    assert row.payload["content"] == "连接里的密钥"


@pytest.mark.parametrize("source", ["wx-rotated", "wx-conn-rotated"])
def test_after_a_key_change_pushes_sealed_with_the_previous_key_still_land(
    hub: Hub, base_url: str, caplog: pytest.LogCaptureFixture, source: str
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.intake")
    before = post_sealed(f"{base_url}/{source}", text_message("24700000000000011", content="换钥匙之前发的"), key=KEY)
    after = post_sealed(f"{base_url}/{source}", text_message("24700000000000012", content="换钥匙之后发的"), key=NEW_KEY)
    assert [(r.status_code, r.text) for r in (before, after)] == [(200, "success")] * 2
    assert sorted(r.payload["content"] for r in landed_rows(hub, source)) == ["换钥匙之前发的", "换钥匙之后发的"]
    told = [r.getMessage() for r in caplog.records if "previous EncodingAESKey" in r.getMessage()]
    assert len(told) == 1 and source in told[0]  # only the old-key push; the admin learns when to drop it
    assert KEY not in caplog.text and NEW_KEY not in caplog.text


def test_the_url_check_with_an_encrypted_echostr_answers_it_decrypted(base_url: str) -> None:
    sealed = encrypt("7192883871", KEY, APP_ID)
    query = {**signed_query(TOKEN, sealed), "echostr": sealed}
    query.pop("encrypt_type")
    response = requests.get(f"{base_url}/wxs", params=query, timeout=10)
    assert (response.status_code, response.text) == (200, "7192883871")


def test_the_plain_url_check_still_works_on_an_encrypted_source(base_url: str) -> None:
    ts, nonce = str(int(time.time())), "42"
    query = {"signature": wechat.sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "5566"}
    response = requests.get(f"{base_url}/wxs", params=query, timeout=10)
    assert (response.status_code, response.text) == (200, "5566")


# ------------------------------------------------------------------------------------------- refusals


def _query(sealed: str, **changes: str) -> dict[str, str]:
    return {**signed_query(TOKEN, sealed), **changes}


def _sealed(xml: str | None = None, **knobs: object) -> str:
    return encrypt(xml or text_message("24799999999999999"), str(knobs.pop("key", KEY)),
                   str(knobs.pop("app_id", APP_ID)), **knobs)  # type: ignore[arg-type]


def _tail(xml: str | None = None) -> int:
    """The length of the correct PKCS#7 tail for a message (so a broken tail keeps the blocks whole)."""
    framed = 20 + len((xml or text_message("24799999999999999")).encode()) + len(APP_ID)
    return 32 - framed % 32


def _padded_to_16() -> str:
    """A message padded the usual AES way, to 16 bytes, where that differs from WeChat's 32 (tail over 16 bytes)."""
    xml = next(x for i in range(32) if _tail(x := text_message("24799999999999997", "看" + "x" * i)) > 16)
    return _sealed(xml, padding=bytes([_tail(xml) - 16]) * (_tail(xml) - 16))


Request = Callable[[], tuple[str, str, dict[str, str], bytes]]  # method, source, query, body
OTHER_APP = "wx0000000000000000"
CLEAR_COPY = ("<FromUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></FromUserName><CreateTime>1756022400</CreateTime>"
              "<MsgType><![CDATA[text]]></MsgType><MsgId>24799999999999996</MsgId>")  # compatible mode's clear fields

# (request, status, a fragment of the reason given): the reason shows the refusal comes from the check meant
REFUSALS: list[object] = [
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed(), msg_signature="0" * 40), envelope(s)),
                 401, "msg_signature", id="bad-msg-signature"),
    pytest.param(lambda: ("POST", "wxs", signed_query("another-token", s := _sealed()), envelope(s)),
                 401, "msg_signature", id="signed-with-another-token"),
    pytest.param(lambda: ("POST", "wxs", signed_query(TOKEN, s := _sealed(), timestamp=int(time.time()) - 600),
                          envelope(s)), 401, "stale", id="stale-timestamp"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed(app_id=OTHER_APP)), envelope(s)),
                 403, "AppID", id="wrong-appid"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed(key=OTHER_KEY)), envelope(s)),
                 400, "key", id="undecryptable-other-key"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed(padding=b"\x00" * _tail())), envelope(s)),
                 400, "padding", id="padding-byte-zero"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed(padding=b"\x21" * (_tail() + 32))), envelope(s)),
                 400, "padding", id="padding-longer-than-a-32-byte-block"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _padded_to_16()), envelope(s)),
                 400, "32-byte blocks", id="padded-to-16-not-32"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed(length=100_000)), envelope(s)),
                 400, "length", id="length-field-past-the-content"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed("<xml><Content>not a message</Content></xml>")),
                          envelope(s, clear=CLEAR_COPY)), 400, "MsgType", id="decrypts-to-a-non-message"),
    pytest.param(lambda: ("POST", "wxs", _query("%%not-base64%%"), envelope("%%not-base64%%")),
                 400, "base64", id="not-base64"),
    pytest.param(lambda: ("POST", "wxs", _query(""), b"<xml><ToUserName>gh_7f083739789a</ToUserName></xml>"),
                 400, "<Encrypt>", id="no-encrypt-element"),
    pytest.param(lambda: ("POST", "wxs", _query(s := _sealed(), encrypt_type="des"), envelope(s)),
                 400, "encrypt_type", id="unknown-encrypt-type"),
    pytest.param(lambda: ("POST", "wxs", {k: v for k, v in _query(_sealed()).items() if k != "encrypt_type"},
                          text_message("24799999999999998").encode()), 401, "encrypted pushes only",
                 id="clear-push-to-an-encrypted-source"),
    pytest.param(lambda: ("POST", "wx-plain", _query(s := _sealed()), envelope(s)),
                 503, "no encoding_aes_key", id="encrypted-push-to-a-plaintext-source"),
    pytest.param(lambda: ("POST", "wx-badkey", _query(s := _sealed()), envelope(s)),
                 503, "not configured", id="malformed-configured-key"),
    pytest.param(lambda: ("POST", "wx-rotated", _query(s := _sealed(key=OTHER_KEY)), envelope(s)),
                 400, "key", id="rotated-source-neither-key"),
    pytest.param(lambda: ("POST", "wx-rotated", _query(s := _sealed(key=KEY, app_id=OTHER_APP)), envelope(s)),
                 403, "AppID", id="rotated-source-previous-key-other-appid"),
    pytest.param(lambda: ("POST", "wx-badprevious", _query(s := _sealed(key=NEW_KEY)), envelope(s)),
                 503, "not configured", id="malformed-previous-key"),
    pytest.param(lambda: ("GET", "wxs", _query(s := _sealed("7192883871"), echostr=s, msg_signature="f" * 40), b""),
                 401, "msg_signature", id="echostr-bad-msg-signature"),
    pytest.param(lambda: ("GET", "wxs", _query(s := _sealed("7192883871", app_id=OTHER_APP), echostr=s), b""),
                 403, "AppID", id="echostr-wrong-appid"),
]


@pytest.mark.parametrize(("build", "status", "reason"), REFUSALS)
def test_a_bad_encrypted_push_is_refused_without_landing_or_leaking(
    hub: Hub, base_url: str, caplog: pytest.LogCaptureFixture, build: Request, status: int, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    method, source, query, body = build()
    before = count_rows(hub)
    response = requests.request(method, f"{base_url}/{source}", params=query, data=body or None, timeout=10)
    assert (response.status_code, count_rows(hub)) == (status, before)
    assert reason in response.json()["error"]
    for secret in (TOKEN, KEY, NEW_KEY, BAD_KEY, CHINESE, "not a message"):  # secrets and message content stay out
        assert secret not in response.text and secret not in caplog.text
