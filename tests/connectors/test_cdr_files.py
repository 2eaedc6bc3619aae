"""Tailing Master.csv: offsets, partial rows, rotation by rename and by copy-and-truncate, rewritten files."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.phone.cdr import CdrFileSource, CdrOptions
from crm_core.landing import land_stream
from crm_core.models import LandingRecord

from .conftest import EXAMPLES
from .test_cdr_parse import cdr_line


def row(n: int) -> str:
    return cdr_line(src=f"1380013{n:04d}", clid=f'"Caller {n}" <1380013{n:04d}>', extra=(f"1755825{n:03d}.1", "")) + "\n"


def read(directory: Path, cursor: dict | None, **options: object) -> tuple[list[str], dict | None]:
    source = CdrFileSource("cdr", CdrOptions(path=str(directory), **options))  # type: ignore[arg-type]
    numbers, last = [], cursor
    for batch in source.read(cursor):
        numbers += [r.payload["caller_number"] for r in batch.records]
        last = dict(batch.cursor)
    return numbers, last


def numbers(*ns: int) -> list[str]:
    return [f"1380013{n:04d}" for n in ns]


def test_rows_are_read_once_and_the_cursor_ends_at_the_files_end(tmp_path: Path) -> None:
    (tmp_path / "Master.csv").write_text(row(1) + row(2) + row(3))
    got, cursor = read(tmp_path, None, batch_size=2)
    assert got == numbers(1, 2, 3)
    [entry] = cursor["files"].values()  # type: ignore[index]
    assert entry["offset"] == (tmp_path / "Master.csv").stat().st_size
    assert read(tmp_path, cursor)[0] == []


def test_a_partial_last_line_waits_until_the_pbx_finishes_it(tmp_path: Path) -> None:
    live = tmp_path / "Master.csv"
    live.write_text(row(1) + row(2)[:50])
    got, cursor = read(tmp_path, None)
    assert got == numbers(1)
    with live.open("a") as f:
        f.write(row(2)[50:] + row(3))
    assert read(tmp_path, cursor)[0] == numbers(2, 3)


def test_rotation_by_rename_reads_the_rotated_tail_then_the_new_file(tmp_path: Path) -> None:
    live = tmp_path / "Master.csv"
    live.write_text(row(1) + row(2))
    _, cursor = read(tmp_path, None)
    with live.open("a") as f:  # written just before the rotation
        f.write(row(3))
    live.rename(tmp_path / "Master.csv.1")
    live.write_text(row(4))
    got, cursor = read(tmp_path, cursor)
    assert got == numbers(3, 4)
    assert sorted(e["name"] for e in cursor["files"].values()) == ["Master.csv", "Master.csv.1"]  # type: ignore[index]


def test_copy_and_truncate_rotation_loses_and_repeats_nothing(tmp_path: Path) -> None:
    live = tmp_path / "Master.csv"
    live.write_text(row(1) + row(2))
    _, cursor = read(tmp_path, None)
    with live.open("a") as f:
        f.write(row(3))
    shutil.copy(live, tmp_path / "Master.csv.1")
    live.write_text("")  # truncated: no complete first line yet, so no identity; it waits
    got, cursor = read(tmp_path, cursor)
    assert got == numbers(3)
    live.write_text(row(5))
    assert read(tmp_path, cursor)[0] == numbers(5)


def test_files_gone_from_the_directory_leave_the_cursor(tmp_path: Path) -> None:
    (tmp_path / "Master.csv.1").write_text(row(1))
    (tmp_path / "Master.csv").write_text(row(2))
    _, cursor = read(tmp_path, None)
    (tmp_path / "Master.csv.1").unlink()
    got, cursor = read(tmp_path, cursor)
    assert got == [] and [e["name"] for e in cursor["files"].values()] == ["Master.csv"]  # type: ignore[index]


def test_a_file_rewritten_shorter_is_read_again_and_lands_only_what_is_new(
    tmp_path: Path, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    live = tmp_path / "Master.csv"
    live.write_text(row(1) + row(2) + row(3))
    source = CdrFileSource("cdr", CdrOptions(path=str(tmp_path)))
    assert land_stream(sessions, "cdr", source.read).landed == 3
    live.write_text(row(1) + row(9))  # same first line, shorter: edited in place
    with caplog.at_level(logging.WARNING):
        again = land_stream(sessions, "cdr", source.read)
    assert (again.received, again.landed) == (2, 1)
    assert "shorter than the stored offset" in caplog.text and "1380013" not in caplog.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(LandingRecord)) == 4


def test_the_example_files_read_oldest_first_with_the_malformed_row_kept(tmp_path: Path) -> None:
    for f in (EXAMPLES / "cdr").glob("Master.csv*"):
        shutil.copy(f, tmp_path / f.name)  # fresh mtimes, as after a git checkout
    source = CdrFileSource("cdr", CdrOptions(path=str(tmp_path), timezone="Asia/Shanghai"))
    records = [r for b in source.read(None) for r in b.records]
    starts = [r.payload["start"] for r in records if not r.payload.get("malformed")]
    assert starts == sorted(starts) and len(records) == 9
    assert sum(1 for r in records if r.payload.get("malformed")) == 1
    assert {"张三", "王喆", "刘德华", "O'Brien, Kate"} <= {r.payload.get("caller_name") for r in records}
