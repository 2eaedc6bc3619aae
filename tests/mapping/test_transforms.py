"""Every named transform, one real-world example each (and the list's documentation stays complete)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mapping import TRANSFORMS, NormalisationError
from mapping._transforms import Context, run

CASES: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("trim", {}, "  王五 ", "王五"),
    ("clean", {}, "ＡＢＣ\u200b  公司\u3000", "ABC 公司"),
    ("lower", {}, "Sales@Firma.DE", "sales@firma.de"),
    ("upper", {}, "cn", "CN"),
    ("prefix", {"value": "@"}, "jack", "@jack"),
    ("truncate", {"length": 5}, "一二三四五六七", "一二三四五"),
    ("replace", {"pattern": r"\s*\(.*\)", "with": ""}, "ACME GmbH (Berlin)", "ACME GmbH"),
    ("extract", {"pattern": r"订单号[:：]\s*(\d+)"}, "您好，订单号：12345 已发货", "12345"),
    ("strip_html", {}, "<div>Hi<br>there</div>", "Hi\nthere"),
    ("split", {}, "VIP、回访；new", ["VIP", "回访", "new"]),
    ("join", {"sep": " "}, ["Jan", "", "Berg"], "Jan Berg"),
    ("first", {}, ["", None, "x@y.cn"], "x@y.cn"),
    ("map", {"values": {"男": "M", "女": "F"}}, "女", "F"),
    ("default", {"value": "import"}, "", "import"),
    ("email", {}, "<Li@163.COM>", "li@163.com"),
    ("phone", {"region": "DE"}, "030 1234567", "+49301234567"),
    ("name", {}, "SMITH, JOHN", "John Smith"),
    ("split_name", {"part": "family"}, "欧阳娜娜", "欧阳"),
    ("date", {"formats": ["eu"]}, "23.08.2025", "2025-08-23"),
    ("datetime", {"timezone": "Asia/Shanghai"}, "2025-08-23 09:30", "2025-08-23T01:30:00+00:00"),
    ("country", {}, "德国", "DE"),
    ("boolean", {}, "opt-in", True),
    ("decimal", {}, "¥1,200万", 12000000),
    ("integer", {}, "1,024", 1024),
    ("text", {}, 42, "42"),
]


@pytest.mark.parametrize(("name", "args", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_transform(name: str, args: dict[str, Any], value: Any, expected: Any) -> None:
    assert run(name, value, args, Context()) == expected


def test_every_transform_has_an_example_here_and_a_row_in_the_docs() -> None:
    assert {c[0] for c in CASES} == set(TRANSFORMS)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "mapping.md").read_text(encoding="utf-8")
    missing = [name for name in TRANSFORMS if f"`{name}`" not in docs]
    assert missing == []


def test_scalar_transforms_work_item_by_item_on_lists() -> None:
    assert run("phone", ["13800138000", "010 6552 9988"], {}, Context()) == ["+8613800138000", "+861065529988"]


def test_map_can_reject_values_outside_its_table() -> None:
    with pytest.raises(NormalisationError, match="not one of the expected values"):
        run("map", "未知", {"values": {"男": "M"}, "other": "reject"}, Context())


def test_the_datetime_transform_reports_the_source_zone() -> None:
    ctx = Context()
    run("datetime", "2025-08-23T09:30:00+08:00", {}, ctx)
    assert ctx.notes["source_tz"] == "+08:00"
