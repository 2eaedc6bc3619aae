"""The audit trail answers who, what, when and in which run, for every decision that changes whose data is whose:
merges, unmerges, review decisions, conflict decisions, erasures and replays. Its entries hold ids, never values."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from crm_core.config import ResolutionConfig
from crm_core.db import transaction
from crm_core.dead_letter import send_to_dead_letter
from crm_core.erasure import erase_person
from crm_core.hub import Hub
from crm_core.models import AuditLog, Conflict, ReviewItem, utcnow
from crm_core.outbound import resolve_conflict
from crm_core.replay import ReplayFilter, replay_failed
from crm_core.resolution import decide_review, merge_customers, unmerge_record
from tests.resolution.helpers import add_contact, customer_of, resolve

CONFIG = ResolutionConfig()
ERASED = "erase.me@example.test"


def test_every_decision_is_audited_with_actor_time_run_and_object_but_no_personal_values(
    make_hub: Callable[..., Hub], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SECRET_KEY", Fernet.generate_key().decode())
    hub = make_hub("version: 1\n", url=db_url)
    started = utcnow() - timedelta(seconds=1)
    with transaction(hub.sessions) as s:
        ann = add_contact(s, full_name="Ann Lee", email="ann@x.com").id
        bob = add_contact(s, full_name="Bob Marsh", email="bob@y.com").id
        eve = add_contact(s, full_name="Eve Erased", email=ERASED).id
    resolve(hub.sessions)
    with transaction(hub.sessions) as s:
        ann_c, bob_c, eve_c = customer_of(s, ann), customer_of(s, bob), customer_of(s, eve)
        assert ann_c and bob_c and eve_c
        review = ReviewItem(contact_record_id=bob, candidate_customer_id=eve_c, score=0.8, evidence={})
        conflict = Conflict(customer_id=ann_c, target="crm", field="title", base=None, ours="A", theirs="B",
                            policy="manual")
        s.add_all([review, conflict])
        s.flush()
        review_id, conflict_id = review.id, conflict.id
        item_id = send_to_dead_letter(s, stage="resolve", name="customers", ref=str(ann), payload={"id": ann},
                                      error_class="X", error_message="x").id

    with transaction(hub.sessions) as s:
        merge_customers(s, ann_c, bob_c, CONFIG, actor="ana", run_id="manual__merge")
    with transaction(hub.sessions) as s:
        unmerge_record(s, ann_c, bob, CONFIG, actor="ben", run_id="manual__unmerge")
    with transaction(hub.sessions) as s:
        decide_review(s, review_id, accept=False, config=CONFIG, actor="cy", run_id="manual__review")
    with transaction(hub.sessions) as s:
        resolve_conflict(s, conflict_id, "ours", actor="dan", run_id="manual__conflict")
    replay_failed(hub, ReplayFilter(ids=(item_id,)), run_id="manual__replay", actor="eli")
    with transaction(hub.sessions) as s:
        erase_person(s, emails=[ERASED], actor="dpo", run_id="manual__erase")

    with hub.sessions() as s:
        entries = {e.action: e for e in s.scalars(select(AuditLog).order_by(AuditLog.id))}
    expected = {
        "merge": ("ana", "manual__merge", "customer", str(ann_c)),
        "unmerge": ("ben", "manual__unmerge", "customer", str(ann_c)),
        "review_rejected": ("cy", "manual__review", "review_item", str(review_id)),
        "conflict_resolved": ("dan", "manual__conflict", "conflict", str(conflict_id)),
        "replay": ("eli", "manual__replay", "dead_letter", "resolve:customers"),
        "erase": ("dpo", "manual__erase", "erasure", None),
    }
    got = {action: (e.actor, e.run_id, e.object_type, e.object_id if action != "erase" else None)
           for action, e in entries.items() if action in expected}
    assert got == expected
    assert all(started <= entries[a].at <= utcnow() for a in expected)  # when
    trail = json.dumps([e.detail for e in entries.values()], ensure_ascii=False)
    assert "erase.me" not in trail and "Eve" not in trail and "ann@x.com" not in trail  # ids, not values
