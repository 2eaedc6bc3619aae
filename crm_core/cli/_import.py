"""``crmhub import FILE``: import a CSV/Excel file of existing contacts.

The proposal is printed (``--propose-only``) or saved beside the hub (``$HUB_HOME/imports/<source>.yaml``) so a person
can read it, edit it and import again with ``--spec``. Progress: a rich display on a terminal; into pipes and logs a
plain line whenever a landed batch crosses a multiple of ``--progress-every`` rows; always a summary line at the end.
Rejection reasons go to stderr, their values only to the report file (they are personal data).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import add_command, open_hub

PROGRESS_EVERY = 10_000
SHOWN_REJECTIONS = 10


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        sub, "import", "import a CSV or Excel file: propose a mapping, clean, report", cmd_import,
        description="Import a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, semicolon or tab) or .xlsx file of "
        "contacts. Recognised columns (姓名, 手机, 邮箱, 生日, name, phone, email, …) map to canonical fields, the "
        "rest to text attributes. Safe to re-run: rows already imported are not landed again. Every rejected row "
        "is listed with its row number, column, value and reason in the report CSV.",
    )
    p.add_argument("file", help="the .csv, .tsv, .txt or .xlsx file")
    p.add_argument("--source", help="source name for the rows (default: import_<file name>)")
    p.add_argument("--spec", help="mapping spec to use instead of the saved or proposed one")
    p.add_argument("--propose-only", action="store_true", help="print the proposed spec and stop")
    p.add_argument("--encoding", help="CSV encoding (default: detected), e.g. gb18030, utf-8")
    p.add_argument("--delimiter", help="CSV delimiter (default: detected): ',' ';' 'tab' '|'")
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.add_argument("--key", help="identifier column keying the rows (default: an id column if found, else the row's content; "
                   "--key '' for the content)")
    p.add_argument("--report", help="write rejected rows here as CSV (default: $HUB_HOME/imports/<source>.report.csv)")
    p.add_argument("--run-id", help="label stored with the run's statistics")
    p.add_argument("--batch-size", type=int, default=1000, metavar="N",
                   help="rows landed and mapped per transaction (default 1000)")
    p.add_argument("--progress-every", type=int, default=PROGRESS_EVERY, metavar="N",
                   help=f"without a terminal, print a progress line every N rows (default {PROGRESS_EVERY})")


def cmd_import(args: argparse.Namespace) -> int:
    from ..importer import default_source, import_file, open_table, propose_for

    if args.propose_only:
        table = open_table(args.file, encoding=args.encoding, delimiter=args.delimiter, sheet=args.sheet)
        proposal = propose_for(table, args.source or default_source(args.file), args.key)
        print(proposal.as_yaml(f"{args.file}: {table.describe()}"), end="")
        return 0
    hub = open_hub(args)
    options: dict[str, Any] = dict(source=args.source, spec=args.spec, encoding=args.encoding,
                                   delimiter=args.delimiter, sheet=args.sheet, key_column=args.key,
                                   report_path=args.report, run_id=args.run_id,
                                   batch_size=max(1, args.batch_size))
    if sys.stderr.isatty():
        report = _with_rich_progress(lambda progress: import_file(hub, args.file, progress=progress, **options))
    else:
        report = import_file(hub, args.file, progress=_line_progress(args.progress_every), **options)
    for rejection in report.rejections[:SHOWN_REJECTIONS]:
        where = f"row {rejection.row} {rejection.column}".rstrip()
        print(f"  {where}: {rejection.reason} ({rejection.kind})", file=sys.stderr)
    more = report.rejected_rows + report.dropped_values - SHOWN_REJECTIONS
    if more > 0:
        print(f"  … and more in {report.report_path}", file=sys.stderr)
    print(f"spec ({report.spec_origin}): {report.spec_path}")
    print(report.summary())
    return 0


def _line_progress(every: int) -> Any:
    every = max(1, every)
    state = {"next": every}

    def show(report: Any) -> None:
        if report.rows_read >= state["next"]:
            print(f"import {report.source}: {report.rows_read} rows read, {report.landed} landed, "
                  f"{report.rejected_rows} rejected", file=sys.stderr, flush=True)
            state["next"] = (report.rows_read // every + 1) * every

    return show


def _with_rich_progress(run: Any) -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[counts]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("import", counts="reading…")

        def update(report: Any) -> None:
            progress.update(task, description=f"import {report.source}",
                            counts=f"{report.rows_read} rows, {report.landed} landed, {report.mapped} mapped, "
                                   f"{report.rejected_rows} rejected")

        return run(update)
