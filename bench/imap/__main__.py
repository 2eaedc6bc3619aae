"""``python -m bench.imap``: a real Dovecot, N appended messages, bare imapclient vs the hub's ingest.

    python -m bench.imap [--messages 10000] [--chunk-size 200] [--postgres-url URL]

Starts Dovecot as the tests do (``tests/servers/dovecot.py``), APPENDs the messages of ``messages.py``, then runs
(each in a fresh interpreter) a discarded warm-up ``bare`` pass, ``bare``, ``raw`` (the floor), ``sqlite`` and ``postgres``
(a fresh database on the server of ``--postgres-url``, dropped afterwards). Prints wall times and the hub/bare
ratios (goal ≤ 1.5×) and writes them to ``bench/out/imap.md``. Figures are in ``docs/connectors.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._report import machine, run_variant, save, table

from .messages import messages

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
GOAL = 1.5


def _fresh_database(server_url: str) -> tuple[str, str]:
    """(url of a new empty database, its name) on the server ``server_url`` points at."""
    import psycopg

    name = f"crmhub_bench_imap_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}", name


def _drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imap", description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=200, help="UIDs per FETCH (the source's chunk_size)")
    parser.add_argument("--text-cap", type=int, default=65536)
    parser.add_argument("--postgres-url", default=os.environ.get("HUB_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--variants", nargs="+", choices=["bare", "raw", "sqlite", "postgres"],
                        default=["bare", "raw", "sqlite", "postgres"])
    args = parser.parse_args(argv)

    from tests.servers.dovecot import Dovecot

    work = Path(tempfile.mkdtemp(prefix="crmhub-bench-imap-"))
    os.chmod(work, 0o755)  # Dovecot's mail processes run as nobody
    server = Dovecot(work / "dovecot")
    database = None
    try:
        user = server.new_user()
        started = time.perf_counter()
        sections: list[str] = []
        size = 0

        def raw_messages():  # type: ignore[no-untyped-def]
            nonlocal size
            for msg in messages(args.messages):
                sections.append(msg.section)
                size += len(msg.raw)
                yield msg.raw

        server.append(user, raw_messages())
        print(f"appended {args.messages:,} messages ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f}s; "
              f"{machine()}", flush=True)
        setup = {"port": server.port, "login": user.login, "password": user.password, "sections": sections,
                 "chunk_size": args.chunk_size, "text_cap": args.text_cap, "work": str(work),
                 "connection_uri": server.connection_uri(user), "postgres_url": None}
        if "postgres" in args.variants:
            setup["postgres_url"], database = _fresh_database(args.postgres_url)
        setup_path = work / "setup.json"
        setup_path.write_text(json.dumps(setup), "utf-8")
        run_variant("bench.imap.variants", ["bare", str(setup_path)])  # warm-up: server caches, page cache
        results = {}
        for name in args.variants:
            results[name] = run_variant("bench.imap.variants", [name, str(setup_path)])
            print(f"  {name}: {results[name]}", flush=True)
        body = _table(results, args.messages)
        print(body)
        command = f"python -m bench.imap --messages {args.messages} --chunk-size {args.chunk_size}"
        print(f"written to {save('imap', command, body)}")
    finally:
        server.stop()
        if database:
            _drop_database(args.postgres_url, database)
        shutil.rmtree(work, ignore_errors=True)
    return 0


LABELS = {"bare": "bare imapclient FETCH (no MIME parsing)", "raw": "imaplib alone (no response parsing)", "sqlite": "hub ingest → SQLite",
          "postgres": "hub ingest → PostgreSQL"}


def _table(results: dict[str, dict[str, float]], count: int) -> str:
    bare = results.get("bare")
    rows = []
    for name, r in results.items():
        ratio = r["seconds"] / bare["seconds"] if bare else None
        verdict = "" if ratio is None or name in ("bare", "raw") else (" ✓" if ratio <= GOAL else f" ✗ (goal ≤ {GOAL}×)")
        rows.append([LABELS[name], f"{int(r['messages']):,}", f"{r['seconds']:.1f}", f"{count / r['seconds']:,.0f}",
                     (f"{ratio:.2f}×" if ratio is not None else "–") + verdict, f"{r['cpu']:.1f}"])
    return table(["variant", "messages", "wall time (s)", "messages/s", "vs bare", "client CPU (s)"], rows)


if __name__ == "__main__":
    sys.exit(main())
