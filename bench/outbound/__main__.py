"""``python -m bench.outbound``: see the package docstring."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ._peers import PEERS, TrytonPeer
from ._run import PHASES, PhaseResult, measure


def per_thousand(value: int, customers: int) -> str:
    return f"{value * 1000 / customers:,.0f}"


def table(rows: list[dict[str, object]], customers: int) -> str:
    lines = [
        f"API calls per 1,000 changed customers ({customers:,} pushed; reads + writes counted at the peer)",
        "",
        "| target | phase | hub reads | hub writes | hub total | baseline: 1 record per call | baseline ÷ hub "
        "| vendor floor |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        hub, naive = row["hub"], row["naive"]
        assert isinstance(hub, PhaseResult) and isinstance(naive, PhaseResult)
        ratio = f"{naive.calls.total / hub.calls.total:.1f}×" if hub.calls.total else "—"
        lines.append(
            f"| {row['target']} | {hub.phase} | {per_thousand(hub.calls.reads, customers)} "
            f"| {per_thousand(hub.calls.writes, customers)} | {per_thousand(hub.calls.total, customers)} "
            f"| {per_thousand(naive.calls.total, customers)} ({per_thousand(naive.calls.writes, customers)} writes) "
            f"| {ratio} | {row['floor'] if hub.phase != 're-run' else '0 writes'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbound", description=__doc__)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--targets", nargs="+", default=["salesforce", "salesforce_collections", "hubspot",
                                                         "mailchimp", "tryton"], choices=sorted(PEERS))
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--workdir", type=Path, default=None, help="keep hub homes and peer data here")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-outbound-"))
    rows: list[dict[str, object]] = []
    tryton = TrytonPeer()
    started = time.monotonic()
    try:
        for name in args.targets:
            peer_for = (lambda: tryton) if name == "tryton" else PEERS[name]
            hub = measure(peer_for(), workdir / name / "hub", args.customers, 1_000_000, None)
            naive = measure(peer_for(), workdir / name / "naive", args.customers, 2_000_000, 1)
            for h, n in zip(hub, naive, strict=True):
                rows.append({"target": name, "hub": h, "naive": n, "floor": peer_for().floor})
                if h.failed or n.failed:
                    print(f"warning: {name} {h.phase}: {h.failed} + {n.failed} records failed")
            print(f"{name}: done ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        tryton.close()
    text = table(rows, args.customers)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "outbound.md").write_text(text + "\n", encoding="utf-8")
    raw = [{"target": r["target"], "phase": r["hub"].phase,  # type: ignore[union-attr]
            **{f"{mode}_{kind}": getattr(r[mode].calls, kind)  # type: ignore[union-attr]
               for mode in ("hub", "naive") for kind in ("reads", "writes")},
            "hub_records_out": r["hub"].records_out}  # type: ignore[union-attr]
           for r in rows]
    (args.out / "outbound.json").write_text(json.dumps({"customers": args.customers, "phases": list(PHASES),
                                                        "rows": raw}, indent=2), encoding="utf-8")
    print(f"\nwritten to {args.out / 'outbound.md'} and outbound.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
