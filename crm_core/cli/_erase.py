"""``crmhub erase``: right to erasure; ``crmhub retention``: expire old dead-letter payloads."""

from __future__ import annotations

import argparse

from ..errors import HubError
from ._common import add_command, open_hub


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub, "erase", "erase a person's data everywhere and keep them suppressed", cmd_erase,
        description="Remove a person's personal data from the hub, delete them at every target that supports it, "
        "and suppress their e-mail/phone so no later ingest, replay or backfill brings them back. Running it again "
        "retries targets that failed.",
    )
    p.add_argument("--email", help="the person's e-mail address")
    p.add_argument("--phone", help="the person's phone number (+country code, or give --region)")
    p.add_argument("--region", help="ISO country code for a phone number written without +, e.g. CN")
    p.add_argument("--run-id", help="label stored with the audit entry")
    p = add_command(
        sub, "retention", "apply the retention: drop dead-letter payloads older than dead_letter_retention_days",
        cmd_retention,
    )
    p.add_argument("--rotate-keys", action="store_true",
                   help="also re-encrypt stored payloads with the first key of HUB_SECRET_KEY")


def cmd_erase(args: argparse.Namespace) -> int:
    from ..erasure import run_erasure

    if not args.email and not args.phone:
        raise HubError("give --email or --phone (or both)")
    hub = open_hub(args)
    report = run_erasure(hub, email=args.email, phone=args.phone, region=args.region, run_id=args.run_id)
    removed = ", ".join(f"{k} {v}" for k, v in report.removed.items() if v)
    print(f"erasure {report.erasure_id}: {report.customers} customer(s) erased; {removed or 'nothing else found'}")
    for name, receipt in report.target_receipts.items():
        extra = f" ({receipt.get('error') or receipt.get('note')})" if receipt.get("error") or receipt.get("note") else ""
        print(f"  target {name}: {receipt['status']}, {receipt.get('requested', 0)} requested{extra}")
    if not report.complete:
        print("some targets did not confirm the deletion; run the same command again to retry them")
        return 1
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from ..db import transaction
    from ..dead_letter import expire_dead_letters, rotate_dead_letter_keys

    hub = open_hub(args)
    with transaction(hub.sessions) as session:
        expired = expire_dead_letters(session, hub.config.dead_letter_retention_days)
        rotated = rotate_dead_letter_keys(session) if args.rotate_keys else 0
    print(f"dead letter: {expired} payload(s) expired after {hub.config.dead_letter_retention_days} days"
          + (f", {rotated} re-encrypted with the current key" if args.rotate_keys else ""))
    return 0
