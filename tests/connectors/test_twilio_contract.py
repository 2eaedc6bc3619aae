"""Contract test: the Calls client's requests against Twilio's official OpenAPI spec, served by Prism.

Prism rejects a request the spec does not allow (422 with ``sl-violations``, 401 without credentials) and answers
with the spec's own examples or spec-shaped random data, so this checks our requests and our reading of Twilio's
response shapes; paging, overlap and retries are tested against the stateful fake in ``test_twilio.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.credentials import parse_connection
from connectors.phone.twilio import TwilioCallsSource, TwilioOptions
from crm_core.errors import FatalError
from tests.servers import PEER_SPECS
from tests.servers.prism import Prism

SID = "AC" + "a" * 32


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    server = Prism(PEER_SPECS / "twilio" / "api-v2010.json", Path(tmp_path_factory.mktemp("prism-twilio")))
    yield server
    server.stop()


def source(prism: Prism, prefer: str | None, token: str = "test-token", **options: object) -> TwilioCallsSource:
    session = requests.Session()
    if prefer:
        session.headers["Prefer"] = prefer  # Prism's control header: which documented example to answer with
    conn = json.dumps({"login": SID, "password": token, "extra": {"base_url": prism.url}})
    return TwilioCallsSource("calls", parse_connection("twilio", conn), TwilioOptions(**options), session=session)  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_list_request_conforms_to_the_spec_and_an_empty_window_completes(prism: Prism) -> None:
    [batch] = list(source(prism, "dynamic=false, example=readEmptyDatesGreater", since="2025-08-23T00:00:00Z").read(None))
    assert batch.records == [] and "start_time_from" in batch.cursor


@pytest.mark.slow
def test_twilios_documented_page_reads_into_call_records(prism: Prism) -> None:
    first = next(iter(source(prism, "dynamic=false, example=readFullPage1", page_size=2).read(None)))
    assert [r.key for r in first.records] == ["CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0"]
    call = first.records[0].payload
    assert (call["from"], call["to"], call["status"], call["duration"]) == ("+13051416799", call["to"], "completed", 4)
    assert call["start_time"] == "2019-10-18T17:02:00+00:00" and call["final"] is True
    assert first.cursor == {}  # not the last page: the window's cursor moves only at the end


@pytest.mark.slow
def test_spec_shaped_random_pages_are_read_without_errors(prism: Prism) -> None:
    first = next(iter(source(prism, None, page_size=5).read(None)))
    assert all(r.key == r.payload["sid"] for r in first.records)


@pytest.mark.slow
def test_a_request_without_valid_credentials_is_fatal(prism: Prism) -> None:
    src = source(prism, None)
    src.session.auth = None  # Prism checks the spec's basic-auth security scheme is present
    with pytest.raises(FatalError, match="status=401"):
        list(src.read(None))
