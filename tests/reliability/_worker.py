"""A real worker process for the fault tests: lands a deterministic in-test source the way ``jobs.ingest`` does.

    python -m tests.reliability._worker DB_URL SOURCE RECORDS BATCH [--gate FILE] [--ttl SECONDS]

It takes the source's lease, records a run and lands ``RECORDS`` records in batches of ``BATCH`` from the stored
cursor (an ordered source: the cursor is the next offset). With ``--gate``, after each committed batch it waits
until FILE exists, so a test can act (start a rival, restart the database) while the run is mid-way. Exit codes:
0 done, 3 lease refused, 1 anything else; SIGKILL (via ``HUB_FAULT_POINT``) shows as -9 to the parent.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from crm_core.db import make_engine, session_factory
from crm_core.errors import LeaseHeld
from crm_core.landing import land_stream
from crm_core.records import Batch, SourceRecord
from crm_core.runs import lease, recorded_run


def record(i: int) -> SourceRecord:
    return SourceRecord(key=f"msg-{i:05d}", payload={"from": f"user{i}@example.test", "subject": f"order {i}"})


def batches(total: int, size: int, gate: Path | None) -> Any:
    def read(cursor: dict[str, Any] | None) -> Iterator[Batch]:
        start = int((cursor or {}).get("offset", 0))
        for lo in range(start, total, size):
            hi = min(lo + size, total)
            yield Batch([record(i) for i in range(lo, hi)], {"offset": hi})
            if gate is not None and hi < total:
                deadline = time.monotonic() + 60
                while not gate.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)

    return read


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("source")
    p.add_argument("records", type=int)
    p.add_argument("batch", type=int)
    p.add_argument("--gate", type=Path)
    p.add_argument("--ttl", type=float, default=3600)
    args = p.parse_args(argv)
    sessions = session_factory(make_engine(args.url))
    try:
        with lease(sessions, f"source:{args.source}", ttl=timedelta(seconds=args.ttl)), recorded_run(
            sessions, "ingest", args.source
        ) as result:
            landed = land_stream(sessions, args.source, batches(args.records, args.batch, args.gate))
            result.records_in, result.records_out = landed.received, landed.landed
    except LeaseHeld as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 3
    print(f"landed {landed.landed} of {landed.received}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
