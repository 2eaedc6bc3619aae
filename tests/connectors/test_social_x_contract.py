"""Contract check of our X requests against X's official OpenAPI spec served by Stoplight Prism: every request the
poller makes must be one X would accept (Prism answers 422 with the violations otherwise)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors._paging import get_json
from connectors.social.polling import PollingSource
from connectors.social.x import bearer_session, streams_for
from crm_core.errors import FatalError, SkippableError
from tests.servers import PEER_SPECS
from tests.servers.prism import Prism

pytestmark = pytest.mark.slow
OUR_ID = "1580000000000000000"


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    server = Prism(PEER_SPECS / "x" / "api-v2.json", Path(tmp_path_factory.mktemp("prism-x")))
    yield server
    server.stop()


def poller(prism: Prism, stream: str, token: str = "test-token") -> PollingSource:
    streams = streams_for(OUR_ID, [stream], max_results=10)
    for s in streams:
        s.max_pages = 2  # Prism invents a fresh next_token on every page
    return PollingSource(name="x", base_url=prism.url, session=bearer_session(token), streams=streams, attempts=1)


@pytest.mark.parametrize("stream", ["mentions", "dm_events"])
def test_the_first_run_requests_conform_to_the_spec(prism: Prism, stream: str) -> None:
    batches = list(poller(prism, stream).read(None))
    assert batches and stream in batches[-1].cursor


def test_a_resumed_mentions_request_with_since_id_conforms(prism: Prism) -> None:
    batches = list(poller(prism, "mentions").read({"mentions": {"since_id": "1959000000000000001"}}))
    assert batches


def test_prism_does_check_the_contract_an_out_of_range_page_size_is_refused(prism: Prism) -> None:
    with pytest.raises(SkippableError) as raised:
        get_json(bearer_session("t"), f"{prism.url}/2/users/{OUR_ID}/mentions", {"max_results": "500"}, attempts=1)
    assert raised.value.status == 422


def test_a_request_without_a_token_is_refused_as_fatal(prism: Prism) -> None:
    with pytest.raises(FatalError):
        get_json(requests.Session(), f"{prism.url}/2/users/{OUR_ID}/mentions", {"max_results": "10"}, attempts=1)
