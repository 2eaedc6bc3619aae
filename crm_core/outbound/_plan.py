"""The three-way plan: pure functions, no I/O, so every case is a row in a table test.

For each field of one customer and one target there are three values (DESIGN.md, "Conflict handling"):

    base    what both sides agreed on at the last sync (``sync_state.snapshot``; None before the first one)
    ours    the golden record now, in the target's representation
    theirs  the target now, read in and out again so formatting noise is no change

    ours changed?  theirs changed?  →  action
    no             no                  NOOP
    yes            no                  PUSH   ours to the target
    no             yes                 PULL   theirs becomes a contact record from the target (a source)
    yes            yes, same value     SYNCED nothing to write, the base moves
    yes            yes, different      conflict, settled by the field's policy:
                                          hub_wins → PUSH, target_wins → PULL,
                                          newest_wins → the side modified last (the hub on a tie),
                                          fill_if_empty → the non-empty side, HOLD when both have a value,
                                          manual → HOLD (field queued in ``conflict``, written by nobody)

A person's decision on a queued conflict (``crmhub conflicts resolve``) arrives as a ``Decision`` and overrides the
policy for that field.

The new base is always *ours* (the golden value), except for a held field, whose base stays. The surprising case is
a PULL: the hub adopts the pulled value only when resolution makes it golden, so until then ours equals the base and
the next run sees "theirs changed" again and pulls again (a no-op), instead of pushing the old golden value back over
the person's edit; once the golden record has the value, ours equals theirs and the field is SYNCED. The same holds
for a person's decision to push a typed value: the base stays the golden value, so the hub never pushes the old
golden value back over the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mapping.target import is_empty

POLICIES = ("hub_wins", "target_wins", "newest_wins", "fill_if_empty", "manual")


class Action(StrEnum):
    NOOP = "noop"
    PUSH = "push"
    PULL = "pull"
    SYNCED = "synced"
    HOLD = "hold"


@dataclass(frozen=True)
class Decision:
    """A person's answer to a queued conflict: push ``value`` (take ours or a typed value) or pull theirs."""

    action: Action
    value: Any = None


@dataclass(frozen=True)
class FieldPlan:
    field: str
    action: Action
    base: Any
    ours: Any
    theirs: Any
    conflict: bool = False
    policy: str | None = None  # the policy (or "decision") that settled a conflict
    chosen: Any = None  # the value a person decided to push, when it is not ours
    has_choice: bool = False

    @property
    def value(self) -> Any:
        """The value both sides hold once this plan is carried out (None for a held field)."""
        if self.action is Action.PULL:
            return self.theirs
        if self.action is Action.HOLD:
            return None
        return self.chosen if self.has_choice else self.ours

    @property
    def remote_after(self) -> Any:
        """The target's value once the plan is carried out (what echo suppression expects to read back)."""
        return self.value if self.action is Action.PUSH else self.theirs


def same(a: Any, b: Any) -> bool:
    """Equal, with None, "" and empty collections all meaning "no value"."""
    if is_empty(a) and is_empty(b):
        return True
    return bool(a == b)


def plan_field(
    name: str,
    base: Any,
    ours: Any,
    theirs: Any,
    policy: str,
    *,
    ours_at: datetime | None = None,
    theirs_at: datetime | None = None,
    decision: Decision | None = None,
) -> FieldPlan:
    ours_changed, theirs_changed = not same(ours, base), not same(theirs, base)
    plan = FieldPlan(name, Action.NOOP, base, ours, theirs)
    if decision is not None:
        if decision.action is Action.PUSH:
            return FieldPlan(name, Action.PUSH, base, ours, theirs, True, "decision", decision.value, True)
        return FieldPlan(name, Action.PULL, base, ours, theirs, conflict=True, policy="decision")
    if not ours_changed and not theirs_changed:
        return plan
    if ours_changed and not theirs_changed:
        return FieldPlan(name, Action.PUSH, base, ours, theirs)
    if theirs_changed and not ours_changed:
        return FieldPlan(name, Action.PULL, base, ours, theirs)
    if same(ours, theirs):
        return FieldPlan(name, Action.SYNCED, base, ours, theirs)
    return FieldPlan(name, _settle(policy, ours, theirs, ours_at, theirs_at), base, ours, theirs, True, policy)


def _settle(policy: str, ours: Any, theirs: Any, ours_at: datetime | None, theirs_at: datetime | None) -> Action:
    if policy == "hub_wins":
        return Action.PUSH
    if policy == "target_wins":
        return Action.PULL
    if policy == "newest_wins":
        if ours_at is None or theirs_at is None:
            return Action.PUSH if theirs_at is None else Action.PULL
        return Action.PUSH if ours_at >= theirs_at else Action.PULL
    if policy == "fill_if_empty":
        if is_empty(theirs):
            return Action.PUSH
        if is_empty(ours):
            return Action.PULL
        return Action.HOLD
    if policy == "manual":
        return Action.HOLD
    raise ValueError(f"unknown conflict policy {policy!r}; known: {', '.join(POLICIES)}")


@dataclass(frozen=True)
class RecordPlan:
    """The plan for one customer on one target."""

    customer_id: int
    create: bool
    fields: tuple[FieldPlan, ...] = field(default_factory=tuple)

    def by(self, action: Action) -> list[FieldPlan]:
        return [f for f in self.fields if f.action is action]

    @property
    def push(self) -> dict[str, Any]:
        return {f.field: f.value for f in self.by(Action.PUSH)}

    @property
    def pull(self) -> dict[str, Any]:
        return {f.field: f.value for f in self.by(Action.PULL)}

    @property
    def offers(self) -> bool:
        """Does the hub learn a value from this plan (a pull, or a person's typed value that is not golden yet)?"""
        return bool(self.pull) or any(f.has_choice and not same(f.chosen, f.ours) for f in self.by(Action.PUSH))

    @property
    def held(self) -> list[FieldPlan]:
        return self.by(Action.HOLD)

    @property
    def conflicts(self) -> list[FieldPlan]:
        return [f for f in self.fields if f.conflict]

    @property
    def quiet(self) -> bool:
        """Nothing to write, pull or queue: only NOOP and SYNCED fields."""
        return all(f.action in (Action.NOOP, Action.SYNCED) for f in self.fields)

    def snapshot(self) -> dict[str, Any]:
        """The new base: the golden value, except for held fields, which keep their old base (module docstring)."""
        out: dict[str, Any] = {}
        for f in self.fields:
            value = f.base if f.action is Action.HOLD else f.ours
            if not is_empty(value):
                out[f.field] = value
        return out

    def remote_after(self) -> dict[str, Any]:
        return {f.field: f.remote_after for f in self.fields if not is_empty(f.remote_after)}

    def target_state(self) -> dict[str, Any]:
        """The target's record once the plan is carried out (what a pulled contact record says), held fields left
        out so survivorship cannot settle by the back door what a person is asked to decide."""
        return {f.field: f.value for f in self.fields if f.action is not Action.HOLD and not is_empty(f.value)}


def plan_record(
    customer_id: int,
    base: Mapping[str, Any] | None,
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any] | None,
    policy_for: Callable[[str], str],
    *,
    ours_at: datetime | None = None,
    theirs_at: datetime | None = None,
    decisions: Mapping[str, Decision] | None = None,
    writable: Callable[[str], bool] = lambda _name: True,
) -> RecordPlan:
    """Plan every mapped field. ``theirs`` None means the target has no such record yet: create it.

    Fields the target map marks read-only (``writable`` false) are never pushed: a change of ours there is a NOOP.
    """
    base = base or {}
    decisions = decisions or {}
    create = theirs is None
    remote = theirs or {}
    plans = []
    for name in ours.keys() | remote.keys():
        plan = plan_field(
            name,
            base.get(name),
            ours.get(name),
            remote.get(name),
            policy_for(name),
            ours_at=ours_at,
            theirs_at=theirs_at,
            decision=decisions.get(name),
        )
        if plan.action is Action.PUSH and not writable(name):
            plan = FieldPlan(name, Action.NOOP, plan.base, plan.ours, plan.theirs)
        plans.append(plan)
    return RecordPlan(customer_id, create, tuple(sorted(plans, key=lambda p: p.field)))
