"""Phone numbers to E.164, with ``phonenumbers`` (Google's libphonenumber metadata) doing the real work.

What we add in front of it: full-width digits folded, ``0086``/``86`` prefixes understood, Chinese extension markers
(``转``, ``分机``) and the usual Western ones (``ext``, ``x``, ``#``). An extension is kept the RFC 3966 way,
``+861065529988;ext=123``, so the value stays one string, sorts with its number and re-normalises to itself.
"""

from __future__ import annotations

import re

import phonenumbers

from ._text import NormalisationError, fold

_EXTENSION = re.compile(r"\s*(?:;\s*ext\s*=|ext\.?|extension|x|#|转|分机|分機)\s*(\d{1,7})\s*$", re.IGNORECASE)


def normalise_phone(text: str, region: str = "CN") -> str:
    """Return the number in E.164 (``+8613800138000``), with ``;ext=N`` when it had an extension.

    ``region`` is the ISO country whose national format applies when the number has no country code. A number that
    does not exist in that numbering plan is rejected: a typo'd mobile should reach a person, not match a stranger.
    """
    cleaned = fold(str(text))
    if not cleaned:
        raise NormalisationError("empty phone number")
    extension = None
    match = _EXTENSION.search(cleaned)
    if match:
        extension = match.group(1)
        cleaned = cleaned[: match.start()]
    digits = re.sub(r"[^\d+]", "", cleaned)
    if len(re.sub(r"\D", "", digits)) < 5:
        raise NormalisationError("too few digits for a phone number")
    if "+" in digits[1:]:
        raise NormalisationError("a '+' may only start the number")
    region = (region or "ZZ").upper()
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException as exc:
        raise NormalisationError(f"not a phone number ({_REASONS.get(exc.error_type, 'unreadable')})") from None
    if not phonenumbers.is_valid_number(number) and not digits.startswith("+") and region != "ZZ":
        # "8613800138000" written without the plus: try it as international before giving up
        try:
            retry = phonenumbers.parse("+" + digits.lstrip("0"), region)
        except phonenumbers.NumberParseException:
            retry = None
        if retry is not None and phonenumbers.is_valid_number(retry):
            number = retry
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or region
        raise NormalisationError(f"not a valid phone number for {where} (check the digits and the country code)")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    extension = extension or number.extension
    return f"{e164};ext={extension}" if extension else e164


def phone_without_extension(e164: str) -> str:
    """The dialable part used as a match key: extensions of one switchboard belong to one organisation number."""
    return e164.split(";", 1)[0]


_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "no digits in it",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
