"""One bench pass: a fresh hub on SQLite, one target, three pushes, calls counted at the peer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ._hub import open_hub
from ._peers import Calls, Peer

PHASES = ("create", "update", "re-run")
GIVEN = ("Anna", "Wei", "Lucas", "Mia", "Oliver", "Li", "Emma", "Noah", "Fang", "Jonas")
FAMILY = ("Schmidt", "Zhang", "Smith", "Müller", "Wang", "Brown", "Fischer", "Li", "Taylor", "Weber")
PLACES = (("Berlin", "10115", "DE"), ("London", "SW1A 1AA", "GB"), ("Boston", "02108", "US"), ("北京", "100000", "CN"))
TITLES = ("Einkauf", "Buyer", "CTO", "采购经理")

HUB_YAML = """\
version: 1
targets:
  - name: bench
    kind: {kind}
    mapping: builtin:targets/{map_name}
    connection_id: bench_target
    conflict_policy: {{default: manual}}
    options: {options}
"""


@dataclass
class PhaseResult:
    phase: str
    calls: Calls
    records_out: int
    failed: int


def golden(i: int) -> dict[str, Any]:
    given, family = GIVEN[i % len(GIVEN)], FAMILY[(i // len(GIVEN)) % len(FAMILY)]
    city, postcode, country = PLACES[i % len(PLACES)]
    return {
        "given_name": given, "family_name": family, "full_name": f"{given} {family}",
        "email": f"{given}.{family}.{i}@example.com".lower(), "phone": f"+49302{i:07d}",
        "city": city, "postcode": postcode, "country": country, "title": TITLES[i % len(TITLES)],
        "language": "de" if country == "DE" else "en",
        "consent": {"email_marketing": i % 2 == 0}, "tags": ["vip"] if i % 3 == 0 else [],
    }


def changed(record: dict[str, Any], i: int) -> dict[str, Any]:
    """Every customer changes fields every target maps: name, phone (and the title where a target has one)."""
    given = f"{record['given_name']}-{i % 5}"
    return {**record, "given_name": given, "full_name": f"{given} {record['family_name']}",
            "phone": f"+49303{i % 10_000_000:07d}", "title": f"{record['title']} ({i % 7})"}


def measure(peer: Peer, workdir: Path, customers: int, first_id: int, batch_size: int | None) -> list[PhaseResult]:
    """Push ``customers`` new customers, then an update of each, then nothing; per phase the calls that reached the
    peer. ``batch_size`` 1 is the one-call-per-record baseline."""
    from crm_core.db import transaction
    from crm_core.models import Customer

    workdir.mkdir(parents=True, exist_ok=True)
    peer.start(workdir)
    try:
        os.environ["AIRFLOW_CONN_BENCH_TARGET"] = json.dumps(peer.connection())
        hub = open_hub(workdir / "home", HUB_YAML.format(kind=peer.kind, map_name=peer.map_name,
                                                         options=json.dumps(peer.options)))
        try:
            from connectors import build_destination

            destination = build_destination(hub.config.target("bench"), hub)
            peer.instrument(destination)
            if batch_size is not None:
                destination.batch_size = batch_size
            with transaction(hub.sessions) as session:
                session.add_all(Customer(id=first_id + i, golden=golden(i)) for i in range(customers))
            results = []
            for phase in PHASES:
                if phase == "update":
                    with transaction(hub.sessions) as session:
                        for customer in session.scalars(select(Customer)):
                            customer.golden = changed(customer.golden, customer.id)
                            customer.version += 1
                before = peer.calls()
                result = _push(hub, destination)
                results.append(PhaseResult(phase, peer.calls() - before, result.records_out, result.records_failed))
            return results
        finally:
            hub.close()
    finally:
        peer.stop()


def _push(hub: Any, destination: Any) -> Any:
    """``crm_core.jobs.push`` with the instrumented destination handed in."""
    from crm_core.outbound import push_target
    from crm_core.runs import lease, recorded_run

    with lease(hub.sessions, "target:bench"), recorded_run(hub.sessions, "push", "bench", None) as result:
        push_target(hub, "bench", result, destination=destination)
    return result
