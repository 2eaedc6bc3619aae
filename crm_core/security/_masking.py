"""Masking of personal data and secrets in text: the last line of defence before a log line is written.

Code should not log personal data in the first place; this catches what slips through (a vendor error echoing the
request, an exception message quoting a value, a debug line). Three kinds of value are masked:

* e-mail addresses: ``zhang.san@example.com`` -> ``z***@e***.com``
* phone numbers: international (``+86 138 1234 5678``), Chinese mobiles (``13812345678``) and 9-15 digit
  numbers written with separators -> every digit but the last two starred (``+** *** **** **78``)
* secrets: ``Bearer …``, ``password=…``/``token: …`` style pairs, credentials in URLs, JWTs, well-known vendor key
  shapes, any value registered with ``register_secret`` (connection passwords), and long random-looking strings

Surprising on purpose: dates, times and short numbers (ids, counts) are left alone, so logs stay useful.
"""

from __future__ import annotations

import re
import threading

EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+%-]{1,64})@([\w-]{1,63}(?:\.[\w-]{1,63})+)", re.UNICODE)
# candidates: an optional + or 00, then digits with single separators; validated by _looks_like_phone
PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d\u00a0 ().\-]{5,80}\d(?![\w])")
_DATE_RE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$|^\d{1,2}:\d{2}")
_SECRET_PAIR_RE = re.compile(
    r"(?i)((?:password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|session[_-]?id|sessionid|signature|authorization)"
    r"[\"']?\s*[=:]\s*[\"']?)(?:bearer\s+|basic\s+)?([^\s\"'&,;}]+)"
)
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic|token)\s+([A-Za-z0-9._~+/=\-]{8,})")
_URL_CRED_RE = re.compile(r"(?i)([a-z][a-z0-9+.\-]*://)([^\s:/@]+):([^\s@/]+)@")
_JWT_RE = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")
_VENDOR_KEY_RE = re.compile(
    r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bpat-[a-z]{2,4}\d?-[\w-]{20,}"
    r"|\b[0-9a-f]{32}-us\d{1,2}\b|\bAKIA[0-9A-Z]{16}\b|\b00D[A-Za-z0-9]{12,15}![\w.]{20,}"
)
# long opaque strings that mix letters and digits (API keys, session ids); hex digests of 64 chars included
_OPAQUE_RE = re.compile(r"(?<![\w/])(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}(?![\w/])")
MASK = "***"

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears from now on (connection passwords, keys read at run time)."""
    if value and len(value) >= 4:
        with _lock:
            _registered.add(value)


def mask_email(value: str) -> str:
    """``zhang.san@example.com`` -> ``z***@e***.com``: enough to tell two addresses apart in a log, not to mail."""
    local, _, domain = value.strip().rpartition("@")
    if not local:
        return MASK
    labels = domain.split(".")
    tld = labels[-1] if len(labels) > 1 else ""
    head = labels[0][:1] + MASK if labels[0] else MASK
    return f"{local[:1]}{MASK}@{head}{'.' + tld if tld else ''}"


def mask_phone(value: str) -> str:
    """Star every digit but the last two, keeping the layout: ``+86 138 1234 5678`` -> ``+** *** **** **78``."""
    digits = sum(ch.isdigit() for ch in value)
    keep = 2 if digits > 6 else 0
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def _looks_like_phone(candidate: str) -> bool:
    text = candidate.strip()
    if _DATE_RE.search(text):
        return False
    digits = sum(ch.isdigit() for ch in text)
    if text.startswith(("+", "00")):
        return 7 <= digits <= 15
    if text.isdigit():
        # bare digit runs: Chinese mobiles (11 digits from 13-19) and 10-digit national numbers starting with 0
        # bare digit runs: Chinese mobiles (11 digits from 13-19), North American 10-digit numbers (area code 2-9;
        # Unix timestamps start with 1 and stay visible) and trunk-prefixed national numbers starting with 0
        return (
            (digits == 11 and text[0] == "1" and text[1] in "3456789")
            or (digits == 10 and text[0] in "23456789")
            or (digits in (10, 11) and text[0] == "0")
        )
    return 9 <= digits <= 15


def _mask_phones_in(candidate: str) -> str:
    """Mask the phone numbers in a run of digits and separators, which may hold several numbers side by side."""
    if _looks_like_phone(candidate):
        return mask_phone(candidate)
    parts = re.split(r"(\s+)", candidate)
    out: list[str] = []
    i = 0
    while i < len(parts):
        # a bare 10/11-digit token is a number on its own; otherwise the longest window that starts no second
        # number (a later token beginning with +, 00 or a parenthesis starts a new one)
        ends = [i + 1] if parts[i].isdigit() and _looks_like_phone(parts[i]) else range(len(parts), i, -1)
        for j in ends:
            chunk = "".join(parts[i:j])
            if any(p.startswith(("+", "00", "(")) for p in parts[i + 1 : j]):
                continue
            if chunk.strip() and _looks_like_phone(chunk):
                out.append(mask_phone(chunk))
                i = j
                break
        else:
            out.append(parts[i])
            i += 1
    return "".join(out)


def mask_text(text: str) -> str:
    """Mask every e-mail address, phone number and secret found in ``text``."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_registered, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_CRED_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    text = _JWT_RE.sub(MASK, text)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _SECRET_PAIR_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _VENDOR_KEY_RE.sub(MASK, text)
    text = EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)
    text = _OPAQUE_RE.sub(MASK, text)
    return PHONE_RE.sub(lambda m: _mask_phones_in(m.group(0)), text)
