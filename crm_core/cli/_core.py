"""Set-up and the main job: ``init``, ``db``, ``sync``, ``status``."""

from __future__ import annotations

import argparse
import json

from sqlalchemy import func, select

from ..config import load_config
from ..db import current_revisions, head_revisions, upgrade
from ..hub import Hub, database_url, hub_home, init_home
from ._common import add_command, open_hub


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(sub, "init", "create the hub home with a sample hub.yaml and an up-to-date database", cmd_init)
    p.add_argument("--force", action="store_true", help="overwrite an existing hub.yaml with the sample")

    db = sub.add_parser("db", help="database schema: upgrade, current", description="Manage the hub database schema.")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    add_command(dbsub, "upgrade", "apply all migrations to the hub database", cmd_db_upgrade)
    add_command(dbsub, "current", "show the database's schema revision and the code's", cmd_db_current)

    p = add_command(
        sub, "sync", "run the main job once: ingest every source, map, resolve, push every target", cmd_sync
    )
    p.add_argument("--run-id", help="label stored with the run's statistics")

    p = add_command(sub, "status", "counts per table and the last run of each source and target", cmd_status)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_init(args: argparse.Namespace) -> int:
    home = hub_home(args.home)
    path = init_home(home, force=args.force)
    print(f"hub home ready: {path}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    home = hub_home(args.home)
    url = database_url(home, load_config(home / "hub.yaml"))
    upgrade(url)
    print(f"database at {', '.join(sorted(current_revisions(url)))}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    home = hub_home(args.home)
    url = database_url(home, load_config(home / "hub.yaml"))
    current, heads = current_revisions(url), head_revisions()
    print(f"database: {', '.join(sorted(current)) or '(empty)'}")
    print(f"code:     {', '.join(sorted(heads))}")
    return 0 if current == heads else 1


def cmd_sync(args: argparse.Namespace) -> int:
    from ..jobs import sync

    hub = open_hub(args)
    results = sync(hub, run_id=args.run_id, progress=print)
    return 1 if any(r.records_failed for r in results) and not any(r.records_out for r in results) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..models import (
        Conflict,
        ContactRecord,
        Customer,
        DeadLetter,
        Interaction,
        LandingRecord,
        ReviewItem,
        RunStat,
    )

    hub: Hub = open_hub(args)
    with hub.sessions() as session:
        counts = {
            "landed": session.scalar(select(func.count()).select_from(LandingRecord)),
            "contact_records": session.scalar(select(func.count()).select_from(ContactRecord)),
            "customers": session.scalar(
                select(func.count()).select_from(Customer).where(Customer.status == "active")
            ),
            "interactions": session.scalar(select(func.count()).select_from(Interaction)),
            "open_reviews": session.scalar(
                select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")
            ),
            "open_conflicts": session.scalar(
                select(func.count()).select_from(Conflict).where(Conflict.status == "open")
            ),
            "failed_records": session.scalar(
                select(func.count()).select_from(DeadLetter).where(DeadLetter.status == "pending")
            ),
        }
        last_ids = select(func.max(RunStat.id)).group_by(RunStat.stage, RunStat.name)
        runs = list(session.scalars(select(RunStat).where(RunStat.id.in_(last_ids)).order_by(RunStat.stage)))
    if args.json:
        out = {
            "counts": counts,
            "last_runs": [
                {
                    "stage": r.stage,
                    "name": r.name,
                    "status": r.status,
                    "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                    "records_in": r.records_in,
                    "records_out": r.records_out,
                    "records_failed": r.records_failed,
                }
                for r in runs
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"database: {hub.url_for_display}")
    for key, value in counts.items():
        print(f"  {key:<16} {value}")
    for r in runs:
        when = f"{r.finished_at:%Y-%m-%d %H:%M}" if r.finished_at else "running"
        print(f"  {r.stage:<8} {r.name:<20} {r.status:<8} {when}  in {r.records_in} out {r.records_out} "
              f"failed {r.records_failed}")
    return 0
