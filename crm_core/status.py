"""What the "CRM sync" page shows, computed from the hub database alone (no Airflow import, no Airflow database).

One call, ``hub_status``, returns plain JSON-ready data for every configured source and target: last run and
result, freshness against its schedule, records in/out over 24 hours and 7 days (with a per-day series for the
chart), failed records by error class, open conflicts; plus the review queue and channel effectiveness (contacts
per channel and the share of each day's new records that matched an existing customer).

Every query is an aggregate over an indexed column or a bounded window, so the page stays quick on a large hub.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .config import HubConfig
from .models import Conflict, ContactRecord, Customer, DeadLetter, Interaction, ReviewItem, RunStat, utcnow

PRESET_SECONDS = {"@hourly": 3600, "@daily": 86400, "@weekly": 7 * 86400, "@monthly": 31 * 86400,
                  "@yearly": 366 * 86400, "@continuous": 300}
_INTERVAL = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SERIES_DAYS = 7
MATCH_RATE_DAYS = 30


def expected_every(schedule: str | None) -> int | None:
    """Seconds between two scheduled runs, or None when the schedule has no period (manual, @once)."""
    if schedule is None or schedule == "@once":
        return None
    if schedule in PRESET_SECONDS:
        return PRESET_SECONDS[schedule]
    match = _INTERVAL.match(schedule)
    if match:
        return int(match[1]) * _UNIT_SECONDS[match[2]]
    from croniter import croniter

    it = croniter(schedule, datetime(2025, 1, 1))
    first = it.get_next(datetime)
    return int((it.get_next(datetime) - first).total_seconds())


def is_stale(age_seconds: float | None, every: int | None) -> bool:
    """Past its schedule: no success within one period plus a grace of 10% (at least a minute)."""
    if every is None:
        return False
    if age_seconds is None:
        return True
    return age_seconds > every + max(60, every // 10)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _last_run(session: Session, stage: str, name: str) -> RunStat | None:
    stmt = select(RunStat).where(RunStat.stage == stage, RunStat.name == name)
    return session.scalars(stmt.order_by(RunStat.started_at.desc(), RunStat.id.desc()).limit(1)).first()


def _run_json(row: RunStat | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "status": row.status,
        "run_id": row.run_id,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "records_in": row.records_in,
        "records_out": row.records_out,
        "records_failed": row.records_failed,
        "message": row.message,
    }


def _daily(session: Session, stage: str, name: str, now: datetime) -> list[dict[str, Any]]:
    """Per-day sums of the stage's runs over the last ``SERIES_DAYS`` days, oldest first, zero-filled."""
    start = (now - timedelta(days=SERIES_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = func.date(RunStat.started_at)
    rows = session.execute(
        select(day, func.sum(RunStat.records_in), func.sum(RunStat.records_out), func.sum(RunStat.records_failed))
        .where(RunStat.stage == stage, RunStat.name == name, RunStat.started_at >= start)
        .group_by(day)
    ).all()
    by_day = {str(d): (int(i or 0), int(o or 0), int(f or 0)) for d, i, o, f in rows}
    series = []
    for offset in range(SERIES_DAYS):
        key = (start + timedelta(days=offset)).date().isoformat()
        records_in, records_out, failed = by_day.get(key, (0, 0, 0))
        series.append({"day": key, "in": records_in, "out": records_out, "failed": failed})
    return series


def _window(session: Session, stage: str, name: str, since: datetime) -> tuple[int, int]:
    row = session.execute(
        select(func.coalesce(func.sum(RunStat.records_in), 0), func.coalesce(func.sum(RunStat.records_out), 0))
        .where(RunStat.stage == stage, RunStat.name == name, RunStat.started_at >= since)
    ).one()
    return int(row[0]), int(row[1])


def _flow(session: Session, kind: str, name: str, connector: str, schedule: str | None, enabled: bool,
          failed: dict[str, dict[str, int]], conflicts: dict[str, int], now: datetime) -> dict[str, Any]:
    stage = "ingest" if kind == "source" else "push"
    last = _last_run(session, stage, name)
    last_ok = session.scalar(
        select(func.max(RunStat.finished_at)).where(
            RunStat.stage == stage, RunStat.name == name, RunStat.status.in_(("success", "partial"))
        )
    )
    age = (now - last_ok).total_seconds() if last_ok is not None else None
    every = expected_every(schedule)
    in_24h, out_24h = _window(session, stage, name, now - timedelta(hours=24))
    in_7d, out_7d = _window(session, stage, name, now - timedelta(days=7))
    by_class = failed.get(name, {})
    return {
        "kind": kind,
        "name": name,
        "connector": connector,
        "schedule": schedule,
        "enabled": enabled,
        "dag_id": f"{'ingest' if kind == 'source' else 'push'}_{name}",
        "last_run": _run_json(last),
        "last_success_at": _iso(last_ok),
        "age_seconds": None if age is None else int(age),
        "expected_every_seconds": every,
        "stale": enabled and is_stale(age, every),
        "in_24h": in_24h,
        "out_24h": out_24h,
        "in_7d": in_7d,
        "out_7d": out_7d,
        "daily": _daily(session, stage, name, now),
        "failed_by_class": by_class,
        "failed_total": sum(by_class.values()),
        "open_conflicts": conflicts.get(name, 0),
    }


def failed_by_name(session: Session) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(DeadLetter.name, DeadLetter.error_class, func.count())
        .where(DeadLetter.status == "pending")
        .group_by(DeadLetter.name, DeadLetter.error_class)
    ).all()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for name, error_class, count in rows:
        out[name][error_class] = int(count)
    return out


def channel_stats(session: Session, config: HubConfig, now: datetime) -> dict[str, Any]:
    """Contacts and interactions per channel, and per day the share of new records that matched a customer.

    A record "matched" when its customer is backed by more than one contact record: the hub recognised someone it
    already knew instead of starting a new customer.
    """
    kinds = {s.name: s.kind for s in config.sources} | {t.name: t.kind for t in config.targets}
    contacts = session.execute(
        select(ContactRecord.source, func.count(), func.count(ContactRecord.customer_id)).group_by(ContactRecord.source)
    ).all()
    interactions = session.execute(select(Interaction.channel, func.count()).group_by(Interaction.channel)).all()
    per_customer = (
        select(ContactRecord.customer_id.label("customer_id"), func.count().label("records"))
        .where(ContactRecord.customer_id.is_not(None))
        .group_by(ContactRecord.customer_id)
        .subquery()
    )
    day = func.date(ContactRecord.created_at)
    since = (now - timedelta(days=MATCH_RATE_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    matched = func.sum(func.coalesce((per_customer.c.records > 1).cast(ContactRecord.id.type), 0))
    rate_rows = session.execute(
        select(day, ContactRecord.source, func.count(), matched)
        .select_from(ContactRecord)
        .outerjoin(per_customer, per_customer.c.customer_id == ContactRecord.customer_id)
        .where(ContactRecord.created_at >= since)
        .group_by(day, ContactRecord.source)
        .order_by(day)
    ).all()
    return {
        "contacts": [
            {"source": s, "connector": kinds.get(s, "?"), "records": int(n), "linked": int(linked)}
            for s, n, linked in sorted(contacts)
        ],
        "interactions": [{"channel": c, "count": int(n)} for c, n in sorted(interactions)],
        "match_rate": [
            {"day": str(d), "source": s, "records": int(n), "matched": int(m or 0),
             "rate": round(int(m or 0) / int(n), 3) if n else 0.0}
            for d, s, n, m in rate_rows
        ],
    }


def hub_status(session: Session, config: HubConfig, now: datetime | None = None) -> dict[str, Any]:
    """Everything the status page shows, as JSON-ready data."""
    now = now or utcnow()
    failed = failed_by_name(session)
    conflicts = dict(
        session.execute(
            select(Conflict.target, func.count()).where(Conflict.status == "open").group_by(Conflict.target)
        ).all()
    )
    flows = [_flow(session, "source", s.name, s.kind, s.schedule, s.enabled, failed, conflicts, now)
             for s in config.sources]
    flows += [_flow(session, "target", t.name, t.kind, t.schedule, t.enabled, failed, conflicts, now)
              for t in config.targets]
    resolve_last = _last_run(session, "resolve", "customers")
    return {
        "generated_at": now.isoformat(),
        "totals": {
            "customers": session.scalar(select(func.count()).select_from(Customer).where(Customer.status == "active")),
            "contact_records": session.scalar(select(func.count()).select_from(ContactRecord)),
            "interactions": session.scalar(select(func.count()).select_from(Interaction)),
            "failed_records": sum(sum(v.values()) for v in failed.values()),
            "open_conflicts": sum(conflicts.values()),
            "review_queue": session.scalar(
                select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")
            ),
        },
        "flows": flows,
        "resolution": {"last_run": _run_json(resolve_last), "failed_by_class": failed.get("customers", {})},
        "channels": channel_stats(session, config, now),
    }
