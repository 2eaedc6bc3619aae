"""The webhook intake over real HTTP (uvicorn on 127.0.0.1): signed form posts land once; hostile posts are
refused with a 4xx and land nothing."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.intake import IntakeSource, create_hub_intake_app, create_intake_app, hub_lander
from crm_core.config import parse_config
from crm_core.hub import Hub
from tests.connectors._forms_social_fixtures import (
    UvicornThread,
    count_rows,
    landed_rows,
    open_hub,
    signed_post,
)

SECRET = "form-secret-不要泄露"
SUBMISSION = {
    "submission_id": "sub-1001",
    "form": "contact-us",
    "submitted_at": "2025-08-23T10:15:00+08:00",
    "fields": {"name": "张伟", "email": "zhang.wei@example.cn", "phone": "+86 138 0013 8000", "购房预算": "300万"},
}


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = open_hub(tmp_path_factory.mktemp("intake"))
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def intake(shared_hub: Hub) -> Iterator[str]:
    """One intake for the hostile-body tests, with a small body limit so oversized posts stay cheap."""
    sources = {"web": IntakeSource(kind="form", secret=SECRET, max_body_bytes=64 * 1024)}
    with UvicornThread(create_intake_app(hub_lander(shared_hub), sources)) as server:
        yield f"{server.url}/intake/web"


def refused_without_landing(hub: Hub, response: requests.Response, status: int, before: int) -> None:
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert count_rows(hub) == before


# ------------------------------------------------------------------------------------ accepted posts


def test_a_signed_json_submission_lands_once_with_its_custom_fields(db_url: str, tmp_path: Path) -> None:
    hub = open_hub(tmp_path / "hub", url=db_url)
    app = create_intake_app(hub_lander(hub), {"web": IntakeSource(kind="form", secret=SECRET)})
    with UvicornThread(app) as server:
        body = json.dumps(SUBMISSION, ensure_ascii=False).encode()
        response = signed_post(f"{server.url}/intake/web", SECRET, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"landed": 1, "duplicate": False, "key": "contact-us:sub-1001"}
    [row] = landed_rows(hub, "web")
    assert row.source_key == "contact-us:sub-1001"
    assert row.payload["fields"]["购房预算"] == "300万"
    assert row.payload["submitted_at"] == "2025-08-23T10:15:00+08:00"
    hub.close()


def test_a_form_urlencoded_post_keeps_chinese_values_and_repeated_checkboxes(shared_hub: Hub, intake: str) -> None:
    body = b"name=%E6%9D%8E%E5%A8%9C&interest=villa&interest=flat&%E8%B4%AD%E6%88%BF%E9%A2%84%E7%AE%97=500%E4%B8%87"
    response = signed_post(intake, SECRET, body, "application/x-www-form-urlencoded")
    assert response.status_code == 200, response.text
    row = next(r for r in landed_rows(shared_hub) if r.source_key == response.json()["key"])
    assert row.payload["fields"] == {"name": "李娜", "interest": ["villa", "flat"], "购房预算": "500万"}


def test_a_gbk_form_post_is_read_in_its_declared_charset(shared_hub: Hub, intake: str) -> None:
    from urllib.parse import quote

    body = f"name={quote('王芳', encoding='gbk')}&city={quote('上海', encoding='gbk')}".encode()
    response = signed_post(intake, SECRET, body, "application/x-www-form-urlencoded; charset=gbk")
    assert response.status_code == 200, response.text
    row = next(r for r in landed_rows(shared_hub) if r.source_key == response.json()["key"])
    assert row.payload["fields"] == {"name": "王芳", "city": "上海"}


def test_a_multipart_post_describes_its_attachment_without_storing_the_bytes(shared_hub: Hub, intake: str) -> None:
    prepared = requests.Request(
        "POST", intake, data={"name": "Oliver Smith", "email": "oliver@example.co.uk", "submission_id": "mp-1"},
        files={"cv": ("cv.pdf", b"%PDF-1.4 fake", "application/pdf")},
    ).prepare()
    assert isinstance(prepared.body, bytes)
    response = signed_post(intake, SECRET, prepared.body, prepared.headers["Content-Type"])
    assert response.status_code == 200, response.text
    row = next(r for r in landed_rows(shared_hub) if r.source_key == "web:mp-1")
    assert row.payload["fields"] == {"name": "Oliver Smith", "email": "oliver@example.co.uk"}
    [attachment] = row.payload["attachments"]
    assert attachment["filename"] == "cv.pdf" and attachment["size"] == 13 and "PDF" not in json.dumps(row.payload)


def test_a_senders_retry_signed_afresh_is_acknowledged_as_a_duplicate(shared_hub: Hub, intake: str) -> None:
    body = json.dumps({**SUBMISSION, "submission_id": "retry-1"}).encode()
    now = int(time.time())
    first = signed_post(intake, SECRET, body, timestamp=now)
    second = signed_post(intake, SECRET, body, timestamp=now - 1)  # a new signature over the same submission
    assert (first.json()["landed"], second.status_code, second.json()["duplicate"]) == (1, 200, True)
    assert len([r for r in landed_rows(shared_hub) if r.source_key == "contact-us:retry-1"]) == 1


def test_a_gzip_encoded_post_is_accepted(shared_hub: Hub, intake: str) -> None:
    body = gzip.compress(json.dumps({**SUBMISSION, "submission_id": "gz-1"}).encode())
    response = signed_post(intake, SECRET, body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.json()["landed"] == 1


# ------------------------------------------------------------------------------------ refused posts


def test_an_exact_replay_is_refused_with_409(shared_hub: Hub, intake: str) -> None:
    body = json.dumps({**SUBMISSION, "submission_id": "replay-1"}).encode()
    first = signed_post(intake, SECRET, body)
    assert first.status_code == 200
    before = count_rows(shared_hub)
    replay = requests.post(intake, data=body, headers=dict(first.request.headers), timeout=10)
    refused_without_landing(shared_hub, replay, 409, before)


def test_an_unsigned_post_is_refused(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    response = requests.post(intake, json=SUBMISSION, timeout=10)
    refused_without_landing(shared_hub, response, 401, before)


def test_a_wrong_signature_is_refused(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    body = json.dumps(SUBMISSION).encode()
    response = signed_post(intake, "not-the-secret", body)
    refused_without_landing(shared_hub, response, 401, before)


def test_a_body_changed_after_signing_is_refused(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    signed = json.dumps(SUBMISSION).encode()
    response = signed_post(intake, SECRET, signed.replace(b"300", b"900"), signed_body=signed)
    refused_without_landing(shared_hub, response, 401, before)


def test_a_stale_timestamp_is_refused_even_when_correctly_signed(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    body = json.dumps(SUBMISSION).encode()
    response = signed_post(intake, SECRET, body, timestamp=int(time.time()) - 301)
    refused_without_landing(shared_hub, response, 401, before)


def test_an_oversized_body_is_refused_from_its_content_length(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    body = json.dumps({"fields": {"note": "x" * 70_000}}).encode()
    response = signed_post(intake, SECRET, body)
    refused_without_landing(shared_hub, response, 413, before)


def test_an_oversized_chunked_body_is_refused_while_reading(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    chunks = [b'{"fields": {"note": "', *([b"y" * 8192] * 9), b'"}}']
    response = signed_post(intake, SECRET, iter(chunks), signed_body=b"".join(chunks))
    assert "Content-Length" not in response.request.headers
    refused_without_landing(shared_hub, response, 413, before)


def test_a_signed_gzip_bomb_is_refused_without_inflating_it(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    bomb = gzip.compress(b'{"fields": {"a": "' + b"0" * 50_000_000 + b'"}}')
    assert len(bomb) < 64 * 1024
    response = signed_post(intake, SECRET, bomb, headers={"Content-Encoding": "gzip"})
    refused_without_landing(shared_hub, response, 413, before)


def test_json_nested_ten_thousand_deep_is_refused(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    body = b'{"fields": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = signed_post(intake, SECRET, body)
    refused_without_landing(shared_hub, response, 400, before)


def test_invalid_utf8_is_refused(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    response = signed_post(intake, SECRET, b'{"fields": {"name": "\xff\xfe\xc3"}}')
    refused_without_landing(shared_hub, response, 400, before)


def test_an_unsupported_content_type_is_refused(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    response = signed_post(intake, SECRET, b"<form/>", "application/xml")
    refused_without_landing(shared_hub, response, 415, before)


def test_a_json_array_instead_of_an_object_is_refused(shared_hub: Hub, intake: str) -> None:
    before = count_rows(shared_hub)
    response = signed_post(intake, SECRET, b'[{"name": "x"}]')
    refused_without_landing(shared_hub, response, 400, before)


def test_an_unknown_source_is_404(intake: str) -> None:
    response = requests.post(intake.replace("/web", "/nope"), json={}, timeout=10)
    assert response.status_code == 404


def test_a_failed_landing_answers_503_so_the_sender_retries_and_the_retry_lands(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky_land(source: str, records: list) -> int:
        calls.append(len(records))
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return len(records)

    app = create_intake_app(flaky_land, {"web": IntakeSource(kind="form", secret=SECRET)})
    body = json.dumps(SUBMISSION).encode()
    with UvicornThread(app) as server:
        first = signed_post(f"{server.url}/intake/web", SECRET, body)
        retry = requests.post(f"{server.url}/intake/web", data=body, headers=dict(first.request.headers), timeout=10)
    assert (first.status_code, retry.status_code, retry.json()["landed"]) == (503, 200, 1)
    assert "database" not in first.text


def test_the_secret_comes_from_the_sources_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WEB_FORMS", json.dumps({"conn_type": "http", "password": "from-conn"}))
    (tmp_path / "forms.yaml").write_text("{}\n")
    config = parse_config(
        "sources:\n  - {name: website, kind: form_webhook, mapping: forms.yaml, connection_id: web_forms}\n",
        base_dir=tmp_path,
    )
    hub = open_hub(tmp_path / "hub")
    hub.config = config
    with UvicornThread(create_hub_intake_app(hub)) as server:
        ok = signed_post(f"{server.url}/intake/website", "from-conn", json.dumps(SUBMISSION).encode())
        bad = signed_post(f"{server.url}/intake/website", SECRET, json.dumps(SUBMISSION).encode())
    assert (ok.status_code, bad.status_code) == (200, 401)
    assert [r.source for r in landed_rows(hub)] == ["website"]
    hub.close()
