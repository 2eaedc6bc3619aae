"""``crmhub dedupe`` on small CSV files: no hub home, no configuration, roles from headers."""

from __future__ import annotations

import csv
from pathlib import Path

from crm_core.cli import main

ROWS_A = [
    ("a1", "Ann", "Lee", "ann.lee@example.com", "+49 151 1234567", "1980-05-04"),
    ("a2", "Anne", "Lee", "ANN.LEE@example.com", "0151-1234567", "1980-05-04"),  # same person, other formats
    ("a3", "Bob", "Marsh", "bob@marsh.org", "+49 170 7654321", "1975-11-30"),
    ("a4", "小明", "王", "", "+86 138 0013 8000", "1990-01-02"),
]
ROWS_B = [
    ("b1", "Xiaoming", "Wang", "", "013800138000", "1990-01-02"),  # a4 in pinyin, trunk-prefixed phone
    ("b2", "Carla", "Diaz", "carla@diaz.es", "+34 600 111 222", "1988-02-03"),
]


def _write(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "First Name", "Surname", "E-Mail", "Phone", "DOB"])
        writer.writerows(rows)
    return path


def _read(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["record_id"]: row["customer_id"] for row in csv.DictReader(fh)}


def test_dedupe_one_file_writes_a_customer_for_every_row(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert main(["dedupe", str(_write(tmp_path / "a.csv", ROWS_A)), "--id-column", "id", "--out", str(out)]) == 0
    customers = _read(out)
    assert set(customers) == {"a1", "a2", "a3", "a4"}
    assert customers["a1"] == customers["a2"]
    assert len({customers["a1"], customers["a3"], customers["a4"]}) == 3


def test_dedupe_links_two_files(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    a, b = _write(tmp_path / "a.csv", ROWS_A), _write(tmp_path / "b.csv", ROWS_B)
    assert main(["dedupe", str(a), str(b), "--id-column", "id", "--out", str(out)]) == 0
    customers = _read(out)
    assert len(customers) == 6
    assert customers["a4"] == customers["b1"]
    assert customers["b2"] not in {customers[x] for x in ("a1", "a3", "a4")}


def test_dedupe_takes_explicit_roles_for_unrecognised_headers(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["key", "who", "mailbox"], ["1", "Ann Lee", "ann@x.com"], ["2", "Ann Lee", "ann@x.com"]])
    out = tmp_path / "out.csv"
    argv = ["dedupe", str(path), "--id-column", "key", "--field", "full_name=who", "--field", "email=mailbox",
            "--out", str(out)]
    assert main(argv) == 0
    assert len(set(_read(out).values())) == 1


def test_dedupe_reports_a_missing_id_column_in_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["dedupe", str(_write(tmp_path / "a.csv", ROWS_A)), "--id-column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
