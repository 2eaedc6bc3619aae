"""Asterisk Master.csv rows: caller ids, optional columns, zones, encodings, and rows that are not rows."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import pytest

from connectors.phone._cdr_parse import decode_line, parse_caller_id, parse_row
from connectors.phone.cdr import complete_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")


def cdr_line(src: str = "13800138000", dst: str = "6001", context: str = "from-external",
             clid: str = '"Zhang, San" <13800138000>', extra: tuple[str, ...] = ("1755825123.17", "")) -> str:
    fields = ["", src, dst, context, clid, "SIP/trunk-1", "SIP/6001-2", "Dial", "SIP/6001,30",
              "2025-08-22 09:12:03", "2025-08-22 09:12:09", "2025-08-22 09:16:40", "277", "271", "ANSWERED",
              "DOCUMENTATION", *extra]
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow(fields)
    return out.getvalue()


@pytest.mark.parametrize(
    ("clid", "expected"),
    [
        pytest.param('"Zhang, San" <1001>', ("Zhang, San", "1001"), id="quoted-name-with-comma"),
        pytest.param('"王喆" <02162881234>', ("王喆", "02162881234"), id="chinese-name"),
        pytest.param("Kate <+35315550199>", ("Kate", "+35315550199"), id="unquoted-name"),
        pytest.param("<1001>", (None, "1001"), id="number-only-in-brackets"),
        pytest.param('"" <1001>', (None, "1001"), id="empty-name"),
        pytest.param("1001", (None, "1001"), id="bare-number"),
        pytest.param("Anonymous", ("Anonymous", None), id="withheld"),
        pytest.param("", (None, None), id="empty"),
    ],
)
def test_caller_id_splits_into_name_and_number(clid: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_caller_id(clid) == expected


def test_an_inbound_call_names_the_caller_as_the_customer_in_the_pbx_zone() -> None:
    key, payload = parse_row(cdr_line(), SHANGHAI)
    assert key.startswith("1755825123.17:")
    assert payload["caller_name"] == "Zhang, San" and payload["customer_number"] == "13800138000"
    assert payload["direction"] == "inbound"
    assert payload["start"] == "2025-08-22T09:12:03+08:00"
    assert (payload["duration"], payload["billsec"], payload["disposition"]) == (277, 271, "ANSWERED")


def test_an_outbound_call_names_the_dialled_number_as_the_customer() -> None:
    _, payload = parse_row(cdr_line(src="6002", dst="00493012345670", context="from-internal",
                                    clid='"Sales Desk" <6002>'), SHANGHAI)
    assert (payload["direction"], payload["customer_number"], payload["caller_name"]) == (
        "outbound", "00493012345670", None)


def test_an_extension_to_extension_call_is_internal_with_no_customer() -> None:
    _, payload = parse_row(cdr_line(src="6003", context="from-internal", clid='"Li Wei" <6003>'), SHANGHAI)
    assert (payload["direction"], payload["customer_number"], payload["caller_name"]) == ("internal", None, None)


def test_the_default_sixteen_columns_without_uniqueid_are_keyed_by_the_row() -> None:
    key, payload = parse_row(cdr_line(extra=()), SHANGHAI)
    assert key.startswith("row:") and payload["uniqueid"] is None and "malformed" not in payload


def test_newcdrcolumns_add_peeraccount_linkedid_and_sequence() -> None:
    _, payload = parse_row(cdr_line(extra=("1755825123.17", "vip", "", "1755825123.10", "42")), SHANGHAI)
    assert (payload["linkedid"], payload["userfield"]) == ("1755825123.10", "vip")


def test_a_line_that_is_not_a_cdr_row_lands_as_malformed_instead_of_vanishing() -> None:
    key, payload = parse_row("garbage, not a row", SHANGHAI)
    assert key.startswith("row:") and payload == {"schema": "cdr/1", "malformed": True, "raw": "garbage, not a row"}


def test_explicit_columns_must_match_the_row_length() -> None:
    _, payload = parse_row(cdr_line(), SHANGHAI, columns=["a", "b"])
    assert payload["malformed"] is True


def test_the_same_row_always_gets_the_same_key_and_payload() -> None:
    assert parse_row(cdr_line(), SHANGHAI) == parse_row(cdr_line(), SHANGHAI)


def test_gbk_caller_names_from_older_pbxes_are_decoded() -> None:
    raw = cdr_line(clid='"刘德华" <13501234567>').encode("gb18030")
    _, payload = parse_row(decode_line(raw), SHANGHAI)
    assert payload["caller_name"] == "刘德华"


def test_a_quoted_newline_inside_a_field_does_not_end_the_row() -> None:
    first = cdr_line().replace("SIP/6001,30", 'SIP/6001,30\nmore')
    data = (first + "\n" + cdr_line() + "\n").encode()
    rows = list(complete_rows(data))
    assert len(rows) == 2 and b"\nmore" in rows[0][1]


def test_a_partial_last_row_is_held_back() -> None:
    data = (cdr_line() + "\n" + cdr_line()[:40]).encode()
    rows = list(complete_rows(data))
    assert len(rows) == 1 and rows[0][0] == len(cdr_line()) + 1
