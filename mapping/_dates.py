"""Dates and instants in the formats people and systems write them, with ambiguity made explicit.

A spec lists the formats it expects, in order of preference. ISO 8601 is always understood first (it is what we
store, so normalising twice gives the same result). ``03/04/2025`` fits both ``%m/%d/%Y`` and ``%d/%m/%Y``: by
default the first listed format wins; ``ambiguous="reject"`` makes such values errors naming both readings.

Instants (interactions) are stored in UTC; the zone the source used is kept beside them. A value without offset is
read in the spec's ``timezone``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._text import NormalisationError, fold

# Named formats a spec may use besides strftime patterns.
NAMED_FORMATS = {
    "iso": "%Y-%m-%d",
    "cn": "%Y年%m月%d日",
    "us": "%m/%d/%Y",
    "eu": "%d.%m.%Y",
    "uk": "%d/%m/%Y",
}
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y年%m月%d日", "%Y/%m/%d", "%Y.%m.%d", "%d.%m.%Y", "%m/%d/%Y", "%Y%m%d",
                        "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y")
DEFAULT_DATETIME_FORMATS = ("iso", "rfc2822", "epoch", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S",
                            "%Y/%m/%d %H:%M", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%m/%d/%Y %H:%M:%S",
                            "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")
_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_DATE = re.compile(r"^([〇零一二三四五六七八九\d]{2,4})\s*年\s*([一二三四五六七八九十\d]{1,3})\s*月\s*"
                      r"([一二三四五六七八九十\d]{1,3})\s*[日号號]?")
_EXCEL_EPOCH = date(1899, 12, 30)


@dataclass(frozen=True)
class Instant:
    utc: datetime
    source_tz: str  # IANA name when the spec gave one, otherwise the offset as written ("+08:00")

    def iso(self) -> str:
        return self.utc.isoformat()


def _cn_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" in text:  # 十二 = 12, 二十三 = 23, 三十 = 30
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    return int("".join(str(_CN_DIGITS[ch]) for ch in text))


def _prepare(text: str) -> str:
    cleaned = fold(text)
    match = _CN_DATE.match(cleaned)
    if match:  # 二〇二五年八月二十三日, 2025 年 8 月 23 号 → 2025年08月23日
        year, month, day = (_cn_number(g) for g in match.groups())
        cleaned = f"{year:04d}年{month:02d}月{day:02d}日" + cleaned[match.end():]
    return cleaned.rstrip(".")


def _pattern(fmt: str) -> str:
    return NAMED_FORMATS.get(fmt, fmt)


def parse_date(value: object, formats: tuple[str, ...] | list[str] = DEFAULT_DATE_FORMATS,
               ambiguous: str = "first") -> date:
    """Read a calendar date; raise ``NormalisationError`` naming the formats tried or both readings if ambiguous."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _excel_serial(value)
    text = _prepare(str(value))
    if not text:
        raise NormalisationError("empty date")
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?", text)
    if iso:
        return _checked(*map(int, iso.groups()))
    readings: list[tuple[str, date]] = []
    for fmt in formats:
        pattern = _pattern(fmt)
        if pattern == "excel":
            if re.fullmatch(r"\d{5}(\.\d+)?", text):
                readings.append((fmt, _excel_serial(float(text))))
            continue
        try:
            parsed = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if not any(d == parsed for _, d in readings):
            readings.append((fmt, parsed))
        if ambiguous == "first":
            break
    if not readings:
        raise NormalisationError(f"not a date in any expected format ({', '.join(formats)})")
    if len(readings) > 1:
        both = " or ".join(f"{d.isoformat()} ({fmt})" for fmt, d in readings)
        raise NormalisationError(f"ambiguous date: {both}; list only one of these formats in the spec")
    return _checked(readings[0][1].year, readings[0][1].month, readings[0][1].day)


def normalise_date(value: object, formats: tuple[str, ...] | list[str] = DEFAULT_DATE_FORMATS,
                   ambiguous: str = "first") -> str:
    return parse_date(value, formats, ambiguous).isoformat()


def _checked(year: int, month: int, day: int) -> date:
    try:
        result = date(year, month, day)
    except ValueError as exc:
        raise NormalisationError(f"not a real date ({exc})") from None
    if not 1850 <= result.year <= 2150:
        raise NormalisationError(f"year {result.year} is out of range (1850–2150)")
    return result


def _excel_serial(number: float) -> date:
    if not 1 <= number < 100000:
        raise NormalisationError("a number that is not a spreadsheet date serial")
    return _EXCEL_EPOCH + timedelta(days=int(number))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise NormalisationError(f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)") from None


def parse_instant(value: object, formats: tuple[str, ...] | list[str] = DEFAULT_DATETIME_FORMATS,
                  timezone: str = "UTC") -> Instant:
    """Read a point in time; naive values are in ``timezone``. The result is UTC plus the source's zone."""
    if isinstance(value, datetime):
        return _instant(value, timezone)
    if isinstance(value, int | float) and not isinstance(value, bool) and "epoch" in formats:
        return _epoch(float(value), timezone)
    text = _prepare(str(value))
    if not text:
        raise NormalisationError("empty date and time")
    for fmt in formats:
        if fmt == "iso":
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", "+00:00"))
            except ValueError:
                continue
            return _instant(parsed, timezone)
        if fmt == "rfc2822":
            if not re.search(r"[A-Za-z]{3}", text):
                continue
            try:
                return _instant(parsedate_to_datetime(text), timezone)
            except (TypeError, ValueError, IndexError):
                continue
        if fmt == "epoch":
            if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
                return _epoch(float(text), timezone)
            continue
        try:
            return _instant(datetime.strptime(text, _pattern(fmt)), timezone)
        except ValueError:
            continue
    raise NormalisationError(f"not a date and time in any expected format ({', '.join(formats)})")


def normalise_instant(value: object, formats: tuple[str, ...] | list[str] = DEFAULT_DATETIME_FORMATS,
                      timezone: str = "UTC") -> str:
    return parse_instant(value, formats, timezone).iso()


def _epoch(number: float, timezone: str) -> Instant:
    seconds = number / 1000 if number > 1e11 else number  # milliseconds from JavaScript sources
    return Instant(utc=datetime.fromtimestamp(seconds, UTC), source_tz=timezone)


def _instant(parsed: datetime, timezone: str) -> Instant:
    if parsed.tzinfo is None:
        return Instant(utc=parsed.replace(tzinfo=zone(timezone)).astimezone(UTC), source_tz=timezone)
    offset = parsed.utcoffset() or timedelta(0)
    if isinstance(parsed.tzinfo, ZoneInfo):
        label = parsed.tzinfo.key
    elif offset == timedelta(0):
        label = "UTC"
    else:
        total = int(offset.total_seconds()) // 60
        label = f"{'+' if total >= 0 else '-'}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
    return Instant(utc=parsed.astimezone(UTC), source_tz=label)
