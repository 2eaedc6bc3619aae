"""``python -m bench.mapping``: generate, measure floor / mapping / import, print and save the table."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._report import machine, run_variant, save, table

from .generate import generate

LABELS = {
    "floor": "floor: csv.DictReader",
    "mapping": "mapping.apply (forms spec)",
    "import": "import: ingest + map → SQLite",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mapping", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    parser.add_argument("--import-rows", type=int,
                        help="rows for the import variant (default: --rows); the same seed makes them the first "
                             "rows of the big file, and rates are per row")
    parser.add_argument("--variants", nargs="+", choices=list(LABELS), default=list(LABELS))
    parser.add_argument("--workdir", type=Path, help="where to generate (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and the hub")
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="crmhub-bench-mapping-"))
    data = work / "exports"
    try:
        started = time.perf_counter()
        generated = generate(data, args.rows)
        print(f"generated {generated.rows:,} rows, {generated.bytes / 1e6:.0f} MB in "
              f"{time.perf_counter() - started:.0f}s under {data}; {machine()}", flush=True)
        import_rows = args.import_rows or args.rows
        import_data = data
        if import_rows != args.rows:
            import_data = work / "exports-import"
            generate(import_data, import_rows)
        results = {}
        for name in args.variants:
            folder = import_data if name == "import" else data
            results[name] = run_variant("bench.mapping.variants", [name, str(folder), str(work / name)])
            print(f"  {name}: {results[name]}", flush=True)
        body = _table(results)
        print(body)
        command = f"python -m bench.mapping --rows {args.rows}" + (
            f" --import-rows {import_rows}" if import_rows != args.rows else "")
        print(f"written to {save('mapping', command, body)}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _table(results: dict[str, dict[str, object]]) -> str:
    floor = results.get("floor")
    rows = []
    for name, r in results.items():
        rate = float(r["rows"]) / float(r["seconds"])  # type: ignore[arg-type]
        slower = f"{float(r['seconds']) / float(floor['seconds']):.1f}×" if floor else "–"  # type: ignore[arg-type]
        memory = f"{float(r['peak_rss_mb']) / float(floor['peak_rss_mb']):.1f}×" if floor else "–"  # type: ignore[arg-type]
        notes = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in r.items()
                          if k not in ("rows", "seconds", "peak_rss_mb"))
        rows.append([LABELS[name], f"{r['rows']:,}", f"{float(r['seconds']):.1f}", f"{rate:,.0f}",  # type: ignore[arg-type]
                     slower, f"{float(r['peak_rss_mb']):.0f}", memory, notes])  # type: ignore[arg-type]
    return table(["variant", "rows", "seconds", "rows/s", "time vs floor", "peak RSS (MB)", "RSS vs floor",
                  "notes"], rows)


if __name__ == "__main__":
    sys.exit(main())
