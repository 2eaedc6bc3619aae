"""``sync_state`` bookkeeping: the base snapshot, echo-suppression markers and the circuit breaker.

The snapshot holds the base values by canonical field plus ``_dir``: the direction each field last moved in
(``push`` or ``pull``). A field that moves against its last direction is a *flip*; a record whose flips in one day
pass ``max_flips_per_day`` is held (``status = held``) and reported until the day is over, so two systems that keep
rewriting each other's value cannot bounce it back and forth for ever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import SyncState
from ..records import content_hash
from ._plan import Action, RecordPlan

DIRECTIONS = "_dir"
FLIP_WINDOW = timedelta(days=1)


def load_states(session: Session, target: str, customer_ids: Iterable[int]) -> dict[int, SyncState]:
    ids = list(customer_ids)
    if not ids:
        return {}
    rows = session.scalars(select(SyncState).where(SyncState.target == target, SyncState.customer_id.in_(ids)))
    return {row.customer_id: row for row in rows}


def base_of(state: SyncState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {k: v for k, v in (state.snapshot or {}).items() if not k.startswith("_")}


def remote_hash(values: Mapping[str, Any]) -> str:
    """Hash of a target record's mapped, non-empty values: equal to ``written_hash`` when it is our own write."""
    return content_hash({k: v for k, v in values.items() if v not in (None, "", [], {})})


def flips(state: SyncState | None, plan: RecordPlan) -> int:
    last = dict((state.snapshot or {}).get(DIRECTIONS, {})) if state is not None else {}
    moved = [(f.field, "push") for f in plan.by(Action.PUSH)] + [(f.field, "pull") for f in plan.by(Action.PULL)]
    return sum(1 for name, way in moved if last.get(name) not in (None, way))


def breaker_trips(state: SyncState | None, new_flips: int, limit: int, now: datetime) -> bool:
    """True when this plan would take the record past ``limit`` flips in the current day window."""
    if state is None or new_flips == 0:
        return False
    count = state.flip_count if _in_window(state, now) else 0
    return count + new_flips > limit


def is_held(state: SyncState | None, now: datetime) -> bool:
    return state is not None and state.status == "held" and _in_window(state, now)


def _in_window(state: SyncState, now: datetime) -> bool:
    return state.flip_window_start is not None and now - state.flip_window_start < FLIP_WINDOW


def hold(state: SyncState, now: datetime) -> None:
    state.status = "held"
    if not _in_window(state, now):
        state.flip_window_start = now


def record_synced(
    session: Session,
    state: SyncState | None,
    *,
    customer_id: int,
    target: str,
    plan: RecordPlan,
    now: datetime,
    external_id: str | None,
    remote_version: str | None,
    wrote: bool,
) -> SyncState:
    """Move the base after a successful sync of one record (write done, or nothing to write)."""
    if state is None:
        state = SyncState(customer_id=customer_id, target=target, snapshot={}, flip_count=0)
        session.add(state)
    directions = dict((state.snapshot or {}).get(DIRECTIONS, {}))
    new_flips = flips(state, plan)
    if not plan.create:  # the first write sets no direction: a person editing a new record is no flip
        directions.update({f.field: "push" for f in plan.by(Action.PUSH)})
    directions.update({f.field: "pull" for f in plan.by(Action.PULL)})
    state.snapshot = {**plan.snapshot(), DIRECTIONS: directions}
    if new_flips:
        if not _in_window(state, now):
            state.flip_window_start, state.flip_count = now, 0
        state.flip_count = (state.flip_count or 0) + new_flips
    state.external_id = external_id or state.external_id
    state.remote_version = remote_version
    if wrote:
        state.written_hash = remote_hash(plan.remote_after())
    state.last_synced_at = now
    state.status = "ok"
    return state
