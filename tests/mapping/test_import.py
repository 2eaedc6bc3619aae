"""``import_file`` / ``crmhub import``: files land once, map through the proposed spec, and every rejection is reported."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm_core.cli import main
from crm_core.hub import Hub
from crm_core.importer import ImportReport, escape_cell, import_file, read_report
from crm_core.models import ContactRecord, Customer, DeadLetter, LandingRecord
from crm_core.staging import import_spec_path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "legacy" / "customers_legacy.csv"
HOSTILE = 'name"; DROP TABLE customer; --'
HEADER = ["姓名", "手机", "邮箱", "生日", "注册日期", "备注"]
# five date formats across the two date columns: cn, %Y/%m/%d, uk, iso, eu and an Excel serial
ROWS = [
    ["张三", "138 0013 8000", "Zhang.San@Example.com", "1990年3月5日", "2025/8/23", "老客户"],
    ["李四", "13900139000", "lisi@example.cn", "25/12/1985", "45892", ""],
    ["王五", "13700137000", "wangwu@example.com", "1988-07-01", "23.08.2025", "=HYPERLINK(\"http://x\")"],
    ["赵六", "12345", "zhao@", "1992年13月1日", "2025-01-02", ""],
]


def _by_email(hub: Hub) -> dict[str, ContactRecord]:
    with hub.sessions() as session:
        return {r.email: r for r in session.scalars(select(ContactRecord)) if r.email}


def _count(hub: Hub, model: type) -> int:
    with hub.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",",
               bom: bool = False) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + buffer.getvalue().encode(encoding))
    return path


def _write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    wb.save(path)
    return path


def test_the_legacy_example_imports_with_every_bad_row_reported(make_hub: Callable[..., Hub], db_url: str,
                                                                tmp_path: Path) -> None:
    hub = make_hub(url=db_url)

    report = import_file(hub, EXAMPLE, report_path=tmp_path / "report.csv")

    assert report.source == "import_customers_legacy" and report.spec_origin == "proposed"
    assert report.table == "CSV in gb18030, semicolon-separated"
    assert (report.rows_read, report.blank_rows, report.landed, report.mapped) == (11, 1, 9, 7)
    assert report.rejected_rows == 3
    rejected = {(r["row"], r["column"], r["reason"].split(" (")[0]) for r in read_report(tmp_path / "report.csv")
                if r["kind"] != "count"}
    assert rejected == {
        ("6", "手机", "not a valid phone number for CN"),
        ("6", "电子邮件", "There must be something after the @-sign"),
        ("6", "生日", "not a date in any expected format"),  # 1988年13月1日: no 13th month
        ("8", "电子邮件", "an email address needs an @ sign"),  # '=1+2, escaped
        ("10", "", "12 cells but the header has 11 columns"),
    }
    records = _by_email(hub)
    zhang = records["zhang.san@example.com"].normalized
    assert (zhang["full_name"], zhang["phone"], zhang["birth_date"]) == ("张三", "+8613800138000", "1990-03-05")
    assert zhang["attributes"]["registered_on"] == "2025-08-23" and zhang["attributes"]["会员等级"] == "金卡"
    assert records["lisi@example.cn"].normalized["birth_date"] == "1985-12-25"            # 1985/12/25
    assert records["wangwu@example.com"].normalized["birth_date"] == "1985-12-25"         # 25/12/1985 (uk)
    assert records["wangwu@example.com"].normalized["attributes"]["registered_on"] == "2025-08-23"  # 45892
    assert records["zhaoliu@example.com"].normalized["attributes"]["registered_on"] == "2025-08-23"  # 23.08.2025
    assert records["sunba@example.com"].normalized["birth_date"] == "1991-02-20"          # 20/02/1991
    assert _count(hub, DeadLetter) == 2  # the two rows that failed mapping can be replayed after a fix


def test_reimporting_the_same_file_lands_nothing_new_and_reports_the_same_rejections(
        make_hub: Callable[..., Hub], db_url: str, tmp_path: Path) -> None:
    hub = make_hub(url=db_url)
    path = _write_csv(tmp_path / "客户.csv", [HEADER, *ROWS], encoding="gbk")
    first = import_file(hub, path)
    counts = (_count(hub, LandingRecord), _count(hub, ContactRecord), _count(hub, DeadLetter))

    again = import_file(hub, path)

    assert (first.landed, first.mapped, first.rejected_rows) == (4, 3, 1)
    assert (again.landed, again.already_landed, again.mapped, again.rejected_rows) == (0, 4, 0, 1)
    assert again.spec_origin == "saved"  # the first import's spec, perhaps edited since, is reused
    assert (_count(hub, LandingRecord), _count(hub, ContactRecord), _count(hub, DeadLetter)) == counts
    assert [(r.row, r.column) for r in again.rejections] == [(5, "手机"), (5, "邮箱"), (5, "生日")]


def test_every_row_is_accounted_for(make_hub: Callable[..., Hub], db_url: str, tmp_path: Path) -> None:
    hub = make_hub(url=db_url)
    rows = [HEADER, *ROWS, [], ["钱七", "13600136000", "qian@example.com", "", "", "", "多余"], ROWS[0]]
    path = _write_csv(tmp_path / "c.csv", rows)

    report = import_file(hub, path, batch_size=2)

    skipped = sum(1 for r in report.rejections if r.kind == "skipped")
    assert report.rows_read == 7 and report.blank_rows == 1 and skipped == 1
    assert report.rows_read == report.blank_rows + skipped + report.landed + report.already_landed
    assert report.already_landed == 1  # the repeated first row
    assert report.mapped + (report.rejected_rows - skipped) == report.landed
    assert report.counts()["contacts created"] == report.mapped


def test_rows_that_share_a_contact_key_are_counted_as_updates(make_hub: Callable[..., Hub], tmp_path: Path) -> None:
    hub = make_hub()
    rows = [["编号", "姓名", "邮箱"], ["C1", "张三", "z@example.com"], ["C2", "张三丰", "z@example.com"]]

    report = import_file(hub, _write_csv(tmp_path / "dup.csv", rows), key_column="")

    assert (report.landed, report.mapped, _count(hub, ContactRecord)) == (2, 2, 1)  # keyed by the email
    assert "1 contacts updated by a later row or import" in report.summary()


def test_utf8_bom_csv_and_xlsx_files_import_alike(make_hub: Callable[..., Hub], db_url: str, tmp_path: Path) -> None:
    hub = make_hub(url=db_url)
    bom = _write_csv(tmp_path / "bom.csv", [HEADER, *ROWS[:2]], bom=True)
    xlsx = _write_xlsx(tmp_path / "book.xlsx", [HEADER, ["张三", 13800138000, "Zhang.San@Example.com", "1990年3月5日",
                                                         45892, None]])

    from_csv = import_file(hub, bom)
    from_xlsx = import_file(hub, xlsx)

    assert (from_csv.landed, from_csv.mapped, from_xlsx.landed, from_xlsx.mapped) == (2, 2, 1, 1)
    with hub.sessions() as session:
        xlsx_record = session.scalars(select(ContactRecord).where(ContactRecord.source == "import_book")).one()
    assert xlsx_record.phone == "+8613800138000"  # typed as a number in Excel
    assert xlsx_record.normalized["attributes"]["registered_on"] == "2025-08-23"  # an Excel serial in the cell


def test_formula_looking_cells_are_escaped_in_the_report(make_hub: Callable[..., Hub], tmp_path: Path) -> None:
    hub = make_hub()
    rows = [["姓名", "邮箱"], ["A", "=HYPERLINK(\"http://evil\",\"x\")"], ["B", "+1 cmd"], ["C", "-2+3"],
            ["D", "@SUM(A1)"], ["E", "e@example.com"]]
    path = _write_csv(tmp_path / "f.csv", rows)

    import_file(hub, path, report_path=tmp_path / "r.csv")

    values = [r["value"] for r in read_report(tmp_path / "r.csv") if r["kind"] == "rejected"]
    assert values == ["'=HYPERLINK(\"http://evil\",\"x\")", "'+1 cmd", "'-2+3", "'@SUM(A1)"]
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)  # nothing a spreadsheet would evaluate


@pytest.mark.parametrize(("cell", "written"), [
    ("=1+2", "'=1+2"), ("+86 138", "'+86 138"), ("-5", "'-5"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("张三", "张三"), ("a=b", "a=b"), ("", ""),
])
def test_escape_cell(cell: str, written: str) -> None:
    assert escape_cell(cell) == written


def test_a_hostile_header_stays_a_harmless_attribute(make_hub: Callable[..., Hub], db_url: str,
                                                    tmp_path: Path) -> None:
    hub = make_hub(url=db_url)
    path = _write_csv(tmp_path / "h.csv", [["姓名", "邮箱", HOSTILE],
                                           ["张三", "z@example.com", "'); DROP TABLE contact_record; --"]])

    report = import_file(hub, path)

    assert report.mapped == 1
    record = _by_email(hub)["z@example.com"]
    assert record.normalized["attributes"] == {"name_DROP_TABLE_customer": "'); DROP TABLE contact_record; --"}
    assert record.raw["attributes.name_DROP_TABLE_customer"] == "'); DROP TABLE contact_record; --"
    assert _count(hub, Customer) == 0  # the table is still there and answers


def test_an_explicit_source_and_an_edited_spec_are_kept_for_the_map_stage(make_hub: Callable[..., Hub],
                                                                          tmp_path: Path) -> None:
    hub = make_hub()
    path = _write_csv(tmp_path / "c.csv", [HEADER, *ROWS])
    spec = tmp_path / "edited.yaml"
    spec.write_text("version: 1\ncontacts:\n  - key: '{_key}'\n    fields: {full_name: 姓名}\n", encoding="utf-8")

    report = import_file(hub, path, source="legacy_crm", spec=spec)

    assert report.source == "legacy_crm" and report.spec_origin == "given" and report.rejected_rows == 0
    assert import_spec_path(hub.home, "legacy_crm").read_text(encoding="utf-8") == spec.read_text(encoding="utf-8")


@pytest.mark.parametrize("source", ["../etc", "web; DROP", "", "1abc"])
def test_a_source_name_that_is_not_a_plain_name_is_refused(make_hub: Callable[..., Hub], tmp_path: Path,
                                                           source: str) -> None:
    from crm_core.errors import ConfigError

    hub = make_hub()
    path = _write_csv(tmp_path / "c.csv", [HEADER, *ROWS])
    with pytest.raises(ConfigError, match="not a usable source name"):
        import_file(hub, path, source=source or " ")


def test_progress_is_reported_per_batch(make_hub: Callable[..., Hub], tmp_path: Path) -> None:
    hub = make_hub()
    path = _write_csv(tmp_path / "c.csv", [HEADER, *ROWS])
    seen: list[int] = []

    def progress(report: ImportReport) -> None:
        seen.append(report.rows_read)

    import_file(hub, path, progress=progress, batch_size=3)

    assert seen == [3, 4]


def test_the_command_proposes_imports_and_prints_one_summary_line(make_hub: Callable[..., Hub], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    hub = make_hub()
    path = _write_csv(tmp_path / "leads.csv", [HEADER, *ROWS], encoding="gbk", delimiter=";")

    assert main(["--home", str(hub.home), "import", str(path), "--propose-only"]) == 0
    proposed = capsys.readouterr().out
    assert "semicolon-separated" in proposed and "birth_date:" in proposed
    assert not import_spec_path(hub.home, "import_leads").exists()  # proposing writes nothing

    assert main(["--home", str(hub.home), "import", str(path), "--report", str(tmp_path / "r.csv")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].startswith("import import_leads: 4 rows read, 4 landed (0 already landed), "
                                           "3 mapped, 1 rejected")
    assert "row 5 手机: not a valid phone number" in err
    assert import_spec_path(hub.home, "import_leads").exists()


def _many_rows(path: Path, count: int) -> Path:
    rows = [["姓名", "手机", "城市"]] + [[f"客户{i}", f"138{i:08d}", "上海"] for i in range(count)]
    return _write_csv(path, rows)


def test_without_a_terminal_a_progress_line_comes_every_n_rows(make_hub: Callable[..., Hub], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    hub = make_hub()
    path = _many_rows(tmp_path / "many.csv", 25)

    assert main(["--home", str(hub.home), "import", str(path), "--batch-size", "5", "--progress-every", "10"]) == 0

    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("import import_many:")]
    assert lines == ["import import_many: 10 rows read, 10 landed, 0 rejected",
                     "import import_many: 20 rows read, 20 landed, 0 rejected"]
    assert "25 rows read, 25 landed" in out.splitlines()[-1]


def test_on_a_terminal_the_import_shows_rich_progress_and_ends_with_the_summary(make_hub: Callable[..., Hub],
                                                                                 tmp_path: Path) -> None:
    import os
    import shlex
    import subprocess
    import sys

    hub = make_hub()
    path = _many_rows(tmp_path / "tty.csv", 15)
    command = shlex.join([sys.executable, "-m", "crm_core.cli", "--home", str(hub.home), "import", str(path),
                          "--batch-size", "5"])
    # `script` gives the command a pseudo-terminal, so stderr.isatty() is true as for a person at a console
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})

    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stdout
    assert "15 rows, 15 landed, 15 mapped, 0 rejected" in proc.stdout  # the live display's last state
    assert "import import_tty: 15 rows read, 15 landed (0 already landed), 15 mapped" in proc.stdout
