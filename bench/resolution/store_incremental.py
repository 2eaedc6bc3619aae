"""The incremental case through the real store: ``resolve_pending`` on a batch of new records against a resolved base.

    python -m bench.resolution.store_incremental [--base-entities 100000] [--batch 10000] [--url URL]
    python -m bench.resolution.store_incremental --seed /tmp/crmhub-bench/seed-500k.db --base-entities 500000
    python -m bench.resolution.store_incremental --from-seed /tmp/crmhub-bench/seed-500k.db --base-entities 500000

Loads a labelled base (≈2 records per entity) as contact records, resolves it (timed as the baseline: a full run),
then lands a batch of new records and resolves only those (timed: what each ``crmhub resolve`` after an ingest
costs). The ratio batch ÷ full, measured in the same run, is the figure to compare across machines. Quality counts
pairs that touch the batch. Default store: a fresh SQLite file in ``--workdir``; ``--url`` takes PostgreSQL.
Writes its table to ``bench/out/``. Never a test.

At 1M records the full run alone takes minutes, so ``--seed`` writes a resolved base once into a SQLite file,
the way the in-memory bench stands in for the store: one customer per labelled entity (its golden record built by
survivorship), each record's profile and keys written by the store's own ``write_index``, and a model estimated by
EM on 20,000 base records. ``--from-seed`` copies that file (untimed), lands the batch and times its resolution;
the baseline is then a fixed CPU workload timed in the same run (``_calibration``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pickle
import shutil
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


def _resolve(hub: Any, profile: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one ``resolve_pending``; ``profile`` writes cProfile stats."""
    from crm_core.resolution import resolve_pending
    from crm_core.runs import StageResult

    profiler = cProfile.Profile() if profile is not None else None
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    resolve_pending(hub, StageResult("resolve", "customers"))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    return time.perf_counter() - start, time.process_time() - cpu


def _rows(entities: int, workdir: Path) -> list[dict[str, str]]:
    """The labelled rows (seed 99), kept in ``workdir`` as a pickle: generating 1M rows takes minutes."""
    cache = workdir / f"rows-{entities}-99.pickle"
    if cache.exists():
        with cache.open("rb") as fh:
            rows: list[dict[str, str]] = pickle.load(fh)  # our own file, written below
            return rows
    rows = list(generate(entities, seed=99))
    with cache.open("wb") as fh:
        pickle.dump(rows, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return rows


def _calibration(rows: list[dict[str, str]]) -> float:
    """A fixed CPU-bound workload, timed in the same run as the batch: the baseline when the base was seeded.

    Profiles and keys of the batch, five times over: pure Python like most of a batch's cost, so the ratio batch ÷
    calibration stays comparable when the shared machine is loaded differently.
    """
    from crm_core.resolution import build_profile
    from crm_core.resolution._blocking import blocking_keys

    contacts = [_contact(row) for row in rows]
    gc.collect()
    start = time.perf_counter()
    for _ in range(5):
        for contact in contacts:
            blocking_keys(build_profile(contact))
    return time.perf_counter() - start


def _seed(path: Path, rows: list[dict[str, str]], split: int) -> None:
    """A resolved base in a fresh SQLite file (see the module docstring); the batch rows are not landed."""
    from crm_core.config import ResolutionConfig
    from crm_core.db import make_engine, session_factory, transaction, upgrade
    from crm_core.models import ContactRecord, Customer, ResolutionParam
    from crm_core.resolution import Matcher, MatchModel, MatchRecord, Thresholds, build_profile
    from crm_core.resolution._golden import build_golden
    from crm_core.resolution._store import key_policy, write_index

    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    config = ResolutionConfig()
    base = rows[:split]
    customer_of: dict[str, int] = {}
    for row in base:
        customer_of.setdefault(row["entity"], len(customer_of) + 1)
    now = datetime.now(UTC)
    records = [SimpleNamespace(id=n, source="bench", normalized=_contact(row), observed_at=now)
               for n, row in enumerate(base, start=1)]
    members: dict[int, list[Any]] = {}
    for record, row in zip(records, base, strict=True):
        members.setdefault(customer_of[row["entity"]], []).append(record)
    started = time.perf_counter()
    sample = [MatchRecord(n, build_profile(records[n - 1].normalized)) for n in range(1, min(split, 20_000) + 1)]
    trainer = Matcher(MatchModel(), Thresholds(), key_policy(config))
    trainer.run(sample, estimate=True)
    with transaction(sessions) as session:
        session.add(ResolutionParam(name="model", value=trainer.model.as_dict()))
        for start in range(0, len(customer_of), 20_000):
            part = range(start + 1, min(start + 20_001, len(customer_of) + 1))
            goldens = [build_golden(members[cid], config) for cid in part]
            session.execute(insert(Customer), [
                {"id": cid, "golden": golden, "provenance": provenance, "version": 1}
                for cid, (golden, provenance) in zip(part, goldens, strict=True)
            ])
    print(f"seed: {len(customer_of)} customers in {time.perf_counter() - started:.0f} s", flush=True)
    for start in range(0, split, 20_000):
        with transaction(sessions) as session:
            # a big page cache for this connection: the key index's B-tree no longer spills on every insert
            session.connection().exec_driver_sql("PRAGMA cache_size=-2000000")
            part_rows = base[start : start + 20_000]
            session.execute(insert(ContactRecord), [
                {"id": n, "source": "bench", "source_key": row["id"], "normalized": records[n - 1].normalized,
                 "raw": {}, "email": row["email"] or None, "phone": row["phone"][:32] or None,
                 "customer_id": customer_of[row["entity"]], "version": 1, "resolved_version": 1,
                 "link_evidence": {"rule": "seed", "score": None}}
                for n, row in enumerate(part_rows, start=start + 1)
            ])
            write_index(session, {n: build_profile(records[n - 1].normalized)
                                  for n in range(start + 1, start + 1 + len(part_rows))})
        if start % 200_000 == 0:
            print(f"seed: {start + len(part_rows)} records indexed in {time.perf_counter() - started:.0f} s", flush=True)
    engine.dispose()
    print(f"seed: {path} written in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    from crm_core.config import ResolutionConfig
    from crm_core.db import make_engine, session_factory, upgrade
    from crm_core.models import ContactRecord

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-entities", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--url", help="an empty database (default: a fresh SQLite file in --workdir)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crmhub-bench"))
    parser.add_argument("--seed", type=Path, help="write a resolved base into this SQLite file and stop")
    parser.add_argument("--from-seed", type=Path, help="start from a copy of a --seed file (same --base-entities)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the batch's resolution to this file")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = _rows(args.base_entities, args.workdir)
    split = len(rows) - args.batch
    if args.seed is not None:
        _seed(args.seed, rows, split)
        return
    url = args.url
    if url is None:
        db = args.workdir / "store_incremental.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if args.from_seed is not None:
            shutil.copyfile(args.from_seed, db)
        url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)
    hub = SimpleNamespace(sessions=session_factory(engine), config=SimpleNamespace(resolution=ResolutionConfig()))
    if args.from_seed is None:
        _land(hub.sessions, rows[:split])
        full, full_label = _resolve(hub)[0], "full run of the base"
    load_start = os.getloadavg()[0]
    _land(hub.sessions, rows[split:])
    batch, cpu = _resolve(hub, args.profile)
    if args.from_seed is not None:
        full, full_label = _calibration(rows[split:]), "calibration: batch profiles+keys ×5"
    with hub.sessions() as session:
        predicted = {key: str(cid) for key, cid in session.execute(select(ContactRecord.source_key, ContactRecord.customer_id))}
    truth = {row["id"]: row["entity"] for row in rows}
    scores = pairwise_touching(truth, predicted, {row["id"] for row in rows[split:]})
    engine.dispose()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        f"store incremental {stamp} on {engine.url.get_backend_name()}",
        f"| base records | batch | {full_label} (s) | batch (s) | batch CPU (s) | batch ÷ baseline | load at start/end |"
        " precision | recall | F1 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        f"| {split} | {len(rows) - split} | {full:.1f} | {batch:.1f} | {cpu:.1f} | {batch / full:.3f} | "
        f"{load_start:.1f}/{os.getloadavg()[0]:.1f} | {scores.precision:.4f} | {scores.recall:.4f} | {scores.f1:.4f} |",
    ]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"resolution-store-incremental-{stamp}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
