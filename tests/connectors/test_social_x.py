"""X API v2 polling against a stateful fake that pages like X: since_id, next_token, rate limits, auth errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors._paging import TokenPaginator
from connectors.social.polling import PollingSource, Stream
from connectors.social.x import bearer_session, build, parse_mentions, streams_for
from crm_core.config import SourceConfig
from crm_core.errors import FatalError
from tests.connectors._forms_social_fixtures import FakeVendor

OUR_ID = "1580000000000000000"
USERS = [{"id": "2244994945", "name": "Oliver Smith", "username": "oliver_smith_ldn"},
         {"id": "1493852764203", "name": "陈静", "username": "chenjing_sh"}]


class FakeX:
    """Mentions and DM events held newest first; pages of ``max_results``; tokens are offsets."""

    def __init__(self, mentions: int = 7, dms: int = 3) -> None:
        self.posts = [self.post(1959000000000000000 + i) for i in range(mentions, 0, -1)]
        self.dms = [{"id": str(1960000000000000000 + i), "event_type": "MessageCreate", "text": f"dm {i}",
                     "sender_id": "2244994945", "created_at": "2025-08-23T11:20:00.000Z"} for i in range(dms, 0, -1)]

    @staticmethod
    def post(n: int) -> dict[str, Any]:
        return {"id": str(n), "text": f"@HarbourHomes mention {n % 100}", "author_id": USERS[n % 2]["id"],
                "created_at": "2025-08-23T11:02:44.000Z"}

    def add_mentions(self, count: int) -> None:
        newest = int(self.posts[0]["id"])
        self.posts = [self.post(newest + i) for i in range(count, 0, -1)] + self.posts

    def page(self, items: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        size = int(query.get("max_results", "10"))
        offset = int(query.get("pagination_token", "page-000000000000").split("-")[1])
        chunk = items[offset:offset + size]
        meta: dict[str, Any] = {"result_count": len(chunk)}
        if offset + size < len(items):
            meta["next_token"] = f"page-{offset + size:012d}"
        body: dict[str, Any] = {"meta": meta}
        if chunk:
            body.update(data=chunk, includes={"users": USERS})
        return 200, {}, body

    def routes(self) -> dict[str, Any]:
        def mentions(query: dict[str, str]) -> Any:
            since = int(query.get("since_id", "0"))
            return self.page([p for p in self.posts if int(p["id"]) > since], query)

        return {f"/2/users/{OUR_ID}/mentions": mentions, "/2/dm_events": lambda q: self.page(self.dms, q),
                "/2/users/me": lambda q: (200, {}, {"data": {"id": OUR_ID, "username": "HarbourHomes"}})}


@pytest.fixture
def fake() -> Iterator[tuple[FakeX, FakeVendor]]:
    x = FakeX()
    with FakeVendor(x.routes()) as vendor:
        yield x, vendor


def source(url: str, streams: list[str] = ["mentions"], attempts: int = 3) -> PollingSource:  # noqa: B006
    return PollingSource(name="x", base_url=url, session=bearer_session("tok"),
                         streams=streams_for(OUR_ID, streams, max_results=5), attempts=attempts)


def test_a_first_run_pages_through_all_mentions_and_remembers_the_newest_id(fake: tuple[FakeX, FakeVendor]) -> None:
    x, vendor = fake
    batches = list(source(vendor.url).read(None))
    keys = [r.key for b in batches for r in b.records]
    assert len(keys) == 7 and len(set(keys)) == 7
    assert batches[-1].cursor == {"mentions": {"since_id": x.posts[0]["id"]}}
    assert [q.get("pagination_token") for _, q, _ in vendor.seen] == [None, "page-000000000005"]
    assert all(h["Authorization"] == "Bearer tok" for _, _, h in vendor.seen)


def test_only_the_last_batch_advances_the_cursor_so_a_crash_rereads_the_window(fake: tuple[FakeX, FakeVendor]) -> None:
    x, vendor = fake
    start = {"mentions": {"since_id": x.posts[-1]["id"]}}
    x.add_mentions(8)
    batches = list(source(vendor.url).read(start))
    assert len(batches) == 3
    assert [b.cursor for b in batches[:-1]] == [start, start]
    assert batches[-1].cursor == {"mentions": {"since_id": x.posts[0]["id"]}}


def test_a_second_run_asks_only_for_mentions_newer_than_the_cursor(fake: tuple[FakeX, FakeVendor]) -> None:
    x, vendor = fake
    first = list(source(vendor.url).read(None))
    x.add_mentions(2)
    second = list(source(vendor.url).read(dict(first[-1].cursor)))
    assert [r.payload["id"] for b in second for r in b.records] == [p["id"] for p in x.posts[:2]]
    assert vendor.seen[-1][1]["since_id"] == first[-1].cursor["mentions"]["since_id"]


def test_a_run_with_nothing_new_keeps_the_cursor(fake: tuple[FakeX, FakeVendor]) -> None:
    x, vendor = fake
    cursor = {"mentions": {"since_id": x.posts[0]["id"]}}
    assert [(list(b.records), b.cursor) for b in source(vendor.url).read(cursor)] == [([], cursor)]


def test_dm_events_stop_paging_at_the_first_event_already_landed(fake: tuple[FakeX, FakeVendor]) -> None:
    x, vendor = fake
    x.dms = [{**x.dms[0], "id": str(1960000000000000000 + i)} for i in range(12, 0, -1)]
    cursor = {"dm_events": {"since_id": x.dms[2]["id"]}}
    batches = list(source(vendor.url, ["dm_events"]).read(cursor))
    assert [r.key for b in batches for r in b.records] == [f"dm:{d['id']}" for d in x.dms[:2]]
    assert len(vendor.seen) == 1 and "since_id" not in vendor.seen[0][1]


def test_a_429_is_waited_out_for_its_retry_after_then_the_run_goes_on(fake: tuple[FakeX, FakeVendor]) -> None:
    _, vendor = fake
    vendor.script.append((429, {"Retry-After": "1"}, {"title": "Too Many Requests", "status": 429}))
    started = time.monotonic()
    batches = list(source(vendor.url).read(None))
    assert time.monotonic() - started >= 1.0
    assert sum(len(b.records) for b in batches) == 7


def test_a_429_with_only_x_rate_limit_reset_is_honoured(fake: tuple[FakeX, FakeVendor]) -> None:
    _, vendor = fake
    reset = str(int(time.time()) + 2)
    vendor.script.append((429, {"x-rate-limit-reset": reset}, {"title": "Too Many Requests"}))
    list(source(vendor.url).read(None))
    assert time.time() >= int(reset) - 1


def test_server_errors_are_retried(fake: tuple[FakeX, FakeVendor]) -> None:
    _, vendor = fake
    vendor.script += [(503, {}, {"title": "Service Unavailable"}), (500, {}, {})]
    assert sum(len(b.records) for b in source(vendor.url).read(None)) == 7


def test_a_401_fails_fast_with_xs_own_message_and_no_token(fake: tuple[FakeX, FakeVendor]) -> None:
    _, vendor = fake
    vendor.script.append((401, {}, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                    "detail": "Unauthorized"}))
    with pytest.raises(FatalError) as raised:
        list(source(vendor.url).read(None))
    assert len(vendor.seen) == 1
    assert "Unauthorized" in str(raised.value) and "tok" not in str(raised.value)


def test_a_repeated_next_token_is_an_error_not_an_endless_loop(fake: tuple[FakeX, FakeVendor]) -> None:
    _, vendor = fake
    looping = {"data": [FakeX.post(1)], "meta": {"next_token": "same-token-again-0000"}}
    stream = Stream(name="loop", path="/loop", params={}, parse=parse_mentions,
                    paginator=lambda: TokenPaginator(("meta", "next_token"), "pagination_token"))
    vendor.routes["/loop"] = lambda q: (200, {}, looping)
    with pytest.raises(FatalError, match="twice"):
        list(PollingSource(name="x", base_url=vendor.url, session=bearer_session("t"), streams=[stream]).read(None))
    assert len(vendor.seen) == 2


def test_build_takes_the_token_and_base_url_from_the_connection_and_finds_our_user_id(
    fake: tuple[FakeX, FakeVendor], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, vendor = fake
    monkeypatch.setenv("AIRFLOW_CONN_X_API", json.dumps(
        {"conn_type": "http", "password": "conn-token", "extra": {"base_url": vendor.url}}))
    config = SourceConfig(name="x", kind="x_api", mapping="x.yaml", connection_id="x_api",
                          options={"streams": ["mentions", "dm_events"]})
    batches = list(build(config, None).read(None))
    assert sum(len(b.records) for b in batches) == 10
    assert set(batches[-1].cursor) == {"mentions", "dm_events"}
    assert vendor.seen[0][0] == "/2/users/me" and vendor.seen[0][2]["Authorization"] == "Bearer conn-token"
