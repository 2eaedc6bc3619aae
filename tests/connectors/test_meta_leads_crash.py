"""Crash test: a Meta Lead Ads ingest SIGKILLed between landing and cursor commit loses and duplicates nothing.

The source is unordered (leads come newest first), so only a form's last page moves that form's window: a killed
run re-reads the window, and the pages landed before the kill come back as no-ops. Two forms, so the kill also
falls between one form's committed window and the next form's pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from crm_core.hub import Hub
from crm_core.jobs import ingest
from tests.fakes.meta_graph import MetaGraphFake

from .conftest import landed, run_ingest, stored_cursor
from .test_social_meta_leads import FORM_A, FORM_B, MINUTE, SINCE, T0, fill

HUB_YAML = f"""\
version: 1
sources:
  - name: leads
    kind: meta_leads
    mapping: map.yaml
    connection_id: meta_crash
    options: {{forms: ["{FORM_A}", "{FORM_B}"], page_size: 2, since: "{SINCE}", overlap_minutes: 15}}
"""


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetaGraphFake]:
    fake = MetaGraphFake().start()
    conn = {"conn_type": "http", "password": fake.token, "extra": {"base_url": fake.url}}
    monkeypatch.setenv("AIRFLOW_CONN_META_CRASH", json.dumps(conn))
    yield fake
    fake.stop()


@pytest.mark.slow
def test_a_killed_meta_leads_ingest_resumes_with_nothing_lost_or_duplicated(
    db_url: str, graph: MetaGraphFake, make_hub: Callable[..., Hub]
) -> None:
    fill(graph, FORM_A, 5)  # pages of 2: 2, 2, 1
    fill(graph, FORM_B, 3)  # 2, 1
    hub = make_hub(HUB_YAML, url=db_url, files={"map.yaml": "{}\n"})

    # 1. killed with form A's second page inserted but not committed: page 1 is in, no window has moved
    killed = run_ingest(hub.home, "leads", {"HUB_FAULT_POINT": "landing.after_rows", "HUB_FAULT_AFTER": "1"})
    assert killed.returncode == -9, killed.stderr
    assert len(landed(hub, "leads")) == 2 and stored_cursor(hub, "leads") == {"forms": {}}

    # 2. killed right after form A's last page committed (page 1 again as a no-op, pages 2 and 3 new)
    killed = run_ingest(hub.home, "leads", {"HUB_FAULT_POINT": "landing.after_commit", "HUB_FAULT_AFTER": "2"})
    assert killed.returncode == -9, killed.stderr
    window_a = {"time_created_after": T0 + 40 * MINUTE - 15 * MINUTE}
    assert len(landed(hub, "leads")) == 5 and stored_cursor(hub, "leads") == {"forms": {FORM_A: window_a}}

    # 3. a lead arrives meanwhile; the scheduler's retry runs cleanly in this process
    fill(graph, FORM_A, 1, start=T0 + 45 * MINUTE)
    finished = ingest(hub, "leads")
    # form A from its window: the leads at 30, 40 (already in) and 45 min (new); form B from the start: 3 new
    assert (finished.records_in, finished.records_out) == (6, 4)
    keys = [key for key, _ in landed(hub, "leads")]
    expected = {f"lead:{lead['id']}" for leads in graph.forms.values() for lead in leads}
    assert len(keys) == len(set(keys)) == 9 and set(keys) == expected  # 0 lost, 0 duplicated
    assert stored_cursor(hub, "leads") == {"forms": {FORM_A: {"time_created_after": T0 + 30 * MINUTE},
                                                     FORM_B: {"time_created_after": T0 + 5 * MINUTE}}}

    # 4. one more run: the overlaps again, nothing new
    again = ingest(hub, "leads")
    assert again.records_out == 0 and len(landed(hub, "leads")) == 9
