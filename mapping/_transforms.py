"""The named transforms a mapping spec may use, each with its parameters declared so specs are checked on load.

A transform takes the value read so far and returns the next one; it raises ``NormalisationError`` with a reason
a person can act on. Scalar transforms applied to a list (``split`` output, several source paths) work item by item.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from ._dates import DEFAULT_DATE_FORMATS, DEFAULT_DATETIME_FORMATS, parse_instant, zone
from ._dates import normalise_date as _normalise_date
from ._emails import normalise_email
from ._names import normalise_name, parse_name
from ._phones import normalise_phone
from ._text import NormalisationError, fold, is_blank
from ._values import decimal_to_json, to_boolean, to_country, to_decimal, to_integer


@dataclass
class Context:
    """What transforms may read besides their arguments: the spec's defaults. ``notes`` carries side results
    (the source time zone of a parsed instant) back to the field being mapped."""

    region: str = "CN"
    timezone: str = "UTC"
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    datetime_formats: tuple[str, ...] = DEFAULT_DATETIME_FORMATS
    ambiguous: str = "first"
    notes: dict[str, Any] = field(default_factory=dict)


Fn = Callable[[Any, Mapping[str, Any], Context], Any]


@dataclass(frozen=True)
class Transform:
    name: str
    fn: Fn
    doc: str
    params: Mapping[str, type | tuple[type, ...]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    main: str | None = None  # the parameter a shorthand ``{name: value}`` sets
    per_item: bool = True  # applied to each item of a list value
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


TRANSFORMS: dict[str, Transform] = {}


def _register(name: str, doc: str, **kwargs: Any) -> Callable[[Fn], Fn]:
    def decorate(fn: Fn) -> Fn:
        TRANSFORMS[name] = Transform(name=name, fn=fn, doc=doc, **kwargs)
        return fn

    return decorate


def check_args(name: str, args: Mapping[str, Any]) -> list[str]:
    """Problems with one transform's arguments, as phrases (the caller adds the spec path)."""
    spec = TRANSFORMS.get(name)
    if spec is None:
        return [f"unknown transform {name!r}; known: {', '.join(sorted(TRANSFORMS))}"]
    problems = [f"transform {name!r} has no parameter {key!r}" for key in args if key not in spec.params]
    problems += [f"transform {name!r} needs the parameter {key!r}" for key in spec.required if key not in args]
    for key, value in args.items():
        expected = spec.params.get(key)
        if expected is not None and not isinstance(value, expected):
            problems.append(f"transform {name!r}: {key!r} has the wrong type ({type(value).__name__})")
        elif key in spec.choices and value not in spec.choices[key]:
            problems.append(f"transform {name!r}: {key!r} must be one of {', '.join(spec.choices[key])}")
    if name in {"replace", "extract"} and isinstance(args.get("pattern"), str):
        try:
            re.compile(args["pattern"])
        except re.error as exc:
            problems.append(f"transform {name!r}: pattern is not a regular expression ({exc})")
    if name == "datetime" and isinstance(args.get("timezone"), str):
        try:
            zone(args["timezone"])
        except NormalisationError as exc:
            problems.append(str(exc))
    return problems


def run(name: str, value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    spec = TRANSFORMS[name]
    if spec.per_item and isinstance(value, list):
        return [out for item in value if not is_blank(out := spec.fn(item, args, ctx))]
    if is_blank(value) and name not in {"default"}:
        return value
    return spec.fn(value, args, ctx)


# ---------------------------------------------------------------------------------------------- text


@_register("trim", "strip surrounding whitespace")
def _trim(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return value.strip() if isinstance(value, str) else value


@_register("clean", "fold full-width characters (NFKC), drop invisible characters, collapse whitespace")
def _clean(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return fold(value) if isinstance(value, str) else value


@_register("lower", "lower-case")
def _lower(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return str(value).lower()


@_register("upper", "upper-case")
def _upper(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return str(value).upper()


@_register("prefix", "put text in front unless already there (handles: '@')", params={"value": str},
           required=("value",), main="value")
def _prefix(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    text = str(value)
    return text if text.startswith(args["value"]) else args["value"] + text


@_register("truncate", "cut to at most N characters", params={"length": int}, required=("length",), main="length")
def _truncate(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return str(value)[: args["length"]]


@_register("replace", "regular-expression substitution", params={"pattern": str, "with": str},
           required=("pattern",))
def _replace(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return re.sub(args["pattern"], args.get("with", ""), str(value))


@_register("extract", "keep what a regular expression captures (group 1 by default); no match → empty",
           params={"pattern": str, "group": int}, required=("pattern",), main="pattern")
def _extract(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    match = re.search(args["pattern"], str(value))
    return match.group(args.get("group", 1) if match.groups() else 0) if match else None


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._skip += tag in {"script", "style"}
        if tag in {"br", "p", "div", "li", "tr"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in {"script", "style"} and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


@_register("strip_html", "HTML to plain text (mail bodies, form rich text)")
def _strip_html(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    parser = _TextOnly()
    parser.feed(str(value))
    parser.close()
    return re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t\r\f\v]+", " ", "".join(parser.parts))).strip()


# ---------------------------------------------------------------------------------------------- shape


@_register("split", "text to a list at a separator (default: , ; ， ； 、 | and newlines)", params={"sep": str},
           main="sep", per_item=False)
def _split(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    items = value if isinstance(value, list) else [value]
    pattern = re.escape(args["sep"]) if "sep" in args else r"[,;，；、|\n]"
    return [part.strip() for item in items for part in re.split(pattern, str(item)) if part.strip()]


@_register("join", "a list to text with a separator (default one space)", params={"sep": str}, main="sep",
           per_item=False)
def _join(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    items = value if isinstance(value, list) else [value]
    return args.get("sep", " ").join(str(v).strip() for v in items if not is_blank(v))


@_register("first", "the first non-empty item of a list", per_item=False)
def _first(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    if isinstance(value, list):
        return next((v for v in value if not is_blank(v)), None)
    return value


@_register("map", "replace values by a table; 'other' says what happens to values not in it",
           params={"values": dict, "other": str, "ignore_case": bool}, required=("values",),
           choices={"other": ("keep", "empty", "reject")})
def _map(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    table: Mapping[Any, Any] = args["values"]
    key = fold(value) if isinstance(value, str) else value
    if args.get("ignore_case", True) and isinstance(key, str):
        lowered = {str(k).lower(): v for k, v in table.items()}
        if key.lower() in lowered:
            return lowered[key.lower()]
    elif key in table:
        return table[key]
    other = args.get("other", "keep")
    if other == "reject":
        raise NormalisationError(f"not one of the expected values ({', '.join(map(str, table))})")
    return None if other == "empty" else value


@_register("default", "a value to use when the source has none", params={"value": (str, int, float, bool, list)},
           required=("value",), main="value", per_item=False)
def _default(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return args["value"] if is_blank(value) else value


# ---------------------------------------------------------------------------------------------- normalisers


@_register("email", "normalise an email address (case, spaces, display names, IDN); invalid → rejected")
def _email(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return normalise_email(value)


@_register("phone", "phone number to E.164 with a default region (ISO code); invalid → rejected",
           params={"region": str}, main="region")
def _phone(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return normalise_phone(str(value), args.get("region", ctx.region))


@_register("name", "normalise a personal name (spaces, titles, case, 'Last, First')")
def _name(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return normalise_name(str(value))


@_register("split_name", "the given or family part of a full name (Chinese family-name-first aware)",
           params={"part": str}, required=("part",), main="part", choices={"part": ("given", "family")})
def _split_name(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    parsed = parse_name(str(value))
    return None if parsed is None else (parsed.given if args["part"] == "given" else parsed.family)


@_register("date", "a calendar date to ISO (YYYY-MM-DD), trying the listed formats in order",
           params={"formats": list, "ambiguous": str}, main="formats", choices={"ambiguous": ("first", "reject")})
def _date(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return _normalise_date(value, tuple(args.get("formats", ctx.date_formats)), args.get("ambiguous", ctx.ambiguous))


@_register("datetime", "a point in time to ISO in UTC; values without offset are read in 'timezone'",
           params={"formats": list, "timezone": str}, main="formats")
def _datetime(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    instant = parse_instant(value, tuple(args.get("formats", ctx.datetime_formats)),
                            args.get("timezone", ctx.timezone))
    ctx.notes["source_tz"] = instant.source_tz
    return instant.iso()


@_register("country", "a country name or code to ISO 3166-1 alpha-2 (中国 → CN, Deutschland → DE)")
def _country(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return to_country(value)


@_register("boolean", "yes/no, true/false, 1/0, 是/否, opt-in/opt-out to true or false")
def _boolean(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return to_boolean(value)


@_register("decimal", "an amount to a number (3,000,000 · ¥300万 · 1.5亿 · 2.5k)")
def _decimal(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return decimal_to_json(to_decimal(value))


@_register("integer", "a whole number")
def _integer(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return to_integer(value)


@_register("text", "any value as trimmed text")
def _text(value: Any, args: Mapping[str, Any], ctx: Context) -> Any:
    return value.strip() if isinstance(value, str) else str(value)
