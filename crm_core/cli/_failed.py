"""``crmhub failed list|replay``: the dead letter from the command line, with the same filters as the DAG and page."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from ..replay import ReplayFilter
from ._common import add_command, open_hub, print_result


def _when(value: str) -> datetime:
    """``2025-08-23``, ``2025-08-23T10:00``, or a relative ``24h`` / ``7d`` back from now; UTC unless given."""
    text = value.strip()
    if text[:-1].isdigit() and text[-1:] in "hd":
        return datetime.now(UTC) - timedelta(**{"hours" if text[-1] == "h" else "days": int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: use 2025-08-23, 2025-08-23T10:00, 24h or 7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", choices=("ingest", "map", "resolve", "push"), help="the stage that failed")
    p.add_argument("--source", "--target", dest="name", metavar="NAME", help="a source or target name")
    p.add_argument("--error-class", help="e.g. InvalidEmail, DUPLICATE_VALUE")
    p.add_argument("--since", type=_when, help="failed at or after (date, datetime, or 24h / 7d ago)")
    p.add_argument("--until", type=_when, help="failed before")
    p.add_argument("--id", dest="ids", type=int, action="append", default=[], help="a dead-letter id (repeatable)")
    p.add_argument("--limit", type=int, default=500, help="at most this many items (default 500)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    failed = sub.add_parser("failed", help="list and replay dead-letter records",
                            description="List and replay dead-letter records (records a stage could not process).")
    fsub = failed.add_subparsers(dest="failed_command", metavar="ACTION", required=True)
    p = add_command(fsub, "list", "list failed records matching the filters", cmd_list)
    _filters(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_command(fsub, "replay", "re-send failed records matching the filters through their stage", cmd_replay)
    _filters(p)


def _selection(args: argparse.Namespace) -> ReplayFilter:

    return ReplayFilter(stage=args.stage, name=args.name, error_class=args.error_class, since=args.since,
                        until=args.until, ids=tuple(args.ids), limit=args.limit)


def cmd_list(args: argparse.Namespace) -> int:
    from ..replay import list_failed

    hub = open_hub(args)
    with hub.sessions() as session:
        items = list_failed(session, _selection(args))
    rows = [{"id": i.id, "stage": i.stage, "name": i.name, "error_class": i.error_class, "attempts": i.attempts,
             "failed_at": i.updated_at.isoformat(), "error": i.error_message[:200]} for i in items]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("no failed records match")
    for r in rows:
        print(f"{r['id']:>7}  {r['stage']:<7} {r['name']:<16} {r['error_class']:<24} x{r['attempts']}  "
              f"{r['failed_at'][:19]}  {r['error']}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from ..replay import replay_failed

    hub = open_hub(args)
    selection = _selection(args)
    if not (selection.stage or selection.name or selection.error_class or selection.ids or selection.since):
        print("replaying every pending failed record (narrow with --stage/--source/--error-class/--id)")
    result = replay_failed(hub, selection, actor=None)
    print_result(result)
    return 0 if result.records_failed == 0 else 1
