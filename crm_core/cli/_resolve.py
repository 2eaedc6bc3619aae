"""Resolution verbs: ``resolve``, ``dedupe``, ``customers``, ``review``, ``merge``, ``unmerge``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ..db import transaction
from ..errors import HubError
from ._common import add_command, open_hub, print_result


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(sub, "resolve", "match new and changed records to customers", cmd_resolve)
    p.add_argument("--run-id", help="label stored with the run's statistics")

    p = add_command(
        sub, "dedupe", "deduplicate or link CSV files; writes record_id,customer_id", cmd_dedupe,
        description="Deduplicate one CSV file, or link several and deduplicate within each. Columns map to roles "
        "by their headers unless given with --field. Needs no hub home, configuration or labels.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE.csv")
    p.add_argument("--id-column", required=True, help="the column that identifies a row")
    p.add_argument("--field", action="append", default=[], metavar="ROLE=COLUMN",
                   help="map a column to a role (given_name, family_name, email, phone, birth_date, ...)")
    p.add_argument("--out", type=Path, help="output CSV (default: standard output)")
    p.add_argument("--threshold", type=float, default=None, help="match probability to link at (default 0.9)")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="processes comparing candidate pairs (default: all CPUs; 1 = no extra processes)")

    customers = sub.add_parser("customers", help="list, show and explain customers (--why)",
                               description="List customers, show a golden record, and explain it with --why.")
    csub = customers.add_subparsers(dest="customers_command", metavar="ACTION", required=True)
    p = add_command(csub, "list", "list active customers", cmd_customers_list)
    p.add_argument("--limit", type=int, default=50)
    p = add_command(csub, "show", "show one customer's golden record", cmd_customers_show)
    p.add_argument("customer_id", type=int)
    p.add_argument("--why", action="store_true", help="also show where each value came from and why records link")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    review = sub.add_parser("review", help="work the review queue: list, accept, reject",
                            description="Pairs scored between the thresholds wait here for a person.")
    rsub = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    p = add_command(rsub, "list", "open review items, highest score first", cmd_review_list)
    p.add_argument("--limit", type=int, default=50)
    for verb, text in (("accept", "the record is that customer: merge"), ("reject", "not the same person")):
        p = add_command(rsub, verb, text, cmd_review_decide)
        p.add_argument("item_id", type=int)

    p = add_command(sub, "merge", "merge customer B into customer A (reversible with unmerge)", cmd_merge)
    p.add_argument("survivor", type=int, metavar="A")
    p.add_argument("absorbed", type=int, metavar="B")
    p = add_command(sub, "unmerge", "take a record (and what came with it) out of a customer", cmd_unmerge)
    p.add_argument("customer_id", type=int, metavar="CUSTOMER")
    p.add_argument("record_id", type=int, metavar="RECORD")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def cmd_resolve(args: argparse.Namespace) -> int:
    from ..jobs import resolve

    print_result(resolve(open_hub(args), args.run_id))
    return 0


def cmd_dedupe(args: argparse.Namespace) -> int:
    from ..resolution import Thresholds, dedupe_files

    fields: dict[str, str] = {}
    for item in args.field:
        role, sep, column = item.partition("=")
        if not sep or not role or not column:
            raise HubError(f"--field {item!r}: expected ROLE=COLUMN")
        fields[role.strip()] = column.strip()
    thresholds = Thresholds(args.threshold, args.threshold) if args.threshold is not None else None
    result = dedupe_files(args.files, args.id_column, fields, out=args.out, thresholds=thresholds,
                          workers=args.workers)
    if args.out is None:
        print("record_id,customer_id")
        for record_id, customer_id in result.rows:
            print(f"{record_id},{customer_id}")
    roles = ", ".join(f"{r}={c}" for r, c in sorted(result.roles.items()))
    print(f"{len(result.rows)} rows, {result.customers} customers ({roles})", file=sys.stderr)
    return 0


def cmd_customers_list(args: argparse.Namespace) -> int:
    from ..models import ContactRecord, Customer

    hub = open_hub(args)
    with hub.sessions() as session:
        rows = list(session.scalars(
            select(Customer).where(Customer.status == "active").order_by(Customer.id).limit(args.limit)
        ))
        # count only the shown customers' records: a full GROUP BY would read the whole table for one page.
        # (A Result has .keys(), so dict(result) would take it for a mapping; build the dict from the rows.)
        counted = session.execute(
            select(ContactRecord.customer_id, func.count())
            .where(ContactRecord.customer_id.in_([c.id for c in rows]))
            .group_by(ContactRecord.customer_id)
        )
        counts = {customer_id: n for customer_id, n in counted}
        for c in rows:
            g = c.golden
            name = g.get("full_name") or " ".join(x for x in (g.get("given_name"), g.get("family_name")) if x)
            print(f"{c.id:>8}  {name or '-':<30} {g.get('email') or '-':<32} {g.get('phone') or '-':<16} "
                  f"{_records(counts.get(c.id, 0))}")
    return 0


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def cmd_customers_show(args: argparse.Namespace) -> int:
    from ..resolution import explain_customer

    hub = open_hub(args)
    with hub.sessions() as session:
        info = explain_customer(session, args.customer_id)
    if args.json:
        print(json.dumps(info if args.why else {k: info[k] for k in ("id", "status", "version", "golden")},
                         ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"customer {info['id']} ({info['status']}{' into ' + str(info['merged_into']) if info['merged_into'] else ''}"
          f", version {info['version']})")
    for field, value in info["golden"].items():
        line = f"  {field:<14} {value}"
        if args.why and field in info["provenance"]:
            line += f"   <- {_provenance(info['provenance'][field])}"
        print(line)
    if args.why:
        print("linked records:")
        for r in info["records"]:
            print(f"  record {r['id']} {r['source']}:{r['source_key']}  {_evidence(r['evidence'])}")
        if info["events"]:
            print("events:")
            for e in info["events"]:
                undone = f", undone by {e['undone_by']}" if e["undone_by"] else ""
                print(f"  #{e['id']} {e['kind']} {e['absorbed']} -> {e['survivor']} by {e['actor']}{undone}")
    return 0


def _provenance(p: dict[str, Any]) -> str:
    if "record" in p:
        return f"record {p['record']} ({p.get('source')}), {p.get('rule')}"
    return str(p.get("rule"))


def _evidence(e: dict[str, Any] | None) -> str:
    if not e:
        return "(not resolved yet)"
    if e.get("rule") in ("new", "kept") or "with_record" not in e:
        return f"{e.get('rule')}"
    parts = ", ".join(f"{k} {v['level']} ({v['bits']:+})" for k, v in (e.get("comparisons") or {}).items())
    return f"{e['rule']} with record {e['with_record']}, score {e.get('score')}: {parts}"


def cmd_review_list(args: argparse.Namespace) -> int:
    from ..models import ReviewItem

    hub = open_hub(args)
    with hub.sessions() as session:
        items = session.scalars(
            select(ReviewItem).where(ReviewItem.status == "open").order_by(ReviewItem.score.desc(), ReviewItem.id)
            .limit(args.limit)
        )
        shown = 0
        for item in items:
            shown += 1
            print(f"{item.id:>6}  record {item.contact_record_id} ~ customer {item.candidate_customer_id}  "
                  f"score {item.score:.3f}  {_evidence(item.evidence)}")
    if not shown:
        print("the review queue is empty")
    return 0


def cmd_review_decide(args: argparse.Namespace) -> int:
    from ..resolution import decide_review

    hub = open_hub(args)
    with transaction(hub.sessions) as session:
        item = decide_review(session, args.item_id, args.review_command == "accept", hub.config.resolution)
        print(f"review item {item.id} {item.status}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from ..resolution import merge_customers

    hub = open_hub(args)
    with transaction(hub.sessions) as session:
        event = merge_customers(session, args.survivor, args.absorbed, hub.config.resolution)
        print(f"customer {args.absorbed} merged into {args.survivor} (event {event.id}; undo with "
              f"`crmhub unmerge {args.survivor} RECORD`)")
    return 0


def cmd_unmerge(args: argparse.Namespace) -> int:
    from ..resolution import unmerge_record

    hub = open_hub(args)
    with transaction(hub.sessions) as session:
        event = unmerge_record(session, args.customer_id, args.record_id, hub.config.resolution)
        print(f"records {event.record_ids} moved from customer {args.customer_id} to {event.absorbed_id}")
    return 0
