"""The peers a push talks to, each able to say how many reads and writes reached it.

Salesforce, HubSpot and Mailchimp are the stateful fakes the tests use (they follow the vendors' contracts and log
every request they serve). Tryton is the real server; it keeps no request log, so a transport adapter mounted on
the destination's HTTP session reads the JSON-RPC method name of every request it sends.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from tests.destinations.hubspot_server import HubSpotServer
from tests.fakes.mailchimp import MailchimpFake
from tests.fakes.salesforce import FakeSalesforce, serve
from tests.servers.tryton import TrytonServer

READ_RPC = ("search_read", "search", "read", "search_count", "common.db.login")


@dataclass
class Calls:
    reads: int = 0
    writes: int = 0

    def __sub__(self, other: Calls) -> Calls:
        return Calls(self.reads - other.reads, self.writes - other.writes)

    @property
    def total(self) -> int:
        return self.reads + self.writes


class Peer:
    """One target system for one bench pass; ``calls()`` is cumulative since ``start``."""

    kind = ""
    map_name = ""
    floor = ""  # the vendor's documented floor for 1,000 records, as text for the table
    options: dict[str, Any] = {}

    def start(self, workdir: Path) -> None:
        raise NotImplementedError

    def connection(self) -> dict[str, Any]:
        raise NotImplementedError

    def instrument(self, destination: Any) -> None:
        """Attach wire counting to a destination the hub built (only where the peer logs nothing itself)."""

    def calls(self) -> Calls:
        raise NotImplementedError

    def stop(self) -> None:
        pass


class SalesforcePeer(Peer):
    kind, map_name = "salesforce", "salesforce_contact"
    floor = "6 (5 × 200-record collection + 1 × 2,000-record query page)"

    def start(self, workdir: Path) -> None:
        self.org = FakeSalesforce()
        self._stack = ExitStack()
        self.url, self.ca = self._stack.enter_context(serve(self.org, workdir))

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "salesforce", "password": "token-0", "login": "hub-client",
                "extra": {"base_url": self.url, "client_secret": "hub-secret", "ca_bundle": self.ca}}

    def calls(self) -> Calls:
        with self.org.lock:
            methods = [m for m, _ in self.org.calls]
        return Calls(reads=methods.count("GET"), writes=len(methods) - methods.count("GET"))

    def stop(self) -> None:
        self._stack.close()


class SalesforceCollectionsPeer(SalesforcePeer):
    """Salesforce with ``concurrency: collections``: updates in 200-record collections, no per-record guard."""

    options = {"concurrency": "collections"}


class HubSpotPeer(Peer):
    kind, map_name = "hubspot", "hubspot_contact"
    floor = "20 (10 × 100-record batch read + 10 × 100-record batch write)"

    def start(self, workdir: Path) -> None:
        self.server = HubSpotServer().start()

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "hubspot", "password": self.server.token, "extra": {"base_url": self.server.url}}

    def calls(self) -> Calls:
        paths = [p for _, p in list(self.server.requests)]
        reads = sum(1 for p in paths if p.endswith(("/batch/read", "/search")))
        return Calls(reads=reads, writes=len(paths) - reads)

    def stop(self) -> None:
        self.server.stop()


class MailchimpPeer(Peer):
    kind, map_name = "mailchimp", "mailchimp_member"
    floor = "1,000+ (one PUT per member; /batches is asynchronous)"
    options = {"list_id": "aud1"}

    def start(self, workdir: Path) -> None:
        self.fake = MailchimpFake().start()
        self.fake.add_list("aud1")

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "mailchimp", "password": self.fake.api_key, "extra": {"base_url": self.fake.url}}

    def calls(self) -> Calls:
        methods = [r.method for r in list(self.fake.requests)]
        return Calls(reads=methods.count("GET"), writes=len(methods) - methods.count("GET"))

    def stop(self) -> None:
        self.fake.stop()


class _CountingAdapter(HTTPAdapter):
    """Counts JSON-RPC calls by method name as they are sent."""

    def __init__(self, counts: Calls) -> None:
        super().__init__()
        self.counts = counts

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        body = request.body or b"{}"
        method = str(json.loads(body.decode() if isinstance(body, bytes) else body).get("method", ""))
        if method.endswith(READ_RPC):
            self.counts.reads += 1
        else:
            self.counts.writes += 1
        return super().send(request, *args, **kwargs)


@dataclass
class TrytonPeer(Peer):
    """The real Tryton server, shared by the passes of one bench run (customer ids keep them apart)."""

    server: TrytonServer | None = None
    counts: Calls = field(default_factory=Calls)
    kind = "tryton"
    map_name = "tryton_party"
    floor = "~20 (10 × 100-record create/write + 10 × read; 1 RPC per batch, no documented cap)"

    def start(self, workdir: Path) -> None:
        if self.server is None:
            self.server = TrytonServer(workdir)
        self.counts = Calls()

    def connection(self) -> dict[str, Any]:
        assert self.server is not None
        return dict(json.loads(self.server.connection_uri()))

    def instrument(self, destination: Any) -> None:
        http = destination.backend.rpc.http
        http.mount("http://", _CountingAdapter(self.counts))

    def calls(self) -> Calls:
        return Calls(self.counts.reads, self.counts.writes)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


PEERS: dict[str, type[Peer]] = {
    "salesforce": SalesforcePeer,
    "salesforce_collections": SalesforceCollectionsPeer,
    "hubspot": HubSpotPeer,
    "mailchimp": MailchimpPeer,
    "tryton": TrytonPeer,
}
