"""The three-way planner, case by case: every row is one (base, ours, theirs, policy) and the action it must give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_core.outbound import Action, Decision, plan_field, plan_record

EARLY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATE = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

THREE_WAY = [
    # id,                         base,   ours,   theirs, action
    ("nothing changed", "a", "a", "a", Action.NOOP),
    ("ours changed", "a", "b", "a", Action.PUSH),
    ("theirs changed", "a", "a", "c", Action.PULL),
    ("both changed alike", "a", "b", "b", Action.SYNCED),
    ("ours filled an empty", None, "b", None, Action.PUSH),
    ("theirs filled an empty", None, None, "c", Action.PULL),
    ("ours cleared", "a", None, "a", Action.PUSH),
    ("theirs cleared", "a", "a", None, Action.PULL),
    ("empty string is no value", None, "", None, Action.NOOP),
    ("both cleared", "a", None, "", Action.SYNCED),
]


@pytest.mark.parametrize(("base", "ours", "theirs", "action"), [c[1:] for c in THREE_WAY],
                         ids=[c[0] for c in THREE_WAY])
def test_three_way_cases_without_conflict(base: object, ours: object, theirs: object, action: Action) -> None:
    plan = plan_field("email", base, ours, theirs, "manual")
    assert plan.action is action
    assert not plan.conflict


POLICIES = [
    # id,                              policy,          ours,  theirs, ours_at, theirs_at, action
    ("hub_wins pushes", "hub_wins", "b", "c", EARLY, LATE, Action.PUSH),
    ("target_wins pulls", "target_wins", "b", "c", LATE, EARLY, Action.PULL),
    ("newest_wins: hub newer", "newest_wins", "b", "c", LATE, EARLY, Action.PUSH),
    ("newest_wins: target newer", "newest_wins", "b", "c", EARLY, LATE, Action.PULL),
    ("newest_wins: tie goes to the hub", "newest_wins", "b", "c", LATE, LATE, Action.PUSH),
    ("newest_wins: no remote time", "newest_wins", "b", "c", EARLY, None, Action.PUSH),
    ("fill_if_empty: target emptied", "fill_if_empty", "b", None, EARLY, LATE, Action.PUSH),
    ("fill_if_empty: hub emptied", "fill_if_empty", None, "c", EARLY, LATE, Action.PULL),
    ("fill_if_empty: both set holds", "fill_if_empty", "b", "c", EARLY, LATE, Action.HOLD),
    ("manual holds", "manual", "b", "c", EARLY, LATE, Action.HOLD),
]


@pytest.mark.parametrize(("policy", "ours", "theirs", "ours_at", "theirs_at", "action"),
                         [c[1:] for c in POLICIES], ids=[c[0] for c in POLICIES])
def test_a_conflict_is_settled_by_the_field_policy(
    policy: str, ours: object, theirs: object, ours_at: datetime, theirs_at: datetime | None, action: Action
) -> None:
    plan = plan_field("title", "a", ours, theirs, policy, ours_at=ours_at, theirs_at=theirs_at)
    assert plan.conflict and plan.policy == policy
    assert plan.action is action


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown conflict policy"):
        plan_field("title", "a", "b", "c", "coin_flip")


def test_a_decision_to_push_a_typed_value_overrides_the_policy_and_keeps_the_golden_value_as_base() -> None:
    plan = plan_record(1, {"title": "a"}, {"title": "b"}, {"title": "c"}, lambda _f: "manual",
                       decisions={"title": Decision(Action.PUSH, "d")})
    assert plan.push == {"title": "d"}
    assert plan.snapshot() == {"title": "b"}  # until resolution adopts "d", the hub must not push "b" back


def test_a_decision_to_take_theirs_pulls_and_moves_the_base_to_ours() -> None:
    plan = plan_record(1, {"title": "a"}, {"title": "b"}, {"title": "c"}, lambda _f: "manual",
                       decisions={"title": Decision(Action.PULL)})
    assert plan.pull == {"title": "c"} and plan.snapshot() == {"title": "b"}


def test_a_record_the_target_lacks_is_a_create_of_every_non_empty_field() -> None:
    plan = plan_record(7, None, {"email": "li@example.cn", "title": None}, None, lambda _f: "manual")
    assert plan.create and plan.push == {"email": "li@example.cn"}


def test_a_held_field_keeps_its_base_and_is_left_out_of_the_pulled_state() -> None:
    plan = plan_record(1, {"title": "a", "city": "x"}, {"title": "b", "city": "x"}, {"title": "c", "city": "y"},
                       lambda _f: "manual")
    assert [f.field for f in plan.held] == ["title"]
    assert plan.snapshot() == {"title": "a", "city": "x"}
    assert plan.target_state() == {"city": "y"}


def test_a_read_only_field_is_never_pushed() -> None:
    plan = plan_record(1, {"title": "a"}, {"title": "b"}, {"title": "a"}, lambda _f: "hub_wins",
                       writable=lambda name: name != "title")
    assert plan.push == {} and plan.quiet


def test_the_state_expected_after_a_write_is_ours_where_pushed_and_theirs_elsewhere() -> None:
    plan = plan_record(1, {"a": "1", "b": "1"}, {"a": "2", "b": "1"}, {"a": "1", "b": "3"}, lambda _f: "manual")
    assert plan.remote_after() == {"a": "2", "b": "3"}
