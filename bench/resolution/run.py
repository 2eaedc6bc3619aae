"""Resolution benchmark: the hub's ``dedupe`` against Splink and recordlinkage, one run, same labelled data.

    python -m bench.resolution.run [--sizes dedupe link 100k 1m incremental] [--peers splink recordlinkage]
                                   [--incremental-base 100000 500000] [--workdir DIR] [--out DIR]

Tasks: ``dedupe`` (~6k records, one file), ``link`` (two files), ``100k`` and ``1m`` (synthetic, one file), plus
``incremental``: 10,000 new records matched against an existing base of ≈200k and ≈1M records (the hub only; no
peer has an incremental mode). Prints a Markdown table of pairwise precision/recall/F1 and wall time, with each
tool's time divided by Splink's measured in the same run (the machine is shared, so compare ratios, not seconds)
and the CPU seconds of the process and its reaped child processes (all threads: Splink's DuckDB runs several;
the hub's worker processes count too), and writes it to ``bench/out/resolution-<UTC time>.md``. Each tool's time covers reading the CSV files through to
clusters; generating the data is not timed. Benchmarks are never tests; run them by hand.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .generate import COLUMNS, generate, split_for_linkage, write
from .metrics import Scores, pairwise, pairwise_touching

OUT_DIR = Path(__file__).resolve().parents[1] / "out"
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


def prepare(task: str, workdir: Path, drop: tuple[str, ...] = (), reuse: bool = False) -> list[Path]:
    """Write the task's labelled files; ``drop`` blanks columns in every row (e.g. the national id, which few CRMs
    hold and which gives every tool an easy key). ``reuse`` keeps files an earlier run wrote (the generator is
    seeded, so they are the same; generating 1M rows takes longer than matching them)."""
    names = ["link_a.csv", "link_b.csv"] if task == "link" else [f"{task}.csv"]
    if reuse and all((workdir / name).exists() for name in names):
        return [workdir / name for name in names]
    rows = list(generate(SIZES[task], seed=SEEDS[task]))
    for row in rows:
        for column in drop:
            row[column] = ""
    if task == "link":
        a, b = split_for_linkage(rows)
        paths = [workdir / "link_a.csv", workdir / "link_b.csv"]
        write(paths[0], a)
        write(paths[1], b)
        return paths
    path = workdir / f"{task}.csv"
    write(path, rows)
    return [path]


def measure(tool: str, paths: list[Path], truth: dict[str, str]) -> tuple[Scores | None, float, float, str]:
    """(scores, wall seconds, CPU seconds of this process and its children, all threads, note)."""
    gc.collect()
    start, cpu = time.perf_counter(), _cpu_seconds()
    try:
        predicted = TOOLS[tool](paths)
    except Exception as exc:  # a peer failing is a result to report, not a crash of the benchmark
        return (None, time.perf_counter() - start, _cpu_seconds() - cpu,
                f"{type(exc).__name__}: {str(exc)[:120]}")
    return pairwise(truth, predicted), time.perf_counter() - start, _cpu_seconds() - cpu, ""


def _cpu_seconds() -> float:
    """User + system CPU of this process (all threads) and of its reaped children (the hub's worker processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def incremental(base_entities: int, new_records: int = 10_000) -> tuple[int, int, Scores, float, float, float, str]:
    """The hub only: a batch of new records matched against an existing, resolved base, as ``resolve`` does it.

    Untimed, standing in for what the store already holds: the base's profiles and key index (the
    ``resolution_profile`` / ``resolution_key`` tables, one customer per entity) and a model estimated once by EM.
    Timed: the batch's profiles and keys, the key statistics (hub identifiers, oversized blocks) over batch + base
    holders, fetching the base records that share a key, and the ``Matcher`` run. Quality counts only pairs that
    touch the batch. Returns (base records, batch records, scores, seconds, CPU seconds, index seconds, note).
    """
    from crm_core.config import ResolutionConfig
    from crm_core.resolution import Matcher, MatchModel, MatchRecord, Thresholds, build_profile
    from crm_core.resolution._blocking import blocking_keys, key_is_hub, key_too_big
    from crm_core.resolution._profile import name_signature
    from crm_core.resolution._store import key_policy

    rows = list(generate(base_entities, seed=99))
    roles = {"first_name": "given_name", "surname": "family_name", "dob": "birth_date"}
    contacts = [{roles.get(k, k): v for k, v in row.items() if k in COLUMNS and k not in ("id", "entity")}
                for row in rows]
    split = len(rows) - new_records
    policy = key_policy(ResolutionConfig())  # the store's: name blocks capped at max_name_block_size
    index_start = time.perf_counter()
    base = [MatchRecord(i, build_profile(contacts[i]), cluster=rows[i]["entity"], new=False) for i in range(split)]
    by_key: dict[str, list[tuple[MatchRecord, str]]] = {}
    for r in base:
        sig = name_signature(r.profile)
        for k in dict.fromkeys(blocking_keys(r.profile)):
            by_key.setdefault(k, []).append((r, sig))
    sample = [MatchRecord(r.id, r.profile) for r in base[:20_000]]
    trainer = Matcher(MatchModel(), Thresholds(), policy)
    trainer.run(sample, estimate=True)
    index_time = time.perf_counter() - index_start

    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    batch = [MatchRecord(i, build_profile(contacts[i])) for i in range(split, len(rows))]
    keys: dict[int, list[str]] = {}
    holders: dict[str, list[str]] = {}
    for r in batch:
        sig = name_signature(r.profile)
        keys[r.id] = list(dict.fromkeys(blocking_keys(r.profile)))
        for k in keys[r.id]:
            holders.setdefault(k, []).append(sig)
    hub_keys: set[str] = set()
    skip_keys: set[str] = set()
    wanted: dict[int, MatchRecord] = {}
    for k, sigs in holders.items():
        existing = by_key.get(k, [])
        everyone = sigs + [sig for _, sig in existing]
        if key_is_hub(k, everyone, policy):
            hub_keys.add(k)
        elif key_too_big(k, len(everyone), policy):
            skip_keys.add(k)
        else:
            for r, _ in existing:  # as the store does: an existing record brings the usable batch keys it holds
                wanted[r.id] = r
                keys.setdefault(r.id, []).append(k)
    outcome = Matcher(trainer.model, Thresholds(), policy).run(
        batch + list(wanted.values()), hub_keys, skip_keys, keys=keys
    )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu

    predicted: dict[str, str] = {rows[r.id]["id"]: f"c:{r.cluster}" for r in base}
    relabel: dict[str, str] = {}
    for n, (clusters, members) in enumerate(outcome.groups):
        label = f"c:{min(str(c) for c in clusters)}" if clusters else f"g{n}"
        for c in clusters:
            relabel[f"c:{c}"] = label
        for rid in members:
            predicted[rows[rid]["id"]] = label
    predicted = {rid: relabel.get(label, label) for rid, label in predicted.items()}
    truth = {row["id"]: row["entity"] for row in rows}
    scores = pairwise_touching(truth, predicted, {rows[r.id]["id"] for r in batch})
    note = f"{len(wanted)} existing records fetched, {outcome.pairs_scored} pairs scored, {len(outcome.reviews)} to review"
    return split, len(batch), scores, elapsed, cpu, index_time, note


def _emit(out: TextIO, line: str) -> None:
    print(line, flush=True)
    out.write(line + "\n")
    out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["dedupe", "link", "100k"], choices=[*SIZES, "incremental"])
    parser.add_argument("--peers", nargs="*", default=["splink", "recordlinkage"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crmhub-bench"))
    parser.add_argument("--incremental-base", type=int, nargs="+", default=[100_000, 500_000],
                        help="entities in each incremental base (≈2 records each: 200k and 1M records by default)")
    parser.add_argument("--drop", nargs="*", default=[], choices=COLUMNS[2:],
                        help="blank these columns in the generated files (an ablation, e.g. national_id)")
    parser.add_argument("--reuse-data", action="store_true",
                        help="keep the files already in --workdir instead of generating them again (same --drop!)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory for the result table (git-ignored)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with (args.out / f"resolution-{stamp}.md").open("w", encoding="utf-8") as out:
        dropped = f"; columns blanked: {' '.join(args.drop)}" if args.drop else ""
        _emit(out, f"resolution benchmark {stamp}: sizes {' '.join(args.sizes)}; peers {' '.join(args.peers) or '-'}"
                   f"{dropped}")
        _emit(out, "| task | records | tool | precision | recall | F1 | wall time (s) | time ÷ Splink's | CPU (s) | note |")
        _emit(out, "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for task in args.sizes:
            if task == "incremental":
                for entities in args.incremental_base:
                    base, batch, scores, seconds, cpu, index_time, note = incremental(entities)
                    _emit(out, f"| incremental | {batch} new vs {base} | crmhub resolve (in memory) | "
                               f"{scores.precision:.4f} | {scores.recall:.4f} | {scores.f1:.4f} | {seconds:.1f} | - | {cpu:.1f} | "
                               f"{note}; base index + model built untimed in {index_time:.0f} s |")
                continue
            paths = prepare(task, args.workdir, tuple(args.drop), args.reuse_data)
            truth = _truth(paths)
            # Splink first: it is the time baseline, and each row can then be printed as soon as it is measured
            # (a slow peer at 1M can be stopped without losing the rows before it).
            tools = sorted(["crmhub dedupe", *args.peers], key=lambda t: t != "splink")
            splink_time: float | None = None
            for tool in tools:
                scores, seconds, cpu, note = measure(tool, paths, truth)
                if tool == "splink" and scores is not None:
                    splink_time = seconds
                cells = (f"{scores.precision:.4f} | {scores.recall:.4f} | {scores.f1:.4f}" if scores else "- | - | -")
                ratio = f"{seconds / splink_time:.2f}" if splink_time else "-"
                _emit(out, f"| {task} | {len(truth)} | {tool} | {cells} | {seconds:.1f} | {ratio} | {cpu:.1f} | {note} |")


if __name__ == "__main__":
    main()
