"""Replaying the dead letter: choose failed items by filter and re-send them through their stage.

The same selection serves ``crmhub failed list|replay``, the ``replay_failed`` DAG (its typed params) and the
"CRM sync" page (its links), so what a person sees listed is exactly what gets re-sent.

How each stage replays:

- ``map``: the landing row (``ref``) goes back to ``new`` and the source is mapped again. Success resolves the
  item; a second failure updates the same pending item (one more attempt, the new error).
- ``resolve``: the contact record (``ref``) is marked unresolved and resolution runs again.
- ``push``: handed to the outbound area's ``crm_core.outbound.replay_push``, which plans again from the golden
  record and the target as they are now (an old value is never re-sent over a newer one).
- ``ingest``: a source cannot re-read one record; its whole run is repeated from the stored cursor, which is
  idempotent.

An item counts as succeeded only when its stage, re-run, left it no longer pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from .audit import audit
from .db import transaction
from .errors import HubError
from .models import ContactRecord, DeadLetter, LandingRecord, utcnow
from .runs import StageResult, recorded_run

STAGES = ("ingest", "map", "resolve", "push")


@dataclass(frozen=True)
class ReplayFilter:
    """Which dead-letter items: every field narrows the selection; an empty filter means all pending items."""

    stage: str | None = None
    name: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[int, ...] = ()
    limit: int = 500
    statuses: tuple[str, ...] = ("pending",)

    def __post_init__(self) -> None:
        if self.stage is not None and self.stage not in STAGES:
            raise HubError(f"unknown stage {self.stage!r}; use one of {', '.join(STAGES)}")
        for label, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.tzinfo is None:
                raise HubError(f"{label} needs a time zone (e.g. 2025-08-23T00:00:00+00:00)")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReplayFilter:
        """Build from the ``replay_failed`` DAG's params (ISO strings, empty values meaning "any")."""

        def when(key: str) -> datetime | None:
            value = params.get(key)
            if not value:
                return None
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.now().astimezone().tzinfo)

        return cls(
            stage=params.get("stage") or None,
            name=params.get("name") or None,
            error_class=params.get("error_class") or None,
            since=when("since"),
            until=when("until"),
            ids=tuple(int(i) for i in params.get("ids") or ()),
            limit=int(params.get("limit") or 500),
        )

    def statement(self) -> Select[tuple[DeadLetter]]:
        stmt = select(DeadLetter).where(DeadLetter.status.in_(self.statuses))
        if self.stage:
            stmt = stmt.where(DeadLetter.stage == self.stage)
        if self.name:
            stmt = stmt.where(DeadLetter.name == self.name)
        if self.error_class:
            stmt = stmt.where(DeadLetter.error_class == self.error_class)
        if self.since:
            stmt = stmt.where(DeadLetter.updated_at >= self.since)
        if self.until:
            stmt = stmt.where(DeadLetter.updated_at < self.until)
        if self.ids:
            stmt = stmt.where(DeadLetter.id.in_(self.ids))
        return stmt.order_by(DeadLetter.id).limit(self.limit)


def list_failed(session: Session, selection: ReplayFilter) -> list[DeadLetter]:
    return list(session.scalars(selection.statement()))


@dataclass
class _Plan:
    """The selected items grouped by what must be re-run for them."""

    by_stage: dict[tuple[str, str], list[DeadLetter]] = field(default_factory=dict)

    def add(self, item: DeadLetter) -> None:
        self.by_stage.setdefault((item.stage, item.name), []).append(item)


def replay_failed(
    hub: Any, selection: ReplayFilter, run_id: str | None = None, actor: str | None = None
) -> StageResult:
    """Re-send the selected items; ``records_out`` counts those that now succeeded, ``records_failed`` the rest."""
    from . import jobs

    with hub.sessions() as session:
        items = list_failed(session, selection)
    plan = _Plan()
    for item in items:
        plan.add(item)
    with recorded_run(hub.sessions, "replay", selection.name or "all", run_id) as result:
        result.records_in = len(items)
        for (stage, name), group in sorted(plan.by_stage.items()):
            ids = [i.id for i in group]
            if stage == "map":
                _reopen_landing(hub, group)
                jobs.map_landed(hub, source=name, run_id=run_id)
            elif stage == "resolve":
                _reopen_contacts(hub, group)
                jobs.resolve(hub, run_id=run_id)
            elif stage == "push":
                _replay_push(hub, name, group, run_id)
            elif stage == "ingest":
                jobs.ingest(hub, name, run_id=run_id)
            _settle(hub, stage, group)
            with transaction(hub.sessions) as session:
                audit(session, "replay", "dead_letter", f"{stage}:{name}", {"ids": ids}, actor=actor, run_id=run_id)
        with hub.sessions() as session:
            still = session.scalars(
                select(DeadLetter.id).where(DeadLetter.id.in_([i.id for i in items]), DeadLetter.status == "pending")
            ).all()
        result.records_failed = len(still)
        result.records_out = len(items) - len(still)
        result.detail["still_failing_ids"] = ",".join(str(i) for i in still[:50])
    return result


def _refs(group: Iterable[DeadLetter]) -> list[int]:
    return [int(i.ref) for i in group if i.ref is not None and str(i.ref).isdigit()]


def _reopen_landing(hub: Any, group: Sequence[DeadLetter]) -> None:
    with transaction(hub.sessions) as session:
        session.execute(
            update(LandingRecord).where(LandingRecord.id.in_(_refs(group))).values(status="new", error=None)
        )


def _reopen_contacts(hub: Any, group: Sequence[DeadLetter]) -> None:
    with transaction(hub.sessions) as session:
        session.execute(update(ContactRecord).where(ContactRecord.id.in_(_refs(group))).values(resolved_version=0))


def _replay_push(hub: Any, target: str, group: Sequence[DeadLetter], run_id: str | None) -> None:
    """Hand push items to the outbound area, which plans again from today's golden record and target values."""
    from . import outbound

    replay_push = getattr(outbound, "replay_push", None)
    if replay_push is None:
        raise HubError(
            f"re-sending pushes to {target} is not available in this version yet; the items stay in the dead letter"
        )
    replay_push(hub, [i.id for i in group], run_id=run_id)


def _settle(hub: Any, stage: str, group: Sequence[DeadLetter]) -> None:
    """Mark items resolved when their record went through this time (the stage did not re-file them)."""
    with transaction(hub.sessions) as session:
        now = utcnow()
        for item in group:
            fresh = session.get(DeadLetter, item.id)
            if fresh is None or fresh.status != "pending":
                continue
            ref = int(fresh.ref) if fresh.ref and fresh.ref.isdigit() else None
            if stage == "map":  # without its landing row there is nothing to re-map: it stays pending
                landing = session.get(LandingRecord, ref) if ref is not None else None
                done = landing is not None and landing.status == "mapped"
            elif stage == "resolve":
                contact = session.get(ContactRecord, ref) if ref is not None else None
                done = contact is not None and contact.resolved_version >= contact.version
            else:
                # push / ingest: the stage re-files a failure by updating this pending item; untouched means done
                done = fresh.updated_at == item.updated_at and fresh.attempts == item.attempts
            if done:
                fresh.status, fresh.updated_at = "replayed", now
