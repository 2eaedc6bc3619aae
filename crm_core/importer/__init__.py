"""Importing contact files (CSV, Excel) into the hub: read, propose a spec, land, map, report.

    report = import_file(hub, "客户名单.csv")                 # source "import_客户名单", spec proposed and saved
    report = import_file(hub, "legacy.xlsx", source="legacy", spec="legacy.yaml", report_path="rejected.csv")
    print(report.summary())                                  # counts; report.rejections: row, column, value, reason

``crmhub import`` is the command-line face of ``import_file``. Reading lives in ``_read`` (encodings, delimiters,
Excel in read-only mode), the run in ``_run``, the report in ``_report``; the spec proposal is pure and lives in
``mapping`` (``mapping.propose_spec``).
"""

from ._read import Table, TableRow, clean_header, detect_encoding, open_table, sniff_delimiter
from ._report import ImportReport, Rejection, escape_cell, read_report
from ._run import default_source, import_file, propose_for

__all__ = [
    "ImportReport",
    "Rejection",
    "Table",
    "TableRow",
    "clean_header",
    "default_source",
    "detect_encoding",
    "escape_cell",
    "import_file",
    "open_table",
    "propose_for",
    "read_report",
    "sniff_delimiter",
]
