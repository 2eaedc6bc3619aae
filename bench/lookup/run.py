"""Customer lookup latency at a million customers: ``crm_core.lookup`` against a bare indexed SELECT, same run.

    python -m bench.lookup [--customers 1000000] [--lookups 2000] [--keep] [--database NAME]

1. Creates a fresh PostgreSQL database (on ``HUB_BENCH_POSTGRES_URL``, else ``HUB_TEST_POSTGRES_URL``, else the
   local server), applies the hub's migrations, and bulk-loads the synthetic customers of ``generate.py`` with
   ``COPY`` (secondary indexes dropped during the load and rebuilt from their own definitions afterwards, foreign-key
   triggers off for the load session: the usual bulk-load recipe; the schema ends up exactly as migrated).
2. Draws ``--lookups`` random keys per kind (email, phone): 80 % hits, 20 % misses, 2 % of the hits hub
   identifiers shared by ~100 records; phones typed the way people type them (``13800138000``, ``+86 138 …``).
3. Times each key three times, interleaved: the **baseline** (psycopg, ``SELECT customer_id FROM contact_record
   WHERE email = %s``, the normalised key given), the **session floor** (a fresh ORM session running ``SELECT 1``:
   the pool's pre-ping, ``BEGIN`` and ``ROLLBACK`` every request pays) and the **lookup** (``lookup_customer`` in a
   fresh ORM session, as the plugin's endpoint does per request: normalisation, the newest contact records joined
   to their customers, merge hops, 10 interactions).

Prints p50 / p99 per kind and their ratios, the query plans, and writes ``bench/out/lookup.json`` and
``bench/out/lookup.md``. ``--keep`` leaves the database for another run with ``--database``. Never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from . import generate as gen

OUT = Path(__file__).resolve().parents[1] / "out"
CHUNK_LINES = 20_000
LOAD_TABLES = ("customer", "contact_record", "interaction")
GOAL_P99_MS = 20.0


def admin_url() -> str:
    url = (os.environ.get("HUB_BENCH_POSTGRES_URL") or os.environ.get("HUB_TEST_POSTGRES_URL")
           or "postgresql://postgres@127.0.0.1:5432/postgres")
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(name: str) -> str:
    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)


# ------------------------------------------------------------------------------------------------ loading


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], lines: Iterable[str]) -> int:
    count = 0
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) == CHUNK_LINES:
                copy.write("".join(chunk))
                count += len(chunk)
                chunk.clear()
        if chunk:
            copy.write("".join(chunk))
            count += len(chunk)
    return count


def _secondary_indexes(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(name, CREATE INDEX …) of the loaded tables' indexes that back no constraint."""
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = 'public' AND i.tablename = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        (list(LOAD_TABLES),),
    ).fetchall()
    return [(str(name), str(ddl)) for name, ddl in rows]


def load(url: str, customers: int, say: Callable[[str], None]) -> dict[str, float]:
    """Migrate and fill the database; returns seconds per step."""
    from crm_core.db import upgrade

    took: dict[str, float] = {}
    start = time.perf_counter()
    upgrade(make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    took["migrate"] = time.perf_counter() - start
    with psycopg.connect(url, autocommit=False) as conn:
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {name}").format(name=sql.Identifier(name)))
        conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
        for table, columns, lines in (
            ("customer", gen.CUSTOMER_COLUMNS, gen.customer_lines(customers)),
            ("contact_record", gen.RECORD_COLUMNS, gen.record_lines(customers)),
            ("interaction", gen.INTERACTION_COLUMNS, gen.interaction_lines(customers)),
        ):
            t0 = time.perf_counter()
            rows = _copy(conn, table, columns, lines)
            took[f"copy {table}"] = time.perf_counter() - t0
            say(f"  COPY {table}: {rows:,} rows in {took[f'copy {table}']:.1f} s")
        conn.execute("SET session_replication_role = DEFAULT")
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            conn.execute(ddl)
        for table in LOAD_TABLES:  # ids were given explicitly: move the sequences past them
            conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({name}, 'id'), (SELECT max(id) FROM {table}))")
                         .format(name=sql.Literal(table), table=sql.Identifier(table)))
        took["indexes"] = time.perf_counter() - t0
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        took["vacuum analyze"] = time.perf_counter() - t0
    say(f"  indexes rebuilt in {took['indexes']:.1f} s, VACUUM ANALYZE {took['vacuum analyze']:.1f} s")
    return took


# ------------------------------------------------------------------------------------------------ workload


@dataclass(frozen=True)
class Query:
    kind: str  # email | phone
    typed: str  # what the caller types
    key: str  # the normalised key the baseline looks up
    hit: bool


def workload(customers: int, lookups: int, seed: int = 7) -> Iterator[Query]:
    rng = random.Random(seed)
    for kind in ("email", "phone"):
        for n in range(lookups):
            roll = rng.random()
            if roll < 0.2:
                j = rng.randrange(10_000_000)
                key = gen.missing_email(j) if kind == "email" else gen.missing_phone(j)
                yield Query(kind, key, key, False)
            elif roll < 0.2 + 0.8 * 0.02:
                i = rng.randrange(1, customers + 1)
                while not gen.has_hub_identifier(i):  # a key that some record really carries
                    i = rng.randrange(1, customers + 1)
                email, phone = gen.hub_identifiers(i)
                key = email if kind == "email" else phone
                yield Query(kind, key, key, True)
            else:
                i = rng.randrange(1, customers + 1)
                while gen.has_hub_identifier(i):  # their own address and number are on no record
                    i = rng.randrange(1, customers + 1)
                if kind == "email":
                    key = gen.email_of(i)
                    yield Query(kind, key.upper() if n % 5 == 0 else key, key, True)
                else:
                    yield Query(kind, gen.phone_as_typed(i), gen.phone_of(i), True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Row:
    kind: str
    lookups: int
    found: int
    baseline_p50_ms: float
    baseline_p99_ms: float
    session_p50_ms: float
    session_p99_ms: float
    lookup_p50_ms: float
    lookup_p99_ms: float
    ratio_p50: float
    ratio_p99: float


def measure(url: str, queries: list[Query], warmup: int = 200) -> tuple[list[Row], int]:
    """Time every query on the baseline and on ``lookup_customer``, alternating which goes first."""
    from sqlalchemy import literal, select

    from crm_core.db import make_engine, session_factory
    from crm_core.lookup import lookup_customer

    select_one = select(literal(1))
    engine = make_engine(make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    sessions = session_factory(engine)
    raw = psycopg.connect(url, autocommit=True)
    by_kind = {kind: sql.SQL("SELECT customer_id FROM contact_record WHERE {column} = %s")
               .format(column=sql.Identifier(kind)) for kind in ("email", "phone")}

    def baseline(q: Query) -> int:
        return len(raw.execute(by_kind[q.kind], (q.key,), prepare=True).fetchall())

    def session_floor(q: Query) -> None:
        with sessions() as session:  # what any request pays before its first query: pre-ping, BEGIN, ROLLBACK
            session.execute(select_one)

    def lookup(q: Query) -> bool:
        with sessions() as session:
            return lookup_customer(session, **{q.kind: q.typed}).customer is not None

    for q in queries[:warmup]:  # connections, prepared statements, caches
        baseline(q)
        session_floor(q)
        lookup(q)
    times: dict[str, dict[str, list[float]]] = {}
    found: dict[str, int] = {}
    wrong = 0
    for n, q in enumerate(queries):
        order: list[tuple[str, Callable[[Query], Any]]] = [
            ("baseline", baseline), ("session", session_floor), ("lookup", lookup)]
        for label, fn in (order if n % 2 == 0 else order[::-1]):
            t0 = time.perf_counter_ns()
            outcome = fn(q)
            times.setdefault(q.kind, {}).setdefault(label, []).append((time.perf_counter_ns() - t0) / 1e6)
            if label == "lookup":
                found[q.kind] = found.get(q.kind, 0) + bool(outcome)
                wrong += bool(outcome) != q.hit
    raw.close()
    engine.dispose()
    rows = []
    for kind, by_label in times.items():
        b, ss, lk = by_label["baseline"], by_label["session"], by_label["lookup"]
        rows.append(Row(kind, len(lk), found[kind], percentile(b, 50), percentile(b, 99), percentile(ss, 50),
                        percentile(ss, 99), percentile(lk, 50), percentile(lk, 99),
                        percentile(lk, 50) / percentile(b, 50), percentile(lk, 99) / percentile(b, 99)))
    return rows, wrong


def plans(url: str, customers: int) -> dict[str, str]:
    """EXPLAIN ANALYZE of the statement ``lookup_customer`` sends for contact records: an own e-mail, a hub phone."""
    from sqlalchemy import event

    from crm_core.db import make_engine, session_factory
    from crm_core.lookup import lookup_customer

    engine = make_engine(make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    sent: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, stmt, params, _x, _m: sent.append((stmt, params)))
    out = {}
    for label, query in (("email", {"email": gen.email_of(customers // 2)}),
                         ("hub phone", {"phone": gen.hub_phone(1)})):
        sent.clear()
        with session_factory(engine)() as session:
            lookup_customer(session, **query)
        statement, params = next((s, p) for s, p in sent if "JOIN contact_record" in s)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {statement}", params)
            out[label] = " / ".join(str(row[0]).strip() for row in rows)
    engine.dispose()
    return out


# ------------------------------------------------------------------------------------------------ report


def table(rows: list[Row]) -> str:
    head = ("| lookup by | n | found | baseline p50 / p99 | session floor p50 / p99 | lookup p50 / p99 | "
            "ratio p50 | ratio p99 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    return head + "".join(
        f"| {r.kind} | {r.lookups} | {r.found} | {r.baseline_p50_ms:.2f} / {r.baseline_p99_ms:.2f} ms | "
        f"{r.session_p50_ms:.2f} / {r.session_p99_ms:.2f} ms | {r.lookup_p50_ms:.2f} / {r.lookup_p99_ms:.2f} ms | "
        f"{r.ratio_p50:.1f}x | {r.ratio_p99:.1f}x |\n"
        for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lookup", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000, help="per kind (email, phone)")
    parser.add_argument("--database", help="reuse this already loaded database (from --keep)")
    parser.add_argument("--keep", action="store_true", help="leave the database for another run")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    name = args.database or f"crmhub_bench_lookup_{uuid.uuid4().hex[:8]}"
    url = database_url(name)
    took: dict[str, float] = {}
    if not args.database:
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {name}").format(name=sql.Identifier(name)))
        say(f"loading {args.customers:,} customers into {name}")
    try:
        if not args.database:
            took = load(url, args.customers, say)
        with psycopg.connect(url) as conn:
            counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=sql.Identifier(t))).fetchone()[0]  # type: ignore[index]
                      for t in LOAD_TABLES}
            customers = conn.execute("SELECT max(id) FROM customer").fetchone()[0]  # type: ignore[index]
        queries = list(workload(customers, args.lookups))
        rows, wrong = measure(url, queries)
        explained = plans(url, customers)
    finally:
        if not args.keep and not args.database:
            with psycopg.connect(admin_url(), autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {name} WITH (FORCE)").format(name=sql.Identifier(name)))
    md = table(rows)
    say("")
    say(f"rows: {', '.join(f'{t} {n:,}' for t, n in counts.items())}")
    say(md)
    for label, plan in explained.items():
        say(f"plan ({label}): {plan}")
    worst = max(r.lookup_p99_ms for r in rows)
    verdict = "meets" if worst < GOAL_P99_MS else "MISSES"
    say(f"lookup p99 {worst:.2f} ms {verdict} the goal of < {GOAL_P99_MS:.0f} ms; {wrong} lookups found the wrong thing")
    OUT.mkdir(exist_ok=True)
    (OUT / "lookup.md").write_text(md, encoding="utf-8")
    (OUT / "lookup.json").write_text(json.dumps({
        "customers": args.customers, "rows": counts, "load_seconds": took, "results": [asdict(r) for r in rows],
        "plans": explained, "wrong": wrong, "postgres": make_url(admin_url()).render_as_string(hide_password=True),
        "python": sys.version.split()[0],
    }, indent=2), encoding="utf-8")
    if args.keep:
        say(f"kept database {name}: rerun with --database {name}")
    return 0 if wrong == 0 else 1

