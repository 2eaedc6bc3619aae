"""Reading contact tables (CSV and Excel) as a stream of rows keyed by cleaned headers, in bounded memory.

What is surprising about the files people export from old CRMs and spreadsheets:

- **Encodings.** Excel on a Chinese Windows saves CSV as GBK; newer tools write UTF-8, often with a BOM. A sample of
  the file's first bytes decides: a BOM, else strict UTF-8, else what charset-normalizer finds (any GB* answer is
  read as GB18030, the superset). Bytes that still do not decode become U+FFFD and mark their row as rejected, so a
  bad byte costs one row, not the file, and never silently.
- **Delimiters.** European Excel writes ``;``, other tools tabs. The delimiter that splits the sample's first
  records into the same number of columns (more than one) wins.
- **Headers** carry BOMs, full-width letters and stray spaces (``" 姓名　"``); they are folded (NFKC, whitespace
  collapsed). An empty header becomes ``column_<n>``, a repeated one gets ``_2``.
- **Excel** is read with openpyxl's read-only mode, row by row: a million-row sheet is never loaded at once. Cells
  arrive typed: dates become ISO text, whole-number floats (phone numbers typed as numbers) lose their ``.0``.
- Row numbers are what a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ..errors import ConfigError

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_GB_FAMILY = ("gb2312", "gbk", "gb18030", "hz", "hz-gb-2312", "cp936")


@dataclass(frozen=True)
class TableRow:
    """One data row: its number as a spreadsheet shows it, header → cell text (blank cells left out)."""

    number: int
    values: dict[str, str]
    problem: str | None = None  # the row cannot be read as written (too many cells, undecodable bytes)
    column: str = ""  # where the problem is, when it is one column


@dataclass(frozen=True)
class Table:
    """A readable table: how it was understood, its headers, and a fresh stream of its rows on every call."""

    path: Path
    kind: str  # "csv" or "xlsx"
    headers: tuple[str, ...]
    raw_headers: tuple[str, ...] = field(repr=False, default=())
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    def rows(self) -> Iterator[TableRow]:
        if self.kind == "xlsx":
            return _xlsx_rows(self)
        return _csv_rows(self)

    def describe(self) -> str:
        if self.kind == "xlsx":
            return f"Excel sheet {self.sheet!r}"
        names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
        return f"CSV in {self.encoding}, {names.get(self.delimiter or '', repr(self.delimiter))}-separated"


def open_table(path: str | Path, encoding: str | None = None, delimiter: str | None = None,
               sheet: str | None = None) -> Table:
    """Inspect a CSV or Excel file: encoding, delimiter, sheet and headers. ``ConfigError`` when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), ["no such file"])
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ConfigError(str(path), ["old .xls workbooks are not read; save the sheet as .xlsx or CSV"])
    if suffix in EXCEL_SUFFIXES:
        return _open_xlsx(path, sheet)
    if sheet is not None:
        raise ConfigError(str(path), ["--sheet applies to Excel workbooks only"])
    return _open_csv(path, encoding, delimiter)


def clean_header(text: Any) -> str:
    """BOM, invisible characters and full-width forms out, whitespace collapsed."""
    from mapping import fold

    return fold(str(text if text is not None else "").replace("\ufeff", ""))


def unique_headers(cells: list[Any]) -> tuple[str, ...]:
    headers: list[str] = []
    for i, cell in enumerate(cells):
        name = clean_header(cell) or f"column_{i + 1}"
        base, n = name, 2
        while name in headers:
            name, n = f"{base}_{n}", n + 1
        headers.append(name)
    return tuple(headers)


# ---------------------------------------------------------------------------------------------- CSV


def detect_encoding(sample: bytes) -> str:
    """The encoding of a CSV sample: BOM, strict UTF-8, else charset-normalizer (GB* read as GB18030)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    found = best.encoding.lower() if best is not None else None
    if found in _GB_FAMILY or found is None or _is_gb18030_text(sample):
        return "gb18030"  # CJK-heavy samples: GB18030 decodes all of GB2312/GBK; detectors confuse them
    return found


def _is_gb18030_text(sample: bytes) -> bool:
    """Strictly decodable as GB18030 and mostly Han where non-ASCII: a Chinese export, whatever the detector says."""
    try:
        text = codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    wide = [ch for ch in text if ord(ch) > 127]
    han = sum(1 for ch in wide if "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef")
    return bool(wide) and han >= 0.8 * len(wide)


def sniff_delimiter(text: str) -> str:
    """The delimiter that cuts the first records into equally many (and most) columns; comma when unsure."""
    best, best_score = ",", (0, 0)
    for candidate in DELIMITERS:
        try:
            records = [r for r in itertools.islice(csv.reader(io.StringIO(text), delimiter=candidate), 50) if r]
        except csv.Error:
            continue
        if len(records) > 1:
            records = records[:-1]  # the sample may cut the last record short
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(1 for r in records if len(r) == width), width)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _open_csv(path: Path, encoding: str | None, delimiter: str | None) -> Table:
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if len(sample) == SAMPLE_BYTES and b"\n" in sample:
        sample = sample[:sample.rfind(b"\n") + 1]  # whole lines only: no character cut in half
    if encoding is None:
        encoding = detect_encoding(sample)
    else:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise ConfigError(str(path), [f"unknown encoding {encoding!r}"]) from None
    text = sample.decode(encoding, errors="replace")
    if delimiter is None:
        delimiter = sniff_delimiter(text)
    elif delimiter in ("tab", "\\t"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise ConfigError(str(path), [f"the delimiter must be one character, got {delimiter!r}"])
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        first = next((r for r in csv.reader(fh, delimiter=delimiter) if any(c.strip() for c in r)), None)
    if first is None:
        raise ConfigError(str(path), ["the file has no header row"])
    return Table(path=path, kind="csv", headers=unique_headers(first), raw_headers=tuple(first),
                 encoding=encoding, delimiter=delimiter)


def _csv_rows(table: Table) -> Iterator[TableRow]:
    with table.path.open(encoding=table.encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=table.delimiter or ",")
        seen_header = False
        try:
            for number, cells in enumerate(reader, start=1):
                if not seen_header:
                    seen_header = any(c.strip() for c in cells)  # blank lines above the header
                    continue
                yield _row(table, number, cells)
        except csv.Error as exc:
            raise ConfigError(str(table.path), [f"line {reader.line_num}: not readable as CSV ({exc})"]) from None


def _row(table: Table, number: int, cells: list[Any]) -> TableRow:
    texts = [_cell_text(c) for c in cells]
    extra = [t for t in texts[len(table.headers):] if t]
    values = {h: t for h, t in zip(table.headers, texts, strict=False) if t}
    if extra:
        return TableRow(number, values, f"{len(texts)} cells but the header has {len(table.headers)} columns "
                                        "(a delimiter or quote inside a value?)")
    bad = next((h for h, t in values.items() if "\ufffd" in t), None)
    if bad is not None:
        return TableRow(number, values, f"bytes that are not valid {table.encoding} (re-run with --encoding?)", bad)
    return TableRow(number, values)


def _cell_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == time(0) else cell.isoformat(sep=" ")
    if isinstance(cell, date | time):
        return cell.isoformat()
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    return str(cell).strip()


# ---------------------------------------------------------------------------------------------- Excel


def _workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for damaged files
        raise ConfigError(str(path), [f"not a readable Excel workbook ({type(exc).__name__})"]) from None


def _worksheet(path: Path, workbook: Any, sheet: str | None) -> Any:
    if sheet is None:
        return workbook.worksheets[0]
    if sheet not in workbook.sheetnames:
        raise ConfigError(str(path), [f"no sheet {sheet!r}; the workbook has: {', '.join(workbook.sheetnames)}"])
    return workbook[sheet]


def _open_xlsx(path: Path, sheet: str | None) -> Table:
    workbook = _workbook(path)
    try:
        ws = _worksheet(path, workbook, sheet)
        first = next((list(r) for r in ws.iter_rows(values_only=True) if any(_cell_text(c) for c in r)), None)
        title = ws.title
    finally:
        workbook.close()
    if first is None:
        raise ConfigError(str(path), [f"sheet {title!r} has no header row"])
    while first and _cell_text(first[-1]) == "":
        first.pop()  # formatting can widen a sheet past its last real column
    return Table(path=path, kind="xlsx", headers=unique_headers(first), raw_headers=tuple(map(str, first)),
                 sheet=title)


def _xlsx_rows(table: Table) -> Iterator[TableRow]:
    workbook = _workbook(table.path)
    try:
        ws = _worksheet(table.path, workbook, table.sheet)
        seen_header = False
        for number, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            if not seen_header:
                seen_header = any(_cell_text(c) for c in cells)
                continue
            yield _row(table, number, list(cells))
    finally:
        workbook.close()
