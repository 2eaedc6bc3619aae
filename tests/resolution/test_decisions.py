"""People's decisions on the store: merge, unmerge, review accept/reject, and the explanation (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.config import ResolutionConfig
from crm_core.db import transaction
from crm_core.errors import HubError
from crm_core.models import AuditLog, Customer, Interaction, MergeEvent, ReviewItem, utcnow
from crm_core.resolution import decide_review, explain_customer, merge_customers, unmerge_record

from .helpers import add_contact, customer_of, resolve

CONFIG = ResolutionConfig()


def _two_customers(sessions: sessionmaker[Session]) -> tuple[int, int, int, int]:
    """Ann (two records, one with an interaction) and Bob (one record): (ann record, ann record 2, bob record, ...)."""
    with transaction(sessions) as s:
        a1 = add_contact(s, full_name="Ann Lee", email="ann@x.com", city="Berlin").id
        a2 = add_contact(s, source="mail", email="ann@x.com").id
        b1 = add_contact(s, full_name="Bob Marsh", phone="+4915112345679", city="Hamburg").id
        s.add(Interaction(source="calls", external_ref="c1", contact_record_id=b1, channel="phone", occurred_at=utcnow()))
    resolve(sessions)
    with sessions() as s:
        return a1, a2, b1, customer_of(s, b1)  # type: ignore[return-value]


def test_merge_moves_records_and_interactions_and_keeps_the_absorbed_customer(sessions: sessionmaker[Session]) -> None:
    a1, _a2, b1, bob = _two_customers(sessions)
    with sessions() as s:
        ann = customer_of(s, a1)
    with transaction(sessions) as s:
        merge_customers(s, ann, bob, CONFIG, actor="tester")
    with sessions() as s:
        assert customer_of(s, b1) == ann
        assert s.scalars(select(Interaction)).one().customer_id == ann
        absorbed = s.get(Customer, bob)
        assert (absorbed.status, absorbed.merged_into) == ("merged", ann)
        assert s.scalars(select(AuditLog).where(AuditLog.action == "merge")).one().actor == "tester"


def test_unmerge_restores_both_sides(sessions: sessionmaker[Session]) -> None:
    a1, a2, b1, bob = _two_customers(sessions)
    with sessions() as s:
        ann = customer_of(s, a1)
        ann_golden, bob_golden = s.get(Customer, ann).golden, s.get(Customer, bob).golden
    with transaction(sessions) as s:
        merge_customers(s, ann, bob, CONFIG)
    with transaction(sessions) as s:
        unmerge_record(s, ann, b1, CONFIG)
    with sessions() as s:
        assert customer_of(s, a1) == customer_of(s, a2) == ann
        assert customer_of(s, b1) == bob
        assert s.get(Customer, bob).status == "active"
        assert s.get(Customer, ann).golden == ann_golden
        assert s.get(Customer, bob).golden == bob_golden
        assert s.scalars(select(Interaction)).one().customer_id == bob
        merge = s.scalars(select(MergeEvent).where(MergeEvent.kind == "merge")).one()
        assert merge.undone_by is not None


def test_unmerged_record_is_not_linked_back_by_the_next_resolution(sessions: sessionmaker[Session]) -> None:
    a1, a2, _b1, _bob = _two_customers(sessions)
    with sessions() as s:
        ann = customer_of(s, a1)
    with transaction(sessions) as s:
        unmerge_record(s, ann, a2, CONFIG)  # the mail sender was not Ann after all
    with transaction(sessions) as s:
        add_contact(s, full_name="Ann Lee", email="ann@x.com", phone="+4915100000000")
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a2) != customer_of(s, a1)


def test_unmerge_of_a_customer_s_only_record_is_refused(sessions: sessionmaker[Session]) -> None:
    _a1, _a2, b1, bob = _two_customers(sessions)
    with transaction(sessions) as s, pytest.raises(HubError, match="nothing to separate"):
        unmerge_record(s, bob, b1, CONFIG)


def _review_pair(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    """Same name, nothing else in common: a person should look at it."""
    with transaction(sessions) as s:
        a = add_contact(s, full_name="Ann Lee", email="ann@x.com").id
        b = add_contact(s, full_name="Ann Lee", phone="+4915112345678").id
    resolve(sessions)
    with sessions() as s:
        item = s.scalars(select(ReviewItem)).one()
        return a, b, item.id


def test_scores_between_thresholds_go_to_review(sessions: sessionmaker[Session]) -> None:
    a, b, item_id = _review_pair(sessions)
    with sessions() as s:
        item = s.get(ReviewItem, item_id)
        assert customer_of(s, a) != customer_of(s, b)
        assert CONFIG.review_threshold <= item.score < CONFIG.auto_link_threshold
        assert item.status == "open"


def test_accepting_a_review_item_merges_the_record_into_the_candidate(sessions: sessionmaker[Session]) -> None:
    a, b, item_id = _review_pair(sessions)
    with transaction(sessions) as s:
        decide_review(s, item_id, True, CONFIG, actor="reviewer")
    with sessions() as s:
        assert customer_of(s, a) == customer_of(s, b)
        assert s.get(ReviewItem, item_id).status == "accepted"
        assert s.scalars(select(AuditLog).where(AuditLog.action == "review_accepted")).one().actor == "reviewer"


def test_rejecting_a_review_item_keeps_them_apart_for_good(sessions: sessionmaker[Session]) -> None:
    a, b, item_id = _review_pair(sessions)
    with transaction(sessions) as s:
        decide_review(s, item_id, False, CONFIG)
        record = s.get(__import__("crm_core.models", fromlist=["ContactRecord"]).ContactRecord, b)
        record.version += 1  # the record changes and is resolved again
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) != customer_of(s, b)
        assert s.get(ReviewItem, item_id).status == "rejected"
        with pytest.raises(HubError, match="already rejected"):
            decide_review(s, item_id, True, CONFIG)


def test_explanation_names_the_rule_and_provenance_of_each_value(sessions: sessionmaker[Session]) -> None:
    a1, a2, _b1, _bob = _two_customers(sessions)
    with sessions() as s:
        info = explain_customer(s, customer_of(s, a1))
    assert info["provenance"]["city"] == {"record": a1, "source": "web", "rule": "most_recent"}
    evidence = {r["id"]: r["evidence"] for r in info["records"]}
    assert evidence[a2]["rule"] == "deterministic:email"
