"""Customer lookup (caller screen pop) and the dead-letter selection that replay and the page share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.db import transaction
from crm_core.errors import HubError
from crm_core.lookup import LookupError_, lookup_customer
from crm_core.models import ContactRecord, Customer, DeadLetter, Interaction, utcnow
from crm_core.replay import ReplayFilter, list_failed

NOW = utcnow()


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> dict[str, int]:
    with transaction(sessions) as s:
        wang = Customer(golden={"full_name": "王小明", "email": "xm.wang@example.cn", "phone": "+8613800138000"})
        old = Customer(golden={"full_name": "Wang X."}, status="merged")
        s.add_all([wang, old])
        s.flush()
        old.merged_into = wang.id
        s.add_all([
            ContactRecord(source="web_forms", source_key="a", customer_id=wang.id, email="xm.wang@example.cn"),
            ContactRecord(source="calls", source_key="b", customer_id=old.id, phone="+8613800138000"),
        ])
        for minutes, subject in ((30, "call back"), (10, "quote sent"), (90, "first form")):
            s.add(Interaction(source="x", external_ref=subject, customer_id=wang.id, channel="phone",
                              occurred_at=NOW - timedelta(minutes=minutes), subject=subject))
        return {"wang": wang.id, "old": old.id}


def test_lookup_by_email_ignores_case_and_lists_newest_interactions_first(sessions: Any, people: Any) -> None:
    with sessions() as s:
        found = lookup_customer(s, email="  XM.Wang@Example.CN ", interactions=2)
    assert found.customer is not None and found.customer["id"] == people["wang"]
    assert found.customer["full_name"] == "王小明"
    assert [i["subject"] for i in found.interactions] == ["quote sent", "call back"]


def test_lookup_by_a_local_chinese_number_follows_the_merge_to_the_survivor(sessions: Any, people: Any) -> None:
    with sessions() as s:
        found = lookup_customer(s, phone="138 0013 8000")  # no +86: the default region is CN
    assert found.matched_by == "phone" and found.customer["id"] == people["wang"]  # type: ignore[index]


def test_lookup_of_an_unknown_key_finds_nothing(sessions: Any, people: Any) -> None:
    with sessions() as s:
        assert lookup_customer(s, email="nobody@example.com").customer is None


@pytest.mark.parametrize("query", [{}, {"phone": "not a number"}])
def test_lookup_without_a_usable_key_says_so(sessions: Any, query: dict[str, str]) -> None:
    with sessions() as s, pytest.raises(LookupError_):
        lookup_customer(s, **query)


@pytest.fixture
def dead_letters(sessions: sessionmaker[Session]) -> list[int]:
    with transaction(sessions) as s:
        items = [
            DeadLetter(stage="map", name="web_forms", error_class="InvalidEmail", error_message="a"),
            DeadLetter(stage="map", name="web_forms", error_class="BadDate", error_message="b"),
            DeadLetter(stage="push", name="salesforce", error_class="InvalidEmail", error_message="c"),
            DeadLetter(stage="map", name="web_forms", error_class="InvalidEmail", error_message="d",
                       status="resolved"),
            DeadLetter(stage="map", name="mailbox", error_class="InvalidEmail", error_message="e",
                       updated_at=NOW - timedelta(days=3), created_at=NOW - timedelta(days=3)),
        ]
        s.add_all(items)
        s.flush()
        return [i.id for i in items]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (ReplayFilter(), [0, 1, 2, 4]),  # every pending item
        (ReplayFilter(stage="map", name="web_forms"), [0, 1]),
        (ReplayFilter(error_class="InvalidEmail"), [0, 2, 4]),
        (ReplayFilter(since=NOW - timedelta(days=1)), [0, 1, 2]),
        (ReplayFilter(until=NOW - timedelta(days=1)), [4]),
        (ReplayFilter(limit=2), [0, 1]),
    ],
    ids=["all", "source", "error-class", "since", "until", "limit"],
)
def test_replay_selection(sessions: Any, dead_letters: list[int], selection: ReplayFilter, expected: list[int]) -> None:
    with sessions() as s:
        assert [i.id for i in list_failed(s, selection)] == [dead_letters[n] for n in expected]


def test_replay_selection_by_ids(sessions: Any, dead_letters: list[int]) -> None:
    with sessions() as s:
        chosen = list_failed(s, ReplayFilter(ids=(dead_letters[2], dead_letters[3])))
    assert [i.id for i in chosen] == [dead_letters[2]]  # the resolved one is not re-sent


def test_replay_params_from_the_trigger_form() -> None:
    selection = ReplayFilter.from_params({"stage": "map", "name": None, "error_class": "", "since":
                                          "2025-08-23T00:00:00Z", "until": None, "ids": [3, "4"], "limit": 20})
    assert (selection.stage, selection.name, selection.error_class) == ("map", None, None)
    assert selection.since is not None and selection.since.isoformat() == "2025-08-23T00:00:00+00:00"
    assert (selection.ids, selection.limit) == ((3, 4), 20)


def test_replay_filter_refuses_an_unknown_stage_and_naive_times() -> None:
    with pytest.raises(HubError, match="unknown stage"):
        ReplayFilter(stage="mapping")
    with pytest.raises(HubError, match="time zone"):
        ReplayFilter(since=NOW.replace(tzinfo=None))


def test_replay_of_a_push_item_says_when_the_target_cannot_resend_yet(make_hub: Any, tmp_path: Any) -> None:
    from crm_core.replay import replay_failed

    hub = make_hub("version: 1\n")
    with transaction(hub.sessions) as s:
        s.add(DeadLetter(stage="push", name="salesforce", ref="1", error_class="X", error_message="x"))
    try:
        replay_failed(hub, ReplayFilter(stage="push"))
    except HubError as exc:  # this build has no outbound re-send: the item must stay pending
        assert "salesforce" in str(exc)
    with hub.sessions() as s:
        assert s.scalars(select(DeadLetter.status)).one() == "pending"
