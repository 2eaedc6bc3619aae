"""The Twilio Calls source against a stateful Twilio-shaped server on 127.0.0.1: paging, overlap, retries, auth.

The fake follows Twilio's documented list behaviour: newest first, ``StartTime>`` filter, ``PageSize``, and a
``next_page_uri`` that carries the whole query; errors are ``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.credentials import parse_connection
from connectors.phone.twilio import TwilioCallsSource, TwilioOptions
from crm_core.errors import FatalError
from crm_core.landing import land_stream
from crm_core.models import LandingRecord

SID = "AC" + "a" * 32
TOKEN = "twilio-test-token"
T0 = datetime(2025, 8, 23, 9, 0, tzinfo=UTC)


def call(n: int, minutes: int, status: str = "completed", duration: int | None = 60) -> dict[str, Any]:
    start = T0 + timedelta(minutes=minutes)
    return {
        "sid": f"CA{n:032x}", "account_sid": SID, "from": f"+86138001380{n:02d}", "to": "+861065529988",
        "from_formatted": f"138 0013 80{n:02d}", "to_formatted": "010 6552 9988", "caller_name": None,
        "direction": "inbound", "status": status, "start_time": format_datetime(start),
        "end_time": format_datetime(start + timedelta(seconds=duration)) if status == "completed" else None,
        "duration": str(duration) if status == "completed" else None, "price": None, "price_unit": "USD",
        "date_created": format_datetime(start), "date_updated": format_datetime(start),
        "uri": f"/2010-04-01/Accounts/{SID}/Calls/CA{n:032x}.json", "subresource_uris": {},
    }


class FakeTwilio:
    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.failures: list[tuple[int, dict[str, str]]] = []  # served before the next real answers
        self.requests: list[tuple[float, dict[str, list[str]]]] = []
        self.repeat_next_page = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                fake.requests.append((time.monotonic(), query))
                expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self.answer(401, {"code": 20003, "message": "Authenticate", "status": 401,
                                             "more_info": "https://www.twilio.com/docs/errors/20003"})
                if fake.failures:
                    status, headers = fake.failures.pop(0)
                    return self.answer(status, {"code": 20429 if status == 429 else 20500,
                                                "message": "Too Many Requests" if status == 429 else "Internal",
                                                "status": status}, headers)
                if parts.path != f"/2010-04-01/Accounts/{SID}/Calls.json":
                    return self.answer(404, {"code": 20404, "message": "not found", "status": 404})
                self.answer(200, fake.page(query))

            def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        since = datetime.fromisoformat(query["StartTime>"][0].replace("Z", "+00:00"))
        size, number = int(query.get("PageSize", ["50"])[0]), int(query.get("Page", ["0"])[0])
        from email.utils import parsedate_to_datetime

        listed = sorted(
            (c for c in self.calls.values() if parsedate_to_datetime(c["start_time"]) >= since),
            key=lambda c: parsedate_to_datetime(c["start_time"]), reverse=True,
        )
        chunk = listed[number * size : (number + 1) * size]
        more = (number + 1) * size < len(listed)
        next_query = {"StartTime>": query["StartTime>"][0], "PageSize": size, "Page": number + 1,
                      "PageToken": f"PA{chunk[-1]['sid'] if chunk else ''}"}
        base = f"/2010-04-01/Accounts/{SID}/Calls.json"
        next_uri = f"{base}?{urlencode(next_query)}" if more else None
        if self.repeat_next_page:
            next_uri = f"{base}?{urlencode({**next_query, 'Page': 1})}"
        return {"calls": chunk, "page": number, "page_size": size, "start": number * size,
                "end": number * size + len(chunk), "next_page_uri": next_uri, "previous_page_uri": None,
                "first_page_uri": base, "uri": base}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    server = FakeTwilio()
    yield server
    server.stop()


def source(fake: FakeTwilio, token: str = TOKEN, **options: Any) -> TwilioCallsSource:
    conn = json.dumps({"login": SID, "password": token, "extra": {"base_url": fake.url}})
    opts = {"since": T0.isoformat(), "page_size": 2, **options}
    return TwilioCallsSource("calls", parse_connection("twilio", conn), TwilioOptions(**opts))


def test_pages_follow_next_page_uri_and_only_the_last_batch_moves_the_cursor(twilio: FakeTwilio) -> None:
    twilio.calls = {c["sid"]: c for c in (call(n, n * 10) for n in range(1, 6))}
    batches = list(source(twilio, overlap_minutes=30).read({"start_time_from": T0.isoformat()}))
    assert [len(b.records) for b in batches] == [2, 2, 1]
    assert sorted(r.key for b in batches for r in b.records) == sorted(twilio.calls)
    assert [b.cursor for b in batches[:-1]] == [{"start_time_from": T0.isoformat()}] * 2
    newest = T0 + timedelta(minutes=50)
    assert batches[-1].cursor == {"start_time_from": (newest - timedelta(minutes=30)).isoformat()}
    assert twilio.requests[0][1]["StartTime>"] == ["2025-08-23T09:00:00Z"]


def test_a_repeated_next_page_uri_is_an_error_not_an_endless_loop(twilio: FakeTwilio) -> None:
    twilio.calls = {c["sid"]: c for c in (call(n, n) for n in range(1, 6))}
    twilio.repeat_next_page = True
    with pytest.raises(FatalError, match="already returned"):
        list(source(twilio).read(None))
    assert len(twilio.requests) == 3


def test_a_call_still_in_progress_keeps_the_window_open_and_its_completion_lands_as_a_new_version(
    twilio: FakeTwilio, sessions: sessionmaker[Session]
) -> None:
    twilio.calls = {c["sid"]: c for c in (call(1, 0, status="in-progress"), call(2, 300))}
    first = land_stream(sessions, "calls", source(twilio, overlap_minutes=30).read)
    with sessions() as session:
        from crm_core.landing import read_cursor

        assert read_cursor(session, "calls") == {"start_time_from": T0.isoformat()}  # held at the open call
    twilio.calls[call(1, 0)["sid"]] = call(1, 0, status="completed", duration=1800)
    second = land_stream(sessions, "calls", source(twilio, overlap_minutes=30).read)
    assert (first.landed, second.received, second.landed) == (2, 2, 1)
    with sessions() as session:
        versions = session.scalars(
            select(LandingRecord.payload).where(LandingRecord.source_key == call(1, 0)["sid"]).order_by(LandingRecord.id)
        ).all()
        assert [v["status"] for v in versions] == ["in-progress", "completed"]
        assert session.scalar(select(func.count()).select_from(LandingRecord)) == 3


def test_an_empty_window_moves_forward_to_now_minus_the_overlap(twilio: FakeTwilio) -> None:
    [batch] = list(source(twilio, overlap_minutes=30).read(None))
    assert batch.records == []
    assert datetime.fromisoformat(batch.cursor["start_time_from"]) > datetime.now(UTC) - timedelta(minutes=31)


def test_a_429_is_retried_after_the_retry_after_delay(twilio: FakeTwilio) -> None:
    twilio.calls = {call(1, 0)["sid"]: call(1, 0)}
    twilio.failures = [(429, {"Retry-After": "1"})]
    assert [r.key for b in source(twilio).read(None) for r in b.records] == [call(1, 0)["sid"]]
    (first, _), (second, _) = twilio.requests
    assert second - first >= 1.0


def test_server_errors_are_retried_until_the_page_arrives(twilio: FakeTwilio) -> None:
    twilio.calls = {call(1, 0)["sid"]: call(1, 0)}
    twilio.failures = [(503, {}), (500, {})]
    assert len([r for b in source(twilio).read(None) for r in b.records]) == 1
    assert len(twilio.requests) == 3


def test_a_bad_token_fails_at_once_with_twilios_message_and_no_secret(twilio: FakeTwilio) -> None:
    with pytest.raises(FatalError) as caught:
        list(source(twilio, token="wrong-token").read(None))
    message = str(caught.value)
    assert "status=401" in message and "code=20003" in message and "Authenticate" in message
    assert "wrong-token" not in message and "StartTime" not in message
    assert len(twilio.requests) == 1
