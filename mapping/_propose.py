"""Proposing a mapping spec for a table of contacts from its headers and a sample of its values.

``crmhub import`` reads a spreadsheet nobody wrote a spec for. The proposal maps the columns it recognises (English
and Chinese header names: ``姓名``, ``手机``, ``邮箱``, ``生日``, …) to canonical fields and keeps every other column as a
text attribute, so nothing in the file is lost. It is a *proposal*: a YAML document a person can read, edit and pass
back with ``--spec``.

What is surprising:

- Headers are data, not identifiers we trust. A header becomes an attribute name only when it passes
  ``ATTRIBUTE_NAME`` (letters, digits, underscore, any script); anything else (``name"; DROP TABLE customer; --``)
  is reduced to the allowed characters. The source path (``from:``) keeps the header as written: it is only ever
  a key looked up in the row's JSON payload.
- Date formats are guessed from the values. ``03/04/2025`` is month-first (``us``) or day-first (``uk``); a value
  with a part above 12 (``25/03/2025``) settles it for the column. Without such evidence, or with evidence for
  both, the proposal lists both and sets ``ambiguous: reject``: an undecidable value is a reported rejection,
  never a silently wrong birthday.
- Spreadsheet serial numbers (``45892``) are dates only in a column whose header says "date" or whose other
  values are dates; a column of 5-digit customer numbers stays text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ._dates import parse_date
from ._text import NormalisationError, fold, is_blank

# An attribute name: word characters of any script (Chinese included), not starting with a digit, ≤ 64 long.
ATTRIBUTE_NAME = re.compile(r"[^\W\d]\w{0,63}")
SAMPLE_ROWS = 500
DATE_SHARE = 0.8  # a column is a date column when this share of its sampled values are dates

# canonical field → header names (compared after _header_key: NFKC, lower case, no spaces or punctuation)
_FIELDS: dict[str, tuple[str, ...]] = {
    "full_name": ("name", "fullname", "contactname", "contact", "customername", "customer", "clientname",
                  "姓名", "名字", "联系人", "客户姓名", "客户", "客户名称", "称呼", "联系人姓名"),
    "given_name": ("firstname", "givenname", "forename", "名"),
    "family_name": ("lastname", "surname", "familyname", "姓"),
    "email": ("email", "emailaddress", "mail", "mailaddress", "邮箱", "电子邮件", "电子邮箱", "邮件", "邮箱地址",
              "电子邮件地址"),
    "phone": ("phone", "mobile", "tel", "telephone", "cell", "cellphone", "mobilephone", "phonenumber",
              "mobilenumber", "手机", "手机号", "手机号码", "电话", "联系电话", "电话号码", "移动电话", "联系方式",
              "座机"),
    "company": ("company", "companyname", "organisation", "organization", "employer", "account", "公司",
                "单位", "公司名称", "工作单位", "企业", "企业名称", "所在单位"),
    "title": ("title", "jobtitle", "position", "role", "职位", "职务", "头衔"),
    "street": ("address", "street", "streetaddress", "addressline1", "地址", "联系地址", "详细地址", "住址",
               "通讯地址", "街道"),
    "city": ("city", "town", "城市", "所在城市", "市"),
    "postcode": ("postcode", "zip", "zipcode", "postalcode", "邮编", "邮政编码"),
    "state": ("state", "province", "region", "county", "省", "省份", "所在省份"),
    "country": ("country", "国家", "国家地区"),
    "birth_date": ("birthday", "birthdate", "dateofbirth", "dob", "生日", "出生日期", "出生年月日", "出生年月"),
    "language": ("language", "语言"),
    "national_id": ("nationalid", "idcard", "idnumber", "身份证", "身份证号", "身份证号码"),
    "tags": ("tags", "tag", "labels", "标签"),
}
# well-known custom fields: attribute name → (type, header names)
_KNOWN_ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "notes": ("text", ("notes", "note", "remark", "remarks", "comment", "comments", "备注", "说明", "留言",
                       "备注信息")),
    "registered_on": ("date", ("registered", "registeredon", "registrationdate", "signupdate", "signedup",
                               "createdat", "created", "createdon", "注册日期", "注册时间", "注册日", "创建日期",
                               "创建时间", "入会日期")),
    "budget": ("decimal", ("budget", "购房预算", "预算")),
}
# header names of an identifier column: a stable landing key
ID_HEADERS = ("id", "customerid", "clientid", "contactid", "customerno", "customernumber", "memberid", "编号",
              "客户编号", "客户id", "会员编号", "会员号", "会员id", "客户代码")
_DATE_HINT = re.compile(r"date|day|birth|dob|created|registered|日期|生日|时间|日$", re.IGNORECASE)
# date formats the guesser tries, in the order a proposal lists them
_CANDIDATES = ("iso", "cn", "%Y/%m/%d", "%Y.%m.%d", "us", "uk", "eu", "%Y%m%d", "excel")
_ISO = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[T ].*)?")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


@dataclass(frozen=True)
class Proposal:
    """A proposed spec document, the notes a person should read before trusting it, and the id column if any."""

    document: dict[str, Any]
    notes: tuple[str, ...] = ()
    key_column: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # header → what it maps to ("full_name", "attributes.x")

    def as_yaml(self, title: str = "") -> str:
        head = [f"# {title}"] if title else []
        head += [f"# {note}" for note in self.notes]
        body = yaml.safe_dump(self.document, allow_unicode=True, sort_keys=False, width=120, default_flow_style=None)
        return "\n".join(head) + ("\n" if head else "") + body


def attribute_name(header: str, taken: Iterable[str] = (), index: int = 0) -> str:
    """An allow-listed attribute name for a header: the header itself when it is safe, else its safe characters."""
    taken = set(taken)
    name = fold(header)
    if not ATTRIBUTE_NAME.fullmatch(name):
        name = re.sub(r"\W+", "_", name).strip("_")[:64].strip("_")
        if not name or not ATTRIBUTE_NAME.fullmatch(name):
            name = f"column_{index + 1}" if not name else f"c_{name}"[:64]
    base, n = name, 2
    while name in taken:
        suffix = f"_{n}"
        name, n = base[:64 - len(suffix)] + suffix, n + 1
    return name


def propose_spec(headers: Sequence[str], sample: Iterable[Mapping[str, Any]], name: str = "import",
                 description: str = "", key_column: str | None = None, region: str = "CN",
                 timezone: str = "Asia/Shanghai") -> Proposal:
    """Build a spec document for rows keyed by ``headers``, guessing types and date formats from ``sample``.

    ``key_column``: the identifier column (detected from the headers when None; ``""`` for none). Rows are then
    keyed by it; otherwise contacts are keyed by email, phone, then the row's content hash.
    """
    rows = list(sample)
    columns = {h: [r[h] for r in rows if not is_blank(r.get(h))] for h in headers}
    if key_column is None:
        key_column = detect_key_column(headers, rows)
    key_column = key_column or None
    notes: list[str] = []
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    mapped: dict[str, str] = {}
    by_field: dict[str, list[str]] = {}
    for header in headers:
        target = _field_for(header)
        if target is not None:
            by_field.setdefault(target, []).append(header)
    for target, found in by_field.items():
        if target in ("phone", "email") and len(found) > 1:  # every phone column feeds the list, first is primary
            fields[f"{target}s"] = {"from": found}
            mapped.update({h: f"{target}s" for h in found})
            continue
        header = found[0]
        rule: dict[str, Any] = {"from": header}
        if target == "birth_date":
            rule.update(_date_rule(header, columns[header], notes))
        elif target == "tags":
            rule["transforms"] = ["split"]
        fields[target] = rule if len(rule) > 1 else header
        mapped[header] = target
    for header in headers:
        if header in mapped:
            continue
        known = _known_attribute(header)
        attr = attribute_name(known[0] if known and known[0] not in attributes else header, attributes,
                              headers.index(header))
        if attr != fold(header) and not known:
            notes.append(f"column {header!r} is kept as attribute {attr!r} (names allow letters, digits and _ only)")
        kind = known[1] if known else ("date" if _looks_like_dates(header, columns[header]) else "text")
        rule = {"from": header, "type": kind}
        if kind == "date":
            rule.update(_date_rule(header, columns[header], notes))
        attributes[attr] = rule
        mapped[header] = f"attributes.{attr}"
    contact: dict[str, Any] = {}
    if key_column is not None:
        contact["key"] = "{_key}"
        notes.append(f"rows are keyed by column {key_column!r}: re-importing an edited row updates its contact")
    else:
        contact["key"] = [t for t, f in (("{email}", "email"), ("{phone}", "phone")) if _maps(fields, f)] + ["{_key}"]
    required = [f for f in ("full_name", "email", "phone") if _maps(fields, f)]
    if required:
        contact["required"] = [required]  # at least one way to tell who the row is
    if fields:
        contact["fields"] = fields
    if attributes:
        contact["attributes"] = attributes
    document: dict[str, Any] = {"version": 1, "name": name}
    if description:
        document["description"] = description
    document["defaults"] = {"region": region, "timezone": timezone, "on_error": "reject"}
    document["contacts"] = [contact]
    return Proposal(document=document, notes=tuple(notes), key_column=key_column, columns=mapped)


def detect_key_column(headers: Sequence[str], sample: Iterable[Mapping[str, Any]]) -> str | None:
    """The first identifier column (``id``, ``客户编号``, …) whose sampled values are all present and distinct."""
    rows = list(sample)
    for header in headers:
        if _header_key(header) in ID_HEADERS:
            values = [r.get(header) for r in rows]
            if values and not any(is_blank(v) for v in values) and _unique(values):
                return header
    return None


def guess_date_formats(values: Iterable[Any]) -> tuple[list[str], bool]:
    """The formats, in proposal order, that read at least one value; and whether us/uk stay ambiguous."""
    hits: dict[str, int] = {}
    month_first = day_first = False
    for value in values:
        text = fold(str(value))
        slashed = _SLASHED.fullmatch(text)
        if slashed:
            first, second = int(slashed.group(1)), int(slashed.group(2))
            day_first |= first > 12 >= second
            month_first |= second > 12 >= first
        for fmt in _CANDIDATES:
            if _reads(text, fmt):
                hits[fmt] = hits.get(fmt, 0) + 1
    formats = [f for f in _CANDIDATES if f in hits]
    if "us" in formats or "uk" in formats:
        if day_first and not month_first:
            formats = [f for f in formats if f != "us"]
        elif month_first and not day_first:
            formats = [f for f in formats if f != "uk"]
        else:  # no evidence, or both: keep both readings and refuse to pick one per value
            formats = [f for f in formats if f not in ("us", "uk")]
            formats[_slash_position(formats):_slash_position(formats)] = ["us", "uk"]
            return formats, True
    return formats, False


def _slash_position(formats: list[str]) -> int:
    return sum(1 for f in formats if _CANDIDATES.index(f) < _CANDIDATES.index("us"))


def _reads(text: str, fmt: str) -> bool:
    """Whether ``fmt`` reads ``text``; ISO-shaped text counts only for ``iso`` (the parser accepts it everywhere)."""
    if _ISO.fullmatch(text):
        return fmt == "iso" and _parses(text, ("iso",))
    if fmt == "iso":
        return False
    if fmt == "excel":
        return bool(re.fullmatch(r"\d{5}(\.\d+)?", text)) and 20000 <= float(text) < 80000  # 1954–2119
    if fmt == "%Y%m%d" and not re.fullmatch(r"\d{8}", text):
        return False
    return _parses(text, (fmt,))


def _parses(text: str, formats: tuple[str, ...]) -> bool:
    try:
        parse_date(text, formats, "first")
    except NormalisationError:
        return False
    return True


def _date_rule(header: str, values: list[Any], notes: list[str]) -> dict[str, Any]:
    formats, ambiguous = guess_date_formats(values)
    if not formats:
        formats = ["iso", "cn", "%Y/%m/%d"]
    args: dict[str, Any] = {"formats": formats}
    if ambiguous:
        args["ambiguous"] = "reject"
        notes.append(f"column {header!r}: dates like 03/04/2025 could be us or uk; such values are rejected "
                     "(remove one of the two formats to accept them)")
    notes.append(f"column {header!r}: dates read as {', '.join(formats)}")
    return {"transforms": [{"date": args}]}


def _looks_like_dates(header: str, values: list[Any]) -> bool:
    if not values:
        return bool(_DATE_HINT.search(header))
    texts = [fold(str(v)) for v in values]
    dated = [t for t in texts if any(_reads(t, f) for f in _CANDIDATES if f != "excel")]
    serials = [t for t in texts if _reads(t, "excel")]
    if _DATE_HINT.search(header):
        return (len(dated) + len(serials)) >= DATE_SHARE * len(texts)
    return bool(dated) and (len(dated) + len(serials)) >= DATE_SHARE * len(texts)


def _header_key(header: str) -> str:
    text = re.sub(r"[(（\[【].*?[)）\]】]", "", fold(header))  # "手机（必填）" → "手机"
    return re.sub(r"[\W_]+", "", text.lower())


def _field_for(header: str) -> str | None:
    key = _header_key(header)
    return next((target for target, names in _FIELDS.items() if key in names), None)


def _known_attribute(header: str) -> tuple[str, str] | None:
    key = _header_key(header)
    return next(((attr, kind) for attr, (kind, names) in _KNOWN_ATTRIBUTES.items() if key in names), None)


def _maps(fields: Mapping[str, Any], target: str) -> bool:
    return target in fields or f"{target}s" in fields


def _unique(values: list[Any]) -> bool:
    return bool(values) and len(set(map(str, values))) == len(values)
