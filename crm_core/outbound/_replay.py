"""Re-sending dead-lettered push items (the Airflow ``replay`` DAG and ``crmhub failed replay`` call this).

A push dead letter holds a reference (customer id, hub key, target), not the values: a replay plans again from the
golden record and the target as they are at replay time, so an old value is never re-sent over a newer one. A
``GONE_AT_TARGET`` item (the record vanished from the target: deleted there, or the target restored from a backup)
is the explicit resync: its sync state is reset and the record is created again with the same hub key. Items that
succeed are marked ``replayed``; items that fail again stay ``pending`` with ``attempts`` raised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from ..db import transaction
from ..models import DeadLetter, SyncState
from ..runs import StageResult, lease, recorded_run


def replay_push(hub: Any, dead_letter_ids: Sequence[int], run_id: str | None = None) -> list[StageResult]:
    """Replay pending ``push`` dead letters by id, one run per target; returns each target's result."""
    from . import push_target

    by_target: dict[str, set[int]] = defaultdict(set)
    with transaction(hub.sessions) as session:
        rows = session.scalars(select(DeadLetter).where(
            DeadLetter.id.in_(list(dead_letter_ids)), DeadLetter.stage == "push", DeadLetter.status == "pending"))
        for row in rows:
            if row.ref and row.ref.isdigit():
                by_target[row.name].add(int(row.ref))
        for target, customer_ids in by_target.items():
            for state in session.scalars(select(SyncState).where(
                    SyncState.target == target, SyncState.customer_id.in_(customer_ids))):
                if state.status == "failed":
                    state.status, state.last_synced_at = "ok", None
                elif state.status == "gone":  # the resync: forget the vanished record, create it afresh
                    state.status, state.last_synced_at, state.external_id = "ok", None, None
                    state.snapshot, state.written_hash, state.remote_version = {}, None, None
    results = []
    for target, customer_ids in sorted(by_target.items()):
        with lease(hub.sessions, f"target:{target}"), recorded_run(hub.sessions, "replay", target, run_id) as result:
            push_target(hub, target, result, run_id=run_id, only=customer_ids)
        results.append(result)
    return results
