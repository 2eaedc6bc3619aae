"""A drop-folder export is streamed: reading a large file costs one record's memory, not the file's size."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from connectors._filedrop import read_records
from connectors.forms.files import CsvParser

ROWS = 200_000  # ≈ 14 MB of CSV


def _large_export(path: Path) -> int:
    line = '"S{:08d}",张伟,zhang.wei@qq.com,+86 138 0013 8000,"多行\r\n留言"\n'
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("submission_id,姓名,邮箱,手机,留言\n")
        for i in range(ROWS):
            f.write(line.format(i))
    return path.stat().st_size


def test_reading_a_large_export_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    size = _large_export(path)
    tracemalloc.start()
    try:
        parser = CsvParser(path, "leads")  # reads the header line only
        count = 0
        for raw in read_records(path, 0, 0, csv_quotes=True, settle_seconds=0):
            count += len(parser(raw))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == ROWS  # every row, each with its two-line quoted message
    assert size > 10_000_000
    assert peak < 1_000_000  # the whole file would be more than ten times this


def test_resuming_mid_file_streams_from_the_stored_offset(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    _large_export(path)
    records = read_records(path, 0, 0, csv_quotes=True, settle_seconds=0)
    for _ in range(ROWS // 2):
        middle = next(records)
    records.close()
    rest = list(read_records(path, middle.end_offset, middle.end_line, csv_quotes=True, settle_seconds=0))
    assert len(rest) == ROWS + 1 - ROWS // 2  # the header was the first of the records taken
    assert rest[0].data.startswith(f'"S{ROWS // 2 - 1:08d}"'.encode())
    assert rest[0].line == middle.end_line + 1 and rest[-1].end_offset == path.stat().st_size
