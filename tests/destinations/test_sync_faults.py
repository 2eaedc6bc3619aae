"""Faults between the hub and every target kind, each hub configured only through hub.yaml.

- an edit a person makes between the planner's read and our write is seen and never overwritten: the write is
  refused as stale (Salesforce 412, Tryton's ``_timestamp`` check, HubSpot's and Mailchimp's re-read right before
  the write), the record is read and planned again in the same run, and our other change still lands;
- "request committed, response lost": the peer applies a write whose answer never arrives; the connector's retry
  and the next run re-send it, and the peer still holds one record per customer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from connectors import build_destination
from crm_core.hub import Hub
from crm_core.jobs import push
from crm_core.models import DeadLetter, SyncState
from crm_core.outbound import push_target
from crm_core.records import OutboundItem, PushResult
from crm_core.runs import StageResult, lease, recorded_run
from tests.destinations._targets import LoseResponses, TargetPeer, add_customer, change_golden, digits

# the golden value "ours" for the field a person edits in each target
OURS = {"title": "Leitung", "given_name": "Anne", "full_name": "Anne Schmidt"}


def push_through(hub: Hub, destination: Any) -> StageResult:
    """``crm_core.jobs.push`` with a destination handed in (the one we put a fault on)."""
    with lease(hub.sessions, "target:crm"), recorded_run(hub.sessions, "push", "crm", None) as result:
        push_target(hub, "crm", result, destination=destination)
    return result


class EditBeforeWrite:
    """The hub's own destination; a person edits the record after the planner read it, before the first write."""

    def __init__(self, destination: Any, edit: Callable[[], None]) -> None:
        self._destination, self._edit = destination, edit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._destination, name)

    def upsert(self, items: Sequence[OutboundItem]) -> list[PushResult]:
        edit, self._edit = self._edit, lambda: None
        edit()
        return list(self._destination.upsert(items))


def test_an_edit_between_read_and_write_is_kept_and_our_other_change_lands(
    target_peer: TargetPeer, make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = target_peer.hub(make_hub, monkeypatch, policy="manual")
    cid = add_customer(hub)
    push(hub, "crm")
    change_golden(hub, cid, phone="+493099999999", **{target_peer.edited: OURS[target_peer.edited]})
    destination = build_destination(hub.config.target("crm"), hub)

    result = push_through(hub, EditBeforeWrite(destination, lambda: target_peer.edit(cid, "Injected")))

    record = target_peer.one(cid)
    assert target_peer.value(record) == "Injected"  # the person's edit survived
    assert digits(target_peer.phone(record)) == "493099999999"  # re-planned and written in the same run
    assert (result.records_failed, result.detail["conflicts"], result.detail["stale"]) == (0, 1, 0)


def test_a_rerun_after_request_committed_response_lost_creates_no_duplicate(
    target_peer: TargetPeer, make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = target_peer.hub(make_hub, monkeypatch)
    ids = [add_customer(hub, email=f"anna{n}@example.de", phone=f"+4930123456{n}0") for n in range(3)]
    destination = build_destination(hub.config.target("crm"), hub)
    lost = LoseResponses(times=1)
    for scheme in ("http://", "https://"):
        target_peer.session_of(destination).mount(scheme, lost)

    push_through(hub, destination)
    rerun = push(hub, "crm")
    quiet = push(hub, "crm")

    assert lost.lost == 1
    assert [len(target_peer.records(cid)) for cid in ids] == [1, 1, 1]
    assert rerun.records_failed == 0 and quiet.records_out == 0 and quiet.records_failed == 0
    with hub.sessions() as session:
        states = session.scalars(select(SyncState).where(SyncState.target == "crm")).all()
        assert sorted(s.customer_id for s in states if s.status == "ok" and s.external_id) == sorted(ids)
        assert session.scalars(select(DeadLetter).where(DeadLetter.status == "pending")).all() == []
