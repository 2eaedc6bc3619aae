"""Form bodies → one stable submission payload; malformed bodies are refused with a reason, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.forms._payload import BadSubmission, json_depth, parse_body, submission_record
from connectors.forms.webhook import sign, signature_valid, timestamp_fresh


def test_a_flat_json_submission_separates_metadata_from_fields() -> None:
    record = submission_record(
        {"id": 42, "form": "contact-us", "created_at": 1755915300, "name": "Oliver", "购房预算": "300万"})
    assert record.key == "contact-us:42"
    assert record.payload == {
        "form": "contact-us", "submission_id": "42", "submitted_at": "2025-08-23T02:15:00+00:00",
        "fields": {"name": "Oliver", "购房预算": "300万"}, "attachments": []}


def test_the_same_submission_gives_the_same_payload_and_key_twice() -> None:
    data = {"fields": {"b": 1, "a": [1, 2]}, "form": "f"}
    first, second = submission_record(data), submission_record(json.loads(json.dumps(data)))
    assert (first.key, first.content_hash()) == (second.key, second.content_hash())
    assert first.key.startswith("f:sha256:")  # no id: keyed by content, still idempotent


def test_an_unreadable_submission_time_is_kept_as_text_for_the_mapping() -> None:
    record = submission_record({"submitted_at": "2025年8月23日", "fields": {}})
    assert record.payload["submitted_at"] == "2025年8月23日" and record.occurred_at is None


def test_a_configured_id_field_wins() -> None:
    assert submission_record({"id": "1", "ref": "R-9"}, form="f", id_field="ref").key == "f:R-9"


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        pytest.param(b"\xff\xfe", "application/json", "UTF-8", id="json-invalid-utf8"),
        pytest.param(b'{"a": ', "application/json", "not valid JSON", id="json-truncated"),
        pytest.param(b'{"a": NaN}', "application/json", "not valid JSON", id="json-nan"),
        pytest.param(b"[1]", "application/json", "must be an object", id="json-array"),
        pytest.param(b"[" * 40 + b"]" * 40, "application/json", "nested deeper", id="json-deep"),
        pytest.param(b"a=%FF", "application/x-www-form-urlencoded", "url-encoding", id="urlencoded-bad-utf8"),
        pytest.param("a=é".encode(), "application/x-www-form-urlencoded", "url-encoding", id="urlencoded-raw-8bit"),
        pytest.param(b"a=1", "application/x-www-form-urlencoded; charset=klingon", "unknown charset", id="charset"),
        pytest.param(b"--x\r\nnonsense", "multipart/form-data; boundary=x", "multipart", id="multipart-broken"),
        pytest.param(b"a=1", "multipart/form-data", "multipart", id="multipart-no-boundary"),
        pytest.param(b"<a/>", "text/xml", "unsupported content type", id="xml"),
        pytest.param(b"a=1", "", "unsupported content type", id="no-content-type"),
    ],
)
def test_a_malformed_body_is_refused_with_a_reason(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(BadSubmission, match=reason):
        parse_body(body, content_type)


def test_depth_counting_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "]]]"}]}') == 3


def test_a_signature_binds_timestamp_and_body() -> None:
    sig = sign("s", 1755915300, b"{}")
    assert signature_valid("s", "1755915300", b"{}", sig)
    assert not signature_valid("s", "1755915301", b"{}", sig)
    assert not signature_valid("s", "1755915300", b"{} ", sig)
    assert not signature_valid("s", "١٧٥٥٩١٥٣٠٠", b"{}", sig)  # Arabic-Indic digits are not a timestamp


def test_a_timestamp_is_fresh_within_five_minutes_either_side() -> None:
    assert timestamp_fresh("1000", now=1300) and timestamp_fresh("1300", now=1000)
    assert not timestamp_fresh("999", now=1300) and not timestamp_fresh("-5", now=0)
    assert not timestamp_fresh("9" * 40, now=0)


content_types = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=gbk",
    "multipart/form-data; boundary=xyz", "multipart/form-data", "text/plain", "",
])


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode), content_type=content_types)
def test_parsing_arbitrary_bodies_only_ever_refuses_with_bad_submission(body: bytes, content_type: str) -> None:
    try:
        fields, attachments = parse_body(body, content_type)
    except BadSubmission:
        return
    record = submission_record(fields, form="f", attachments=attachments)
    json.dumps(record.payload)


@settings(max_examples=150, deadline=None)
@given(data=st.dictionaries(st.text(max_size=10), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=10),
    max_size=6))
def test_any_json_object_becomes_a_submission(data: dict) -> None:
    record = submission_record(data, form="f")
    assert record.key.startswith("f:") or record.key.startswith(str(record.payload["form"]))
    json.dumps(record.payload)
