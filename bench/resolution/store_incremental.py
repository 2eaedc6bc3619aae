"""The incremental case through the real store: ``resolve_pending`` on a batch of new records against a resolved base.

    python -m bench.resolution.store_incremental [--base-entities 100000] [--batch 10000] [--url URL]

Loads a labelled base (≈2 records per entity) as contact records, resolves it (timed as the baseline: a full run),
then lands a batch of new records and resolves only those (timed: what each ``crmhub resolve`` after an ingest
costs). The ratio batch ÷ full, measured in the same run, is the figure to compare across machines. Quality counts
pairs that touch the batch. Default store: a fresh SQLite file in ``--workdir``; ``--url`` takes PostgreSQL.
Writes its table to ``bench/out/``. Never a test.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select

from .generate import COLUMNS, generate
from .metrics import pairwise_touching
from .run import OUT_DIR

ROLES = {"first_name": "given_name", "surname": "family_name", "dob": "birth_date"}


def _contact(row: dict[str, str]) -> dict[str, Any]:
    return {ROLES.get(k, k): v for k, v in row.items() if k in COLUMNS and k not in ("id", "entity") and v}


def _land(sessions: Any, rows: list[dict[str, str]]) -> None:
    from crm_core.db import transaction
    from crm_core.models import ContactRecord

    with transaction(sessions) as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(ContactRecord), [
                {"source": "bench", "source_key": row["id"], "normalized": _contact(row), "raw": {},
                 "email": row["email"] or None, "phone": row["phone"][:32] or None}
                for row in rows[start : start + 5000]
            ])


def _resolve(hub: Any) -> float:
    from crm_core.resolution import resolve_pending
    from crm_core.runs import StageResult

    gc.collect()
    start = time.perf_counter()
    resolve_pending(hub, StageResult("resolve", "customers"))
    return time.perf_counter() - start


def main() -> None:
    from crm_core.config import ResolutionConfig
    from crm_core.db import make_engine, session_factory, upgrade
    from crm_core.models import ContactRecord

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-entities", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--url", help="an empty database (default: a fresh SQLite file in --workdir)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crmhub-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    url = args.url
    if url is None:
        db = args.workdir / "store_incremental.db"
        db.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)
    hub = SimpleNamespace(sessions=session_factory(engine), config=SimpleNamespace(resolution=ResolutionConfig()))
    rows = list(generate(args.base_entities, seed=99))
    split = len(rows) - args.batch
    _land(hub.sessions, rows[:split])
    full = _resolve(hub)
    _land(hub.sessions, rows[split:])
    batch = _resolve(hub)
    with hub.sessions() as session:
        predicted = {key: str(cid) for key, cid in session.execute(select(ContactRecord.source_key, ContactRecord.customer_id))}
    truth = {row["id"]: row["entity"] for row in rows}
    scores = pairwise_touching(truth, predicted, {row["id"] for row in rows[split:]})
    engine.dispose()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        f"store incremental {stamp} on {engine.url.get_backend_name()}",
        "| base records | batch | full run of the base (s) | batch (s) | batch ÷ full | precision | recall | F1 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {split} | {len(rows) - split} | {full:.1f} | {batch:.1f} | {batch / full:.3f} | {scores.precision:.4f} | "
        f"{scores.recall:.4f} | {scores.f1:.4f} |",
    ]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"resolution-store-incremental-{stamp}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
