"""Crash test: a Twilio ingest SIGKILLed between landing and cursor commit loses and duplicates nothing on re-run.

The source is unordered, so only its last page's batch moves the cursor: a killed run re-reads the whole window
and the pages landed before the kill come back as no-ops.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from crm_core.hub import Hub
from crm_core.jobs import ingest

from .conftest import landed, run_ingest, stored_cursor
from .test_twilio import SID, T0, TOKEN, FakeTwilio, call

HUB_YAML = """\
version: 1
sources:
  - name: calls
    kind: twilio_calls
    mapping: map.yaml
    connection_id: twilio_crash
    options: {{page_size: 2, since: "{since}", overlap_minutes: 30}}
"""


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    server = FakeTwilio()
    conn = {"conn_type": "http", "login": SID, "password": TOKEN, "extra": {"base_url": server.url}}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_CRASH", json.dumps(conn))
    yield server
    server.stop()


@pytest.mark.slow
def test_a_killed_twilio_ingest_resumes_with_nothing_lost_or_duplicated(
    db_url: str, twilio: FakeTwilio, make_hub: Callable[..., Hub]
) -> None:
    twilio.calls = {c["sid"]: c for c in (call(n, n * 10) for n in range(1, 6))}
    hub = make_hub(HUB_YAML.format(since=T0.isoformat()), url=db_url, files={"map.yaml": "{}\n"})

    killed = run_ingest(hub.home, "calls", {"HUB_FAULT_POINT": "landing.after_rows", "HUB_FAULT_AFTER": "1"})
    assert killed.returncode == -9, killed.stderr
    assert len(landed(hub, "calls")) == 2 and stored_cursor(hub, "calls") == {}  # page 1 in, window not moved

    killed = run_ingest(hub.home, "calls", {"HUB_FAULT_POINT": "landing.after_commit", "HUB_FAULT_AFTER": "1"})
    assert killed.returncode == -9, killed.stderr
    assert len(landed(hub, "calls")) == 4 and stored_cursor(hub, "calls") == {}

    finished = ingest(hub, "calls")
    assert (finished.records_in, finished.records_out) == (5, 1)  # the whole window again, one call new
    keys = [key for key, _ in landed(hub, "calls")]
    assert sorted(keys) == sorted(twilio.calls)  # 0 lost, 0 duplicated
    assert stored_cursor(hub, "calls") == {"start_time_from": "2025-08-23T09:20:00+00:00"}
