"""Outbound sync: golden customers to targets and the targets' edits back, field by field, three-way.

``push_target`` is what ``crm_core.jobs.push`` (CLI and Airflow) calls; ``replay_push`` re-sends dead-lettered push
items; the planner (``plan_record``, ``plan_field``) is pure and usable on its own.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..records import Destination
from ._conflicts import list_conflicts, resolve_conflict
from ._plan import POLICIES, Action, Decision, FieldPlan, RecordPlan, plan_field, plan_record
from ._replay import replay_push


def push_target(
    hub: Any,
    target: str,
    result: Any,
    run_id: str | None = None,
    dry_run: bool = False,
    *,
    destination: Destination | None = None,
    only: Collection[int] | None = None,
) -> None:
    """Sync one target; fills ``result`` (a ``StageResult``). ``destination`` overrides the configured connector
    (tests, other callers); ``only`` limits the run to these customers (replay)."""
    from ._engine import PushRun

    if destination is None:
        from connectors import build_destination

        destination = build_destination(hub.config.target(target), hub)
    PushRun(hub, target, result, destination, run_id=run_id, dry_run=dry_run, only=only).run()


__all__ = [
    "POLICIES",
    "Action",
    "Decision",
    "FieldPlan",
    "RecordPlan",
    "list_conflicts",
    "plan_field",
    "plan_record",
    "push_target",
    "replay_push",
    "resolve_conflict",
]
