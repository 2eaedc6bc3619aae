"""Parsers of the social payloads: what they produce from real shapes, what they refuse, and that arbitrary input
never escapes as an unhandled exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.social import wechat, whatsapp
from connectors.social.files import parse_recorded
from connectors.social.x import parse_dm_events, parse_mentions
from tests.servers import REPO

EXAMPLES = REPO / "examples" / "social"


def recorded(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXAMPLES / name).read_text(encoding="utf-8").splitlines() if line]


# ------------------------------------------------------------------------------------------- WhatsApp


def test_a_whatsapp_text_message_becomes_one_record_with_the_senders_profile_name() -> None:
    records, ignored = whatsapp.parse_webhook(recorded("whatsapp-webhooks.jsonl")[0]["body"])
    [record] = records
    assert ignored == 0
    assert record.key == "wamid:wamid.HBgNODYxMzgwMDEzODAwMBUCABIYFDNBMDFDQzY5RjFBQjE0RTZGRDEyAA=="
    assert (record.payload["from"], record.payload["profile_name"]) == ("8613800138000", "陈静")
    assert record.payload["text"].startswith("你好") and record.payload["sent_at"] == "2025-08-24T07:00:00+00:00"


def test_whatsapp_delivery_statuses_are_counted_not_landed() -> None:
    records, ignored = whatsapp.parse_webhook(recorded("whatsapp-webhooks.jsonl")[2]["body"])
    assert (records, ignored) == ([], 1)


def test_a_whatsapp_location_message_summarises_its_place() -> None:
    [record], _ = whatsapp.parse_webhook(recorded("whatsapp-webhooks.jsonl")[3]["body"])
    assert record.payload["type"] == "location" and record.payload["text"] == "人民广场, 上海市黄浦区人民大道"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"object": "page", "entry": []}, id="another-object"),
        pytest.param({"object": "whatsapp_business_account"}, id="no-entry"),
        pytest.param([], id="a-list"),
        pytest.param("text", id="a-string"),
    ],
)
def test_not_a_whatsapp_webhook_is_refused(body: object) -> None:
    with pytest.raises(whatsapp.BadPayload):
        whatsapp.parse_webhook(body)


def test_whatsapp_messages_without_id_or_sender_are_skipped() -> None:
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messages": [{"id": "wamid.x"}, {"from": "447400123456"}, "junk"]}}]}]}
    assert whatsapp.parse_webhook(body) == ([], 3)


def test_the_whatsapp_signature_is_an_hmac_of_the_exact_bytes() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    signature = whatsapp.sign("app-secret", body)
    assert whatsapp.signature_valid("app-secret", body, signature)
    assert not whatsapp.signature_valid("app-secret", body + b" ", signature)
    assert not whatsapp.signature_valid("app-secret", body, None)


def test_the_whatsapp_handshake_echoes_the_challenge_only_for_the_right_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}
    assert whatsapp.handshake(params, "tok") == "1158201444"
    assert whatsapp.handshake(params, "other") is None
    assert whatsapp.handshake({**params, "hub.mode": "unsubscribe"}, "tok") is None
    assert whatsapp.handshake(params, None) is None


# ------------------------------------------------------------------------------------------- WeChat


def test_a_wechat_text_message_is_keyed_by_msgid() -> None:
    record = wechat.parse_message(recorded("wechat-pushes.jsonl")[0]["body"].encode())
    assert record.key == "msg:24612345678901234"
    assert record.payload["content"] == "我想预约看房，预算300万左右，电话13800138000"
    assert record.payload["openid"] == "oia2TjjewbmiOUlr6X-1crbLOvLw"


def test_a_wechat_event_without_msgid_is_keyed_by_sender_time_and_event() -> None:
    record = wechat.parse_message(recorded("wechat-pushes.jsonl")[1]["body"].encode())
    assert record.key == "event:oia2TjuEGTNoeX76QEjQNrcURxG8:1756022500:subscribe"
    assert record.payload["event_key"] == "qrscene_openday2025"


def test_the_wechat_signature_is_sha1_of_the_sorted_token_timestamp_and_nonce() -> None:
    import hashlib

    expected = hashlib.sha1(b"".join(sorted([b"tok", b"1756022400", b"nonce42"]))).hexdigest()  # noqa: S324
    assert wechat.sign("tok", "1756022400", "nonce42") == expected
    assert wechat.signature_valid("tok", {"signature": expected, "timestamp": "1756022400", "nonce": "nonce42"})
    assert not wechat.signature_valid("tok", {"signature": expected, "timestamp": "1756022401", "nonce": "nonce42"})
    assert not wechat.signature_valid("tok", {"timestamp": "1756022400", "nonce": "nonce42"})


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<xml><ToUserName>a</ToUserName>", id="unclosed"),
        pytest.param(b"<msg><MsgType>text</MsgType></msg>", id="wrong-root"),
        pytest.param(b"<xml><MsgType>text</MsgType><MsgId>1</MsgId></xml>", id="no-sender"),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b"<xml><Content>&lol2;</Content></xml>", id="billion-laughs"),
        pytest.param(b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><xml/>', id="external-dtd"),
        pytest.param(b"<xml>\xff\xfe</xml>", id="invalid-utf8"),
        pytest.param(b"<xml>" * 100_000, id="deep"),
    ],
)
def test_a_bad_wechat_body_is_refused(body: bytes) -> None:
    with pytest.raises(wechat.BadMessage):
        wechat.parse_message(body)


# ------------------------------------------------------------------------------------------- X


def test_x_mentions_carry_the_authors_handle_from_the_expansions() -> None:
    records = parse_mentions(recorded("x-api.jsonl")[0]["body"])
    assert [r.key for r in records] == ["tweet:1959234567890123457", "tweet:1959200000000000001"]
    assert (records[1].payload["author_username"], records[1].payload["author_name"]) == ("chenjing_sh", "陈静")


def test_x_dm_events_other_than_messages_are_dropped() -> None:
    body = {"data": [{"id": "1", "event_type": "ParticipantsJoin"}, {"id": "2", "event_type": "MessageCreate", "text": "hi"}]}
    assert [r.key for r in parse_dm_events(body)] == ["dm:2"]


@pytest.mark.parametrize("body", [None, [], "x", {"data": "x"}, {"data": [1, {"id": 5}, {"text": "no id"}]}])
def test_x_pages_of_unexpected_shape_give_no_records(body: object) -> None:
    assert parse_mentions(body) == [] and parse_dm_events(body) == []


# ------------------------------------------------------------------------------------------- never crash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
whatsapp_like = st.fixed_dictionaries(
    {"object": st.just("whatsapp_business_account"), "entry": st.lists(st.fixed_dictionaries({
        "id": json_values, "changes": st.lists(st.fixed_dictionaries({
            "field": st.sampled_from(["messages", "statuses", 1]),
            "value": st.dictionaries(st.sampled_from(["messages", "contacts", "statuses", "metadata"]),
                                     json_values, max_size=4)}), max_size=3)}), max_size=3)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values | whatsapp_like)
def test_the_whatsapp_parser_only_ever_refuses_with_bad_payload(body: object) -> None:
    try:
        records, _ = whatsapp.parse_webhook(body)
    except whatsapp.BadPayload:
        return
    for record in records:
        json.dumps(record.payload)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=400) | st.text(max_size=300).map(lambda t: f"<xml>{t}</xml>".encode()))
def test_the_wechat_parser_only_ever_refuses_with_bad_message(body: bytes) -> None:
    try:
        wechat.parse_message(body)
    except wechat.BadMessage:
        pass


@settings(max_examples=150, deadline=None)
@given(body=json_values)
def test_the_x_and_recorded_payload_parsers_never_raise_unexpectedly(body: object) -> None:
    parse_mentions(body)
    parse_dm_events(body)
    try:
        parse_recorded(body)
    except ValueError:
        pass
