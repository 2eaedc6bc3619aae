"""Reading contact files: encodings, delimiters, Excel, headers and the rows that cannot be read as written."""

from __future__ import annotations

import codecs
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from crm_core.errors import ConfigError
from crm_core.importer import detect_encoding, open_table, sniff_delimiter

HEADER = ["姓名", "手机", "邮箱", "城市"]
ROWS = [["张三", "13800138000", "zhang@example.com", "上海"], ["李四", "13900139000", "li@example.cn", "北京"]]


def _csv(path: Path, rows: list[list[str]], encoding: str, delimiter: str = ",", bom: bytes = b"") -> Path:
    text = "\r\n".join(delimiter.join(r) for r in rows) + "\r\n"
    path.write_bytes(bom + text.encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "bom", "delimiter", "expected_encoding"), [
    pytest.param("utf-8", b"", ",", "utf-8", id="utf8-comma"),
    pytest.param("utf-8", codecs.BOM_UTF8, ",", "utf-8-sig", id="utf8-bom"),
    pytest.param("gbk", b"", ";", "gb18030", id="gbk-semicolon"),
    pytest.param("gb18030", b"", "\t", "gb18030", id="gb18030-tab"),
])
def test_a_csv_is_read_in_its_encoding_and_delimiter(tmp_path: Path, encoding: str, bom: bytes, delimiter: str,
                                                     expected_encoding: str) -> None:
    path = _csv(tmp_path / "contacts.csv", [HEADER, *ROWS], encoding, delimiter, bom)

    table = open_table(path)

    assert (table.encoding, table.delimiter) == (expected_encoding, delimiter)
    assert table.headers == tuple(HEADER)  # no BOM glued to the first header
    rows = list(table.rows())
    assert [r.values for r in rows] == [dict(zip(HEADER, r, strict=True)) for r in ROWS]
    assert [r.number for r in rows] == [2, 3]  # what a spreadsheet shows: the header is row 1


def test_a_short_gbk_sample_is_still_read_as_gb18030() -> None:
    # detectors often call a few GBK bytes Big5 or a Cyrillic code page; GB18030 decodes GB2312/GBK completely
    assert detect_encoding("姓名,手机\r\n王小明,138\r\n".encode("gbk")) == "gb18030"


def test_an_explicit_encoding_and_delimiter_win_over_detection(tmp_path: Path) -> None:
    path = _csv(tmp_path / "c.csv", [["a|b", "c"], ["1|2", "3"]], "utf-8", ",")

    table = open_table(path, encoding="latin-1", delimiter="|")

    assert (table.encoding, table.headers) == ("iso8859-1", ("a", "b,c"))


@pytest.mark.parametrize(("text", "delimiter"), [
    ("name,phone,city\nA,1,X\nB,2,Y\n", ","),
    ("name;phone;note\nA;1;a, b and c\nB;2;d, e\n", ";"),  # commas inside values do not fool it
    ("name\tphone\nA\t1\n", "\t"),
    ("just one column\nA\nB\n", ","),
])
def test_the_delimiter_that_splits_every_record_alike_wins(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter


def test_headers_lose_bom_full_width_forms_and_stray_spaces_and_stay_unique(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(codecs.BOM_UTF8 + "\ufeff 姓名　, Ｅｍａｉｌ ,,城市,城市\nA,a@b.cn,x,y,z\n".encode())

    table = open_table(path)

    assert table.headers == ("姓名", "Email", "column_3", "城市", "城市_2")


def test_a_row_with_more_cells_than_columns_is_a_problem_not_a_guess(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", [["姓名", "手机"], ["张三", "138", "多余"], ["李四"]], "utf-8")

    too_many, too_few = list(open_table(path).rows())

    assert too_many.problem is not None and "3 cells but the header has 2 columns" in too_many.problem
    assert too_few.problem is None and too_few.values == {"姓名": "李四"}  # missing trailing cells are blanks


def test_bytes_that_do_not_decode_mark_their_row_and_name_the_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("姓名,城市\n张三,上海\n".encode() + b"Li,\xff\xfe\n")

    good, bad = list(open_table(path, encoding="utf-8").rows())

    assert good.problem is None
    assert bad.problem is not None and "not valid utf-8" in bad.problem and bad.column == "城市"


def test_an_xlsx_sheet_is_streamed_with_typed_cells_as_text(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "说明"
    ws = wb.create_sheet("客户")
    ws.append(["姓名", "手机", "生日", "注册时间", "积分"])
    ws.append(["张三", 13800138000, date(1990, 3, 5), datetime(2025, 8, 23, 9, 30), 12.5])
    ws.append([None, None, None, None, None])
    ws.append(["李四", "139 0013 9000", "1985年12月25日", 45892, 3.0])
    wb.save(tmp_path / "c.xlsx")

    table = open_table(tmp_path / "c.xlsx", sheet="客户")

    assert (table.kind, table.sheet, table.headers) == ("xlsx", "客户", ("姓名", "手机", "生日", "注册时间", "积分"))
    rows = list(table.rows())
    assert [r.number for r in rows] == [2, 3, 4]
    assert rows[0].values == {"姓名": "张三", "手机": "13800138000", "生日": "1990-03-05",
                              "注册时间": "2025-08-23 09:30:00", "积分": "12.5"}
    assert rows[1].values == {}
    assert rows[2].values["注册时间"] == "45892" and rows[2].values["积分"] == "3"


def test_an_unknown_sheet_or_an_old_xls_is_one_clear_error(tmp_path: Path) -> None:
    wb = Workbook()
    wb.save(tmp_path / "c.xlsx")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")

    with pytest.raises(ConfigError, match="no sheet 'x'"):
        open_table(tmp_path / "c.xlsx", sheet="x")
    with pytest.raises(ConfigError, match="save the sheet as .xlsx or CSV"):
        open_table(tmp_path / "old.xls")


def _peak_bytes_while_reading(path: Path) -> int:
    import tracemalloc

    table = open_table(path)
    tracemalloc.start()
    try:
        assert sum(1 for _ in table.rows()) > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_csv_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("姓名,手机,城市,备注\n")
        fh.writelines(f"客户{i},138{i:08d},上海,第{i}位客户\n" for i in range(30_000))

    # all 30 000 rows as dicts would take tens of megabytes; a stream holds one row and the reader's buffer
    assert _peak_bytes_while_reading(path) < 1_000_000


def test_a_long_sheet_is_streamed_holding_only_a_small_residue_per_row(tmp_path: Path) -> None:
    def sheet(rows: int) -> Path:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("客户")
        ws.append(["姓名", "手机", "城市"])
        for i in range(rows):
            ws.append(["客户", 13800000000 + i, "上海"])
        wb.save(tmp_path / f"{rows}.xlsx")
        return tmp_path / f"{rows}.xlsx"

    short, long = _peak_bytes_while_reading(sheet(1000)), _peak_bytes_while_reading(sheet(4000))

    # openpyxl's read-only parser clears each row's XML element but leaves the empty element in the tree: about
    # 170 bytes a row (≈170 MB for a million rows). Loading the sheet instead costs over 1 300 bytes a row.
    per_row = (long - short) / 3000
    assert per_row < 400
