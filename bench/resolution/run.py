"""Resolution benchmark: the hub's ``dedupe`` against Splink and recordlinkage, one run, same labelled data.

    python -m bench.resolution.run [--sizes dedupe link 100k 1m] [--peers splink recordlinkage] [--workdir DIR]

Tasks: ``dedupe`` (~6k records, one file), ``link`` (two files), ``100k`` and ``1m`` (synthetic, one file), plus
``incremental``: 10,000 new records matched against an existing base (the hub only). Prints a Markdown table of
pairwise precision/recall/F1 and wall time; each tool's time covers reading the CSV files through to clusters.
Benchmarks are never tests; run them by hand.
"""

from __future__ import annotations

import argparse
import csv
import gc
import time
from collections.abc import Callable
from pathlib import Path

from .generate import generate, split_for_linkage, write
from .metrics import Scores, pairwise

SIZES = {"dedupe": 3_000, "link": 3_000, "100k": 50_000, "1m": 500_000}  # entities (≈2 records each)
SEEDS = {"dedupe": 1, "link": 2, "100k": 3, "1m": 4}


def _truth(paths: list[Path]) -> dict[str, str]:
    truth: dict[str, str] = {}
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            truth.update({row["id"]: row["entity"] for row in csv.DictReader(fh)})
    return truth


def run_hub(paths: list[Path]) -> dict[str, str]:
    from crm_core.resolution import dedupe_files

    return dict(dedupe_files(paths, "id").rows)


def run_splink(paths: list[Path]) -> dict[str, str]:
    import pandas as pd

    from .peers import splink_clusters

    return splink_clusters([pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths])


def run_recordlinkage(paths: list[Path]) -> dict[str, str]:
    import pandas as pd

    from .peers import recordlinkage_clusters

    return recordlinkage_clusters([pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths])


TOOLS: dict[str, Callable[[list[Path]], dict[str, str]]] = {
    "crmhub dedupe": run_hub,
    "splink": run_splink,
    "recordlinkage": run_recordlinkage,
}


def prepare(task: str, workdir: Path) -> list[Path]:
    rows = list(generate(SIZES[task], seed=SEEDS[task]))
    if task == "link":
        a, b = split_for_linkage(rows)
        paths = [workdir / "link_a.csv", workdir / "link_b.csv"]
        write(paths[0], a)
        write(paths[1], b)
        return paths
    path = workdir / f"{task}.csv"
    write(path, rows)
    return [path]


def measure(tool: str, paths: list[Path], truth: dict[str, str]) -> tuple[Scores | None, float, str]:
    gc.collect()
    start = time.perf_counter()
    try:
        predicted = TOOLS[tool](paths)
    except Exception as exc:  # a peer failing is a result to report, not a crash of the benchmark
        return None, time.perf_counter() - start, f"{type(exc).__name__}: {str(exc)[:120]}"
    return pairwise(truth, predicted), time.perf_counter() - start, ""


def incremental(workdir: Path, base_entities: int, new_records: int = 10_000) -> str:
    """The hub only: a base of existing customers in memory, then a batch of new records matched against it."""
    from crm_core.resolution import Matcher, MatchModel, MatchRecord, Thresholds, build_profile
    from crm_core.resolution._blocking import KeyPolicy
    from crm_core.resolution._engine import classify_keys

    from .generate import COLUMNS

    rows = list(generate(base_entities, seed=99))
    roles = {"first_name": "given_name", "surname": "family_name", "dob": "birth_date"}
    records = []
    for i, row in enumerate(rows):
        contact = {roles.get(k, k): v for k, v in row.items() if k in COLUMNS and k not in ("id", "entity")}
        records.append(MatchRecord(i, build_profile(contact), cluster=None, new=True))
    split = len(records) - new_records
    base, batch = records[:split], records[split:]
    for r in base:  # pretend the base was resolved: one customer per entity
        r.new, r.cluster = False, rows[r.id]["entity"]
    policy = KeyPolicy()
    hub_keys, big = classify_keys(records, policy)
    start = time.perf_counter()
    by_key: dict[str, list[MatchRecord]] = {}
    from crm_core.resolution._blocking import blocking_keys

    index_start = time.perf_counter()
    for r in base:
        for k in blocking_keys(r.profile):
            by_key.setdefault(k, []).append(r)
    index_time = time.perf_counter() - index_start
    start = time.perf_counter()
    wanted: dict[int, MatchRecord] = {}
    for r in batch:
        for k in blocking_keys(r.profile):
            if k not in big and k not in hub_keys:
                for other in by_key.get(k, ()):
                    wanted[other.id] = other
    outcome = Matcher(MatchModel(), Thresholds(0.9, 0.7), policy).run(batch + list(wanted.values()), hub_keys, big)
    elapsed = time.perf_counter() - start
    return (f"incremental: {len(batch)} new records against {len(base)} existing records "
            f"({len(wanted)} candidates, {outcome.pairs_scored} pairs): {elapsed:.1f} s "
            f"(building the in-memory key index once: {index_time:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["dedupe", "link", "100k"], choices=[*SIZES, "incremental"])
    parser.add_argument("--peers", nargs="*", default=["splink", "recordlinkage"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crmhub-bench"))
    parser.add_argument("--incremental-base", type=int, default=500_000, help="entities in the incremental base")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| task | records | tool | precision | recall | F1 | wall time (s) | note |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for task in args.sizes:
        if task == "incremental":
            print(incremental(args.workdir, args.incremental_base))
            continue
        paths = prepare(task, args.workdir)
        truth = _truth(paths)
        for tool in ["crmhub dedupe", *args.peers]:
            scores, seconds, note = measure(tool, paths, truth)
            cells = (f"{scores.precision:.4f} | {scores.recall:.4f} | {scores.f1:.4f}" if scores else "- | - | -")
            print(f"| {task} | {len(truth)} | {tool} | {cells} | {seconds:.1f} | {note} |", flush=True)


if __name__ == "__main__":
    main()
