"""The figures of docs/reliability.md: what was tried, how many times, what was lost.

    python -m tests.reliability.report --run             # run tests/reliability, print and save the table
    python -m tests.reliability.report --run --fuzz 2000 # the same with a longer fuzz run (examples per parser)
    python -m tests.reliability.report FILE               # render lines an earlier run wrote (HUB_FAULT_REPORT)

Other arguments go to pytest (``--durations=20``, ``-k kill``).

``--run`` runs ``pytest tests/reliability`` with ``HUB_FAULT_REPORT`` pointing at a fresh file (each fault test
appends one JSON line), then prints the table and writes it to ``bench/out/reliability.md``. The run fails, and so
does this command, if any test failed: a table of zeros from a failing suite would be a lie. PostgreSQL comes from
``HUB_TEST_POSTGRES_URL`` as for the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out" / "reliability.md"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def table(lines: list[dict[str, Any]]) -> str:
    """One row per fault (repeated lines, e.g. one per parametrised case, are summed)."""
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"tests": 0, "tries": 0, "lost": 0, "duplicated": 0})
    for line in lines:
        row = rows[line["fault"]]
        row["tests"] += 1
        for key in ("tries", "lost", "duplicated"):
            row[key] += int(line.get(key, 0))
        for key in ("points", "duplicate_customers", "duplicate_writes", "cells", "non_data_cells", "files",
                    "outputs"):
            if key in line:
                row[key] = row.get(key, 0) + int(line[key]) if key not in ("points",) else int(line[key])
    out = ["| fault / input | runs | tried | lost | duplicated | notes |", "|---|---:|---:|---:|---:|---|"]
    for fault, row in rows.items():
        notes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in row.items()
                          if k not in ("tests", "tries", "lost", "duplicated"))
        out.append(f"| {fault} | {row['tests']} | {row['tries']} | {row['lost']} | {row['duplicated']} | {notes} |")
    total = {k: sum(r[k] for r in rows.values()) for k in ("tries", "lost", "duplicated")}
    out.append(f"| **total** | {len(lines)} | {total['tries']} | {total['lost']} | {total['duplicated']} | |")
    return "\n".join(out)


def run(fuzz: int | None, extra: list[str]) -> Path:
    report = Path(tempfile.mkstemp(prefix="crmhub-faults-", suffix=".jsonl")[1])
    env = {**os.environ, "HUB_FAULT_REPORT": str(report), "PYTHONPATH": str(REPO)}
    if fuzz:
        env["HUB_FUZZ_EXAMPLES"] = str(fuzz)
    cmd = [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider", *extra]
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=REPO, env=env).returncode != 0:
        raise SystemExit("reliability tests failed: no figures")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report", description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", type=Path, help="a HUB_FAULT_REPORT file to render")
    parser.add_argument("--run", action="store_true", help="run tests/reliability first")
    parser.add_argument("--fuzz", type=int, help="examples per fuzz test (HUB_FUZZ_EXAMPLES)")
    args, extra = parser.parse_known_args(argv)  # anything else goes to pytest (e.g. --durations=20)
    if not args.run and args.file is None:
        parser.error("give a report FILE or --run")
    path = run(args.fuzz, extra) if args.run else args.file
    text = table(load(path))
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n", encoding="utf-8")
    print(f"written to {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
