"""The sliver of SOQL the Salesforce fake understands: what the hub's connector sends, nothing more.

    SELECT f1, f2 FROM Contact [WHERE cond [AND cond]…] [ORDER BY f [ASC|DESC]] [LIMIT n]
    cond := field IN ('a', 'b') | field (=|>|>=|<|<=) 'text' | field (…) 2025-01-01T00:00:00.000Z | field = null

Anything else raises ``SoqlError`` which the fake answers with ``MALFORMED_QUERY``, as Salesforce does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class SoqlError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...]
    order_by: str | None
    descending: bool
    limit: int | None


_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<dir>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_STRING = r"'(?:[^'\\]|\\.)*'"
_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})"
_COND = re.compile(
    rf"\s*(?P<field>\w+)\s*(?:(?P<in>IN)\s*\((?P<list>\s*{_STRING}(?:\s*,\s*{_STRING})*\s*)\)"
    rf"|(?P<op>>=|<=|!=|=|>|<)\s*(?P<value>{_STRING}|{_DATETIME}|null))\s*",
    re.IGNORECASE,
)


def unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _value(text: str) -> Any:
    if text.lower() == "null":
        return None
    if text.startswith("'"):
        return unquote(text)
    return parse_datetime(text)


def parse(soql: str) -> Query:
    m = _QUERY.match(soql)
    if not m:
        raise SoqlError("unexpected token")
    conditions: list[Condition] = []
    where = m.group("where")
    if where:
        for part in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE):
            c = _COND.fullmatch(part)
            if not c:
                raise SoqlError(f"cannot parse condition near {part[:30]!r}")
            if c.group("in"):
                values = [unquote(v) for v in re.findall(_STRING, c.group("list"))]
                conditions.append(Condition(c.group("field"), "IN", tuple(values)))
            else:
                conditions.append(Condition(c.group("field"), c.group("op"), _value(c.group("value"))))
    return Query(
        fields=tuple(f.strip() for f in m.group("fields").split(",")),
        sobject=m.group("obj"),
        where=tuple(conditions),
        order_by=m.group("order"),
        descending=(m.group("dir") or "").upper() == "DESC",
        limit=int(m.group("limit")) if m.group("limit") else None,
    )


def matches(record: dict[str, Any], cond: Condition, as_datetime: Any) -> bool:
    value = record.get(cond.field)
    if cond.op == "IN":
        return value in cond.value
    other = cond.value
    if isinstance(other, datetime):
        value = as_datetime(value)
        if value is None:
            return False
    ops = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a is not None and a > b,
        ">=": lambda a, b: a is not None and a >= b,
        "<": lambda a, b: a is not None and a < b,
        "<=": lambda a, b: a is not None and a <= b,
    }
    return bool(ops[cond.op](value, other))
