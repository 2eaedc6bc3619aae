"""Bytes to text for mail: charsets, RFC 2047 encoded words, raw 8-bit headers, transfer encodings.

Real Chinese mail lies about its charset: clients label GBK (and GB18030) bytes as ``gb2312``, which is a strict
subset, so a strict GB2312 decoder fails on common names (e.g. 镕, 喆). Every GB label is decoded as GB18030, the
superset. Headers sent as raw 8-bit bytes (no encoded words) are tried as UTF-8, then GB18030. Nothing here raises on
bad input: a message we can only half read still lands, with replacement characters where bytes were unreadable.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import html
import quopri
import re
from email.header import Header, decode_header
from html.parser import HTMLParser

_GB_LABELS = {
    "gb2312", "gb_2312", "gb_2312-80", "gb2312-80", "csgb2312", "euc-cn", "x-euc-cn", "euccn", "gbk", "x-gbk",
    "cp936", "ms936", "windows-936", "chinese", "iso-ir-58", "gb18030", "gb-18030",
}
_FALLBACKS = ("utf-8", "gb18030")


@functools.lru_cache(maxsize=256)
def codec_for(charset: str | None) -> str | None:
    """A Python codec for a MIME charset label, GB labels widened to GB18030; None when unknown."""
    if not charset:
        return None
    label = charset.strip().strip('"').strip("'").lower()
    if label in _GB_LABELS:
        return "gb18030"
    if label in ("unknown-8bit", "x-unknown", "8bit", "default"):
        return None
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset when it fits, else UTF-8, else GB18030, else replace what cannot be read."""
    declared = codec_for(charset)
    for codec in ([declared] if declared else []) + [c for c in _FALLBACKS if c != declared]:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode(declared or "utf-8", errors="replace")


def _raw_8bit(value: str) -> str:
    """Header values parsed from bytes carry raw 8-bit bytes as surrogate escapes: decode those bytes properly."""
    try:
        value.encode("ascii")
        return value
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already real text
        return value
    return decode_bytes(raw, None)


def header_text(value: str | Header | None) -> str | None:
    """A header value as text, encoded words still encoded: raw 8-bit bytes decoded (UTF-8, else GB18030).

    The stdlib hands back raw 8-bit header values as a ``Header`` whose ``str()`` is replacement characters;
    ``decode_header`` on it returns the original bytes.
    """
    if value is None:
        return None
    if isinstance(value, Header):
        chunks = decode_header(value)
        value = "".join(
            c.decode("ascii", "surrogateescape") if isinstance(c, bytes) else c for c, _charset in chunks
        )
    return _raw_8bit(str(value))


# RFC 2047 encoded word: =?charset[*language]?B|Q?text?=
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_QP_BYTE = re.compile(rb"=([0-9A-Fa-f]{2})")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The octets of one encoded word, or None when they cannot be read (the word is then kept as sent)."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    if encoding in "bB":
        data = data.rstrip(b"=")
        try:
            return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    return _QP_BYTE.sub(lambda m: bytes((int(m[1], 16),)), data.replace(b"_", b" "))


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded, whitespace folded; a word that cannot be read stays as it was sent.

    The stdlib's ``email.header.decode_header`` does the same through a general tokenizer and was the largest
    single cost of building a mail payload. As it does, adjacent words of one charset are joined before
    decoding (a GBK character may be split across two words) and whitespace between two words is dropped.
    """
    if "=?" not in value:
        return " ".join(value.split())
    pieces: list[tuple[str | bytes, str | None]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        position = match.end()
        data = _word_bytes(match[2], match[3])
        if gap and not (gap.isspace() and data is not None and pieces and pieces[-1][1] is not None):
            pieces.append((gap, None))
        if data is None:
            pieces.append((match[0], None))
            continue
        charset = match[1].split("*", 1)[0].lower()
        previous = pieces[-1] if pieces else None
        if previous is not None and previous[1] == charset and isinstance(previous[0], bytes):
            pieces[-1] = (previous[0] + data, charset)
        else:
            pieces.append((data, charset))
    pieces.append((value[position:], None))
    text = "".join(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in pieces)
    return " ".join(text.split())


def decode_header_value(value: str | Header | None) -> str:
    """A header as a person reads it: encoded words (RFC 2047) decoded, whitespace folded."""
    value = header_text(value)
    if value is None:
        return ""
    return decode_words(value)


def decode_transfer(data: bytes, encoding: str | None, truncated: bool = False) -> bytes:
    """Undo Content-Transfer-Encoding; a capped (truncated) base64 body is cut back to whole 4-char groups."""
    encoding = (encoding or "7bit").strip().lower()
    if encoding == "base64":
        compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
        if truncated:
            compact = compact[: len(compact) - len(compact) % 4]
        compact = compact.rstrip(b"=")
        compact += b"=" * (-len(compact) % 4)
        try:
            return base64.b64decode(compact)
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextOfHtml()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - broken markup: fall back to crude tag stripping
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(parser.parts)


def summarize(text: str, limit: int) -> str:
    """First ``limit`` characters of the message's own words: quoted replies and signature dividers dropped."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">"):
            continue
        if stripped in ("--", "-- "):
            break
        lines.append(stripped)
    words = " ".join(" ".join(lines).split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"
