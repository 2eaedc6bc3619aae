"""``crmhub ingest SOURCE``: run one source once, with a live progress display on a terminal and a summary line.

The progress display (rich) appears only when stderr is a terminal, so pipes, cron mails and Airflow logs get just
the summary line. Errors are one line and a non-zero exit (handled by ``crm_core.cli.main``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..runs import StageResult
from ._common import add_command, open_hub


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub, "ingest", "run one source once, with progress and a summary line", cmd_ingest,
        description="Read one source from its stored cursor and land what is new. Safe to re-run: landing is "
        "idempotent and the cursor is committed with each batch.",
    )
    p.add_argument("source", help="the source's name in hub.yaml")
    p.add_argument("--run-id", help="label stored with the run's statistics")


def cmd_ingest(args: argparse.Namespace) -> int:
    from ..jobs import ingest

    hub = open_hub(args)
    hub.config.source(args.source)  # unknown name: one line listing the known ones
    started = time.monotonic()
    if sys.stderr.isatty():
        result = _with_progress(lambda progress: ingest(hub, args.source, args.run_id, progress), args.source)
    else:
        result = ingest(hub, args.source, args.run_id)
    print(f"{result.summary()} in {time.monotonic() - started:.1f}s")
    return 0


def _with_progress(run: Any, source: str) -> StageResult:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[counts]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"ingest {source}", counts="starting…")

        def update(result: StageResult) -> None:
            dupes = result.detail.get("duplicates", 0)
            progress.update(task, counts=f"{result.records_in} read, {result.records_out} new, {dupes} already landed")

        return run(update)  # type: ignore[no-any-return]
