"""Pulling submissions from a form backend's REST API: pages, an inclusive updated_since cursor, polite retries,
fast failure on bad credentials, and nothing lost or doubled across a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.forms.rest import build
from crm_core.config import SourceConfig
from crm_core.errors import FatalError
from crm_core.landing import land_stream
from tests.connectors._forms_social_fixtures import (
    FakeVendor,
    hub_with_sources,
    ingest_killed_at_commit,
    landed_rows,
)


class FakeFormBackend:
    """Submissions sorted by updated_at; ``updated_since`` is inclusive, as most vendors document it."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        for i in range(1, 8):
            self.add(i, f"2025-08-2{i % 3 + 1}T0{i}:00:00+00:00")

    def add(self, n: int, updated_at: str, **fields: str) -> None:
        self.items = [s for s in self.items if s["id"] != f"S-{n}"]
        self.items.append({"id": f"S-{n}", "form": "enquiry", "updated_at": updated_at,
                           "fields": {"name": f"Lead {n}", "购房预算": f"{n}00万", **fields}})
        self.items.sort(key=lambda s: s["updated_at"])

    def routes(self) -> dict[str, Any]:
        def submissions(query: dict[str, str]) -> Any:
            since = query.get("updated_since", "")
            matching = [s for s in self.items if s["updated_at"] >= since]
            size, offset = int(query["page_size"]), int(query.get("page_token", "0"))
            page = matching[offset:offset + size]
            more = offset + size < len(matching)
            return 200, {}, {"submissions": page, "next_page_token": str(offset + size) if more else None}

        return {"/v1/submissions": submissions}


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeFormBackend, FakeVendor]]:
    forms = FakeFormBackend()
    with FakeVendor(forms.routes()) as vendor:
        monkeypatch.setenv("AIRFLOW_CONN_FORMS_API", json.dumps(
            {"conn_type": "http", "password": "api-key", "extra": {"base_url": vendor.url}}))
        yield forms, vendor


def source(**options: Any) -> Any:
    config = SourceConfig(name="enquiries", kind="form_rest", mapping="x.yaml", connection_id="forms_api",
                          options={"path": "/v1/submissions", "page_size": 3, **options})
    return build(config, None)


def test_a_first_run_reads_every_page_and_ends_at_the_newest_update(backend: tuple[FakeFormBackend, FakeVendor]) -> None:
    forms, vendor = backend
    batches = list(source().read(None))
    assert sorted(r.key for b in batches for r in b.records) == sorted(f"enquiry:S-{i}" for i in range(1, 8))
    assert [b.cursor for b in batches[:-1]] == [{}, {}]  # unordered: only the last batch moves the cursor
    assert batches[-1].cursor == {"updated_since": forms.items[-1]["updated_at"]}
    assert vendor.seen[0][2]["Authorization"] == "Bearer api-key"


def test_the_next_run_asks_for_updates_since_the_cursor_and_sees_edits(backend: tuple[FakeFormBackend, FakeVendor]) -> None:
    forms, vendor = backend
    cursor = dict(list(source().read(None))[-1].cursor)
    forms.add(2, "2025-08-24T09:00:00+00:00", 购房预算="250万")  # an edit moves S-2 to the end
    records = [r for b in source().read(cursor) for r in b.records]
    assert vendor.seen[-1][1]["updated_since"] == cursor["updated_since"]
    assert [r.key for r in records][-1] == "enquiry:S-2"
    assert records[-1].payload["fields"]["购房预算"] == "250万"


def test_rate_limits_and_server_errors_are_retried(backend: tuple[FakeFormBackend, FakeVendor]) -> None:
    _, vendor = backend
    vendor.script += [(429, {"Retry-After": "1"}, {"error": "slow down"}), (502, {}, {"error": "bad gateway"})]
    assert sum(len(b.records) for b in source().read(None)) == 7


@pytest.mark.parametrize("status", [401, 403])
def test_bad_credentials_fail_fast_with_the_vendors_message(
    backend: tuple[FakeFormBackend, FakeVendor], status: int
) -> None:
    _, vendor = backend
    vendor.script.append((status, {}, {"error": {"code": "invalid_api_key", "message": "API key revoked on 2025-08-01"}}))
    with pytest.raises(FatalError, match="API key revoked") as raised:
        list(source().read(None))
    assert (raised.value.vendor_code, len(vendor.seen)) == ("invalid_api_key", 1)
    assert "api-key" not in str(raised.value)


def test_a_repeated_page_token_stops_the_run(backend: tuple[FakeFormBackend, FakeVendor]) -> None:
    _, vendor = backend
    vendor.routes["/v1/submissions"] = lambda q: (200, {}, {"submissions": [], "next_page_token": "again"})
    with pytest.raises(FatalError, match="twice"):
        list(source().read(None))


def test_a_kill_mid_run_rereads_the_window_and_lands_each_version_once(
    backend: tuple[FakeFormBackend, FakeVendor], db_url: str, tmp_path: Path
) -> None:
    hub = hub_with_sources(tmp_path / "home", """  - name: enquiries
    kind: form_rest
    mapping: stub-mapping.yaml
    connection_id: forms_api
    options: {path: /v1/submissions, page_size: 3}
""", url=db_url)
    assert ingest_killed_at_commit(hub, "enquiries", 3) == 9  # two pages landed, the third killed
    land_stream(hub.sessions, "enquiries", build(hub.config.source("enquiries"), hub).read)
    land_stream(hub.sessions, "enquiries", build(hub.config.source("enquiries"), hub).read)  # boundary re-read
    rows = landed_rows(hub, "enquiries")
    assert sorted(r.source_key for r in rows) == sorted(f"enquiry:S-{i}" for i in range(1, 8))
    hub.close()
