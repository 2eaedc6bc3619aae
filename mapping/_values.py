"""Typed values for custom fields and flags: booleans, numbers (incl. 万/亿 and currency marks), countries."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from ._text import NormalisationError, fold

_TRUE = frozenset("true t yes y 1 on x ✓ 是 是的 对 有 同意 opt-in optin subscribed ja oui si sí".split())
_FALSE = frozenset("false f no n 0 off 否 不 不是 无 不同意 opt-out optout unsubscribed nein non".split())
_MULTIPLIERS = {"万": Decimal(10_000), "萬": Decimal(10_000), "亿": Decimal(100_000_000), "億": Decimal(100_000_000),
                "k": Decimal(1_000), "m": Decimal(1_000_000)}
_CURRENCY = re.compile(r"(?i)^(?:rmb|cny|usd|eur|us\$|[¥$€£])\s*|\s*(?:元|块|rmb|cny|usd|eur|[¥$€£])$")

# Country names seen in CRM exports → ISO 3166-1 alpha-2. Two-letter codes pass through upper-cased.
COUNTRIES = {
    "china": "CN", "中国": "CN", "中华人民共和国": "CN", "prc": "CN", "people's republic of china": "CN",
    "hong kong": "HK", "香港": "HK", "中国香港": "HK", "macau": "MO", "macao": "MO", "澳门": "MO",
    "taiwan": "TW", "台湾": "TW", "singapore": "SG", "新加坡": "SG", "japan": "JP", "日本": "JP",
    "korea": "KR", "south korea": "KR", "韩国": "KR", "united states": "US", "usa": "US", "u.s.a.": "US",
    "united states of america": "US", "美国": "US", "america": "US", "united kingdom": "GB", "uk": "GB",
    "great britain": "GB", "england": "GB", "英国": "GB", "germany": "DE", "deutschland": "DE", "德国": "DE",
    "france": "FR", "法国": "FR", "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "荷兰": "NL",
    "spain": "ES", "españa": "ES", "italy": "IT", "italia": "IT", "canada": "CA", "加拿大": "CA",
    "australia": "AU", "澳大利亚": "AU", "new zealand": "NZ", "switzerland": "CH", "schweiz": "CH",
    "austria": "AT", "österreich": "AT", "belgium": "BE", "sweden": "SE", "norway": "NO", "denmark": "DK",
    "india": "IN", "印度": "IN", "malaysia": "MY", "马来西亚": "MY", "thailand": "TH", "泰国": "TH",
    "vietnam": "VN", "越南": "VN", "russia": "RU", "俄罗斯": "RU", "brazil": "BR", "mexico": "MX",
}


def to_boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = fold(str(value)).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise NormalisationError("not a yes/no value (use yes/no, true/false, 1/0, 是/否)")


def to_decimal(value: object) -> Decimal:
    """Read an amount: ``3,000,000``, ``¥300万``, ``1.5亿``, ``2.5k``, ``(120)`` for negatives in accounting exports."""
    if isinstance(value, bool):
        raise NormalisationError("a yes/no value is not a number")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):  # JSON from some APIs carries Infinity/NaN (found by fuzzing the map stage)
        if not math.isfinite(value):
            raise NormalisationError("not a finite number")
        return Decimal(repr(value))
    text = fold(str(value)).replace(" ", "")
    negative = text.startswith("(") and text.endswith(")")
    text = _CURRENCY.sub("", text.strip("()"))
    text = _CURRENCY.sub("", text)
    multiplier = Decimal(1)
    if text and text[-1].lower() in _MULTIPLIERS:
        multiplier, text = _MULTIPLIERS[text[-1].lower()], text[:-1]
    text = text.replace(",", "").replace("_", "")
    try:
        number = Decimal(text) * multiplier
    except InvalidOperation:
        raise NormalisationError("not a number") from None
    if not number.is_finite():
        raise NormalisationError("not a finite number")
    return -number if negative else number


def decimal_to_json(number: Decimal) -> int | float:
    """JSON has no decimal: whole amounts stay exact integers, the rest become floats."""
    return int(number) if number == number.to_integral_value() else float(number)


def to_integer(value: object) -> int:
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise NormalisationError("not a whole number")
    return int(number)


def to_country(value: object) -> str:
    text = fold(str(value))
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    code = COUNTRIES.get(text.lower())
    if code is None:
        raise NormalisationError("unknown country (use an ISO code like CN, DE, US)")
    return code
