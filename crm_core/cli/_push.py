"""Outbound verbs: ``push TARGET [--dry-run]`` and ``conflicts list|resolve``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import add_command, open_hub, print_result


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(sub, "push", "sync changed customers with a target (--dry-run shows the plan)", cmd_push,
                    description="Three-way sync of changed customers with one target: push the hub's changes, "
                                "pull the target's edits back, queue conflicts the field policy holds.")
    p.add_argument("target", help="target name from hub.yaml")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (creates, updates by field, pulls, conflicts) without writing anything")
    p.add_argument("--run-id", help="label stored with the run's statistics")

    c = sub.add_parser("conflicts", help="list and resolve field conflicts",
                       description="Fields a conflict policy held for a person to decide.")
    csub = c.add_subparsers(dest="conflicts_command", metavar="ACTION", required=True)
    p = add_command(csub, "list", "list conflicts (open ones by default)", cmd_conflicts_list)
    p.add_argument("--target", help="only this target")
    p.add_argument("--status", default="open", choices=("open", "resolved", "applied"))
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_command(csub, "resolve", "decide one conflict; the next push of its target carries it out",
                    cmd_conflicts_resolve)
    p.add_argument("id", type=int, help="conflict id from `crmhub conflicts list`")
    p.add_argument("--take", required=True, choices=("ours", "theirs", "value"),
                   help="ours: push the hub's value; theirs: keep the target's and pull it in; value: push --value")
    p.add_argument("--value", help="the value to write to both sides (with --take value)")


def cmd_push(args: argparse.Namespace) -> int:
    from ..jobs import push

    hub = open_hub(args)
    result = push(hub, args.target, run_id=args.run_id, dry_run=args.dry_run)
    if args.dry_run:
        for line in result.detail.get("plan", []):
            print(describe(line))
        print("dry run: nothing was written")
    print_result(result)
    return 1 if result.records_failed and not result.records_out else 0


def describe(line: dict[str, Any]) -> str:
    """One plan line, field names only (values are personal data)."""
    parts = [f"{line['action']:<9} {line['hub_key']:<14}"]
    if line["push"]:
        parts.append("push " + ", ".join(line["push"]))
    if line["pull"]:
        parts.append("pull " + ", ".join(line["pull"]))
    if line["conflicts"]:
        parts.append("conflicts " + ", ".join(line["conflicts"]))
    return "  ".join(parts)


def cmd_conflicts_list(args: argparse.Namespace) -> int:
    from ..outbound import list_conflicts

    hub = open_hub(args)
    with hub.sessions() as session:
        rows = list_conflicts(session, target=args.target, status=args.status)
        items = [{"id": r.id, "customer_id": r.customer_id, "target": r.target, "field": r.field,
                  "policy": r.policy, "base": r.base, "ours": r.ours, "theirs": r.theirs, "status": r.status,
                  "resolution": json.loads(r.resolution) if r.resolution else None, "resolved_by": r.resolved_by}
                 for r in rows]
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return 0
    if not items:
        print(f"no {args.status} conflicts")
    for i in items:
        print(f"#{i['id']:<5} customer {i['customer_id']:<7} {i['target']:<12} {i['field']:<14} "
              f"base={_show(i['base'])}  hub={_show(i['ours'])}  target={_show(i['theirs'])}")
    return 0


def _show(value: Any) -> str:
    return "∅" if value in (None, "") else json.dumps(value, ensure_ascii=False)


def cmd_conflicts_resolve(args: argparse.Namespace) -> int:
    from ..db import transaction
    from ..outbound import resolve_conflict

    hub = open_hub(args)
    with transaction(hub.sessions) as session:
        row = resolve_conflict(session, args.id, args.take, args.value)
        target = row.target
    print(f"conflict #{args.id} resolved ({args.take}); `crmhub push {target}` carries it out")
    return 0
