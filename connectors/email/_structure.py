"""IMAP BODYSTRUCTURE (as imapclient parses it) to the MIME leaves ``_message`` works with.

Knowing every leaf's type, encoding and size before fetching anything is what lets the reader fetch only the first
text part, capped, and report attachments by name and size without downloading them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from ._decode import decode_bytes, decode_header_value
from ._message import Part


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return "" if value is None else str(value)


def _params(value: Any) -> dict[str, str]:
    """``(b"charset", b"gb2312", b"name", b"x.pdf")`` → {"charset": "gb2312", "name": "x.pdf"}."""
    if not isinstance(value, tuple | list):
        return {}
    items = list(value)
    out: dict[str, str] = {}
    for key, val in zip(items[0::2], items[1::2], strict=False):
        out[_text(key).lower()] = _text(val)
    return out


def _filename(params: dict[str, str]) -> str | None:
    for key in ("filename", "name"):
        if params.get(key):
            return decode_header_value(params[key])
        if params.get(key + "*"):  # RFC 2231: utf-8''%E6%8A%A5%E4%BB%B7.pdf
            charset, _, rest = params[key + "*"].partition("'")
            _language, _, encoded = rest.partition("'")
            if not encoded:  # no charset''language prefix
                charset, encoded = "", params[key + "*"]
            return decode_bytes(unquote_to_bytes(encoded), charset or None)
    return None


def parts_from_structure(structure: Any, prefix: str = "") -> list[Part]:
    """MIME leaves numbered as IMAP body sections; a message/rfc822 part is one (attached) leaf."""
    if getattr(structure, "is_multipart", False):
        leaves: list[Part] = []
        for index, child in enumerate(structure[0], 1):
            leaves.extend(parts_from_structure(child, f"{prefix}{index}."))
        return leaves
    fields = list(structure)
    maintype, subtype = _text(fields[0]).lower(), _text(fields[1]).lower()
    params = _params(fields[2])
    disposition_at = {"text": 9}.get(maintype, 11 if (maintype, subtype) == ("message", "rfc822") else 8)
    disposition = fields[disposition_at] if len(fields) > disposition_at else None
    disposition_type, disposition_params = "", {}
    if isinstance(disposition, tuple | list) and disposition:
        disposition_type = _text(disposition[0]).lower()
        disposition_params = _params(disposition[1] if len(disposition) > 1 else None)
    filename = _filename(disposition_params) or _filename(params)
    content_type = f"{maintype}/{subtype}"
    try:
        size = int(fields[6] or 0)
    except (TypeError, ValueError):
        size = 0
    return [
        Part(
            section=prefix.rstrip(".") or "1",
            content_type=content_type,
            charset=params.get("charset"),
            encoding=_text(fields[5]) or None,
            size=size,
            filename=filename,
            attachment=disposition_type == "attachment" or (filename is not None and maintype != "text"),
        )
    ]
