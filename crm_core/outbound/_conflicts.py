"""The conflict queue: fields a ``manual`` (or undecidable ``fill_if_empty``) policy holds for a person.

A conflict goes ``open`` → ``resolved`` (a person chose: ours, theirs or a typed value) → ``applied`` (the next push
carried the decision out). One open row per (customer, target, field): a conflict still open on the next run is
refreshed, never duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import audit, current_actor
from ..errors import HubError
from ..models import Conflict, utcnow
from ._plan import Action, Decision, FieldPlan

TAKES = ("ours", "theirs", "value")


def queue_conflict(session: Session, customer_id: int, target: str, plan: FieldPlan) -> bool:
    """Open (or refresh) the conflict for one held field; True when a new row was opened."""
    row = session.scalars(
        select(Conflict).where(
            Conflict.customer_id == customer_id, Conflict.target == target, Conflict.field == plan.field,
            Conflict.status == "open",
        )
    ).first()
    if row is not None:
        row.base, row.ours, row.theirs, row.policy = plan.base, plan.ours, plan.theirs, plan.policy or "manual"
        return False
    session.add(Conflict(customer_id=customer_id, target=target, field=plan.field, base=plan.base, ours=plan.ours,
                         theirs=plan.theirs, policy=plan.policy or "manual"))
    return True


def decisions_for(
    session: Session, target: str, customer_ids: Iterable[int]
) -> dict[int, dict[str, tuple[Decision, int]]]:
    """Resolved, not yet applied decisions by customer and field, each with its conflict id."""
    ids = list(customer_ids)
    out: dict[int, dict[str, tuple[Decision, int]]] = {}
    if not ids:
        return out
    rows = session.scalars(
        select(Conflict).where(Conflict.target == target, Conflict.status == "resolved",
                               Conflict.customer_id.in_(ids)).order_by(Conflict.id)
    )
    for row in rows:
        choice = json.loads(row.resolution or "{}")
        decision = (Decision(Action.PULL) if choice.get("take") == "theirs"
                    else Decision(Action.PUSH, choice.get("value")))
        out.setdefault(row.customer_id, {})[row.field] = (decision, row.id)
    return out


def customers_with_decisions(session: Session, target: str) -> list[int]:
    return list(session.scalars(
        select(Conflict.customer_id).where(Conflict.target == target, Conflict.status == "resolved").distinct()))


def mark_applied(session: Session, conflict_ids: Sequence[int]) -> None:
    if not conflict_ids:  # the common case, once per synced record: no query
        return
    for row in session.scalars(select(Conflict).where(Conflict.id.in_(list(conflict_ids)))):
        row.status = "applied"


def list_conflicts(session: Session, target: str | None = None, status: str = "open") -> list[Conflict]:
    stmt = select(Conflict).where(Conflict.status == status).order_by(Conflict.id)
    if target:
        stmt = stmt.where(Conflict.target == target)
    return list(session.scalars(stmt))


def resolve_conflict(
    session: Session, conflict_id: int, take: str, value: Any = None, actor: str | None = None,
    run_id: str | None = None,
) -> Conflict:
    """Record a person's decision; the next push of that target carries it out. Audited."""
    if take not in TAKES:
        raise HubError(f"--take must be one of {', '.join(TAKES)}")
    row = session.get(Conflict, conflict_id)
    if row is None:
        raise HubError(f"no conflict {conflict_id}")
    if row.status != "open":
        raise HubError(f"conflict {conflict_id} is already {row.status}")
    if take == "value" and value is None:
        raise HubError("--take value needs --value")
    chosen = {"ours": row.ours, "value": value}.get(take)
    row.status = "resolved"
    row.resolution = json.dumps({"take": take, "value": chosen}, ensure_ascii=False)
    row.resolved_by = actor or current_actor()
    row.resolved_at = utcnow()
    audit(session, "conflict_resolved", "conflict", conflict_id,
          {"target": row.target, "field": row.field, "take": take, "customer_id": row.customer_id},
          actor=row.resolved_by, run_id=run_id)
    return row
