"""Each target kind configured the way an operator does it, only through hub.yaml, plus what tests ask its peer.

``TargetPeer`` knows, for one kind: the hub.yaml block (builtin target map), the connection, how many records at the
peer carry a customer's hub key, how a person edits one field there, and which HTTP session a destination the hub
built talks through (for transport-level fault injection).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from crm_core.db import transaction
from crm_core.hub import Hub
from crm_core.models import Customer
from tests.outbound.conftest import change_golden  # noqa: F401 - one helper for both areas' tests

GOLDEN = {"given_name": "Anna", "family_name": "Schmidt", "full_name": "Anna Schmidt", "email": "anna@example.de",
          "phone": "+493012345678", "city": "Berlin", "postcode": "10115", "country": "DE", "language": "de",
          "title": "Einkauf", "consent": {"email_marketing": True}, "tags": ["vip", "b2b"]}

HUB_YAML = """\
version: 1
targets:
  - name: crm
    kind: {kind}
    mapping: builtin:targets/{map_name}
    connection_id: crm_conn
    conflict_policy: {{default: {policy}}}
    options: {options}
"""



def target_hub(make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch, kind: str, map_name: str,
               connection: dict[str, Any], options: dict[str, Any] | None = None, policy: str = "manual") -> Hub:
    """A hub whose one target ``crm`` is configured only through hub.yaml and an AIRFLOW_CONN_ variable."""
    monkeypatch.setenv("AIRFLOW_CONN_CRM_CONN", json.dumps(connection))
    return make_hub(HUB_YAML.format(kind=kind, map_name=map_name, policy=policy, options=json.dumps(options or {})))


READ_RPC = ("search_read", "search", "read", "search_count", "common.db.login")


@dataclass
class TargetPeer:
    kind: str
    map_name: str
    connection: dict[str, Any]
    options: dict[str, Any]
    # canonical field a person edits in the target, with the target's field name
    edited: str
    records: Callable[[int], list[dict[str, Any]]]  # the peer's records carrying hub-<cid>
    edit: Callable[[int, str], None]  # a person sets the edited field to a value
    value: Callable[[dict[str, Any]], Any]  # the edited field of one record
    phone: Callable[[dict[str, Any]], Any]  # the phone of one record (every map carries it)
    session_of: Callable[[Any], requests.Session]  # the HTTP session of a destination built by the hub

    def hub(self, make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch, policy: str = "manual") -> Hub:
        return target_hub(make_hub, monkeypatch, self.kind, self.map_name, self.connection, self.options, policy)

    def one(self, cid: int) -> dict[str, Any]:
        [record] = self.records(cid)
        return record


def add_customer(hub: Hub, golden: dict[str, Any] | None = None, **changes: Any) -> int:
    """A golden customer; a random id because the Tryton database is shared by the whole test session."""
    with transaction(hub.sessions) as session:
        customer = Customer(id=random.randint(10_000, 9_999_999), golden={**(golden or GOLDEN), **changes})
        session.add(customer)
        session.flush()
        return customer.id


def digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def is_write(request: requests.PreparedRequest) -> bool:
    """A request that changes the peer: not a GET, not a batch read or search, not a JSON-RPC read."""
    if request.method == "GET":
        return False
    path = request.path_url.split("?")[0]
    if path.endswith(("/batch/read", "/search")):
        return False
    if path.endswith("/rpc/"):
        body = request.body or b"{}"
        method = str(json.loads(body.decode() if isinstance(body, bytes) else body).get("method", ""))
        return not method.endswith(READ_RPC)
    return True


class LoseResponses(HTTPAdapter):
    """The peer receives and commits a write, and the answer never arrives (the connection drops): ``times`` writes."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.lost = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        if self.times > 0 and is_write(request):
            self.times -= 1
            self.lost += 1
            raise requests.ConnectionError("connection reset after the request was sent")
        return response
