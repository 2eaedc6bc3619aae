"""Asterisk ``Master.csv`` rows to landing payloads (``schema: cdr/1``).

``cdr_csv`` writes one quoted CSV row per call leg, in a fixed column order without a header line::

    accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer, end,
    duration, billsec, disposition, amaflags[, uniqueid[, userfield[, peeraccount, linkedid, sequence]]]

The trailing columns depend on ``loguniqueid``/``loguserfield``/``newcdrcolumns``, so the row's length says which
are present (``columns`` in the options overrides). Times are the PBX's local time without a zone (``timezone``
option, default UTC). The caller id looks like ``"Zhang, San" <1001>`` and may be GBK on older PBXes.

Payload: ``caller_name``, ``caller_number``, ``src``, ``dst``, ``customer_number`` (the outside party),
``direction`` (inbound | outbound | internal), ``start``/``answer``/``end`` (ISO 8601 with zone), ``duration``,
``billsec`` (seconds), ``disposition`` (ANSWERED, NO ANSWER, BUSY, FAILED), ``context``, ``channel``,
``dstchannel``, ``lastapp``, ``accountcode``, ``uniqueid``, ``linkedid``, ``userfield``. A row that cannot be
read lands as ``{"schema": "cdr/1", "malformed": true, "raw": …}`` so mapping rejects it into the dead letter
instead of it vanishing here.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

BASE_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
)
OPTIONAL_COLUMNS = ("uniqueid", "userfield", "peeraccount", "linkedid", "sequence")
SCHEMA = "cdr/1"
DEFAULT_INBOUND_CONTEXTS = ("from-external", "from-trunk", "from-pstn", "from-did", "from-sip-external")


def decode_line(raw: bytes) -> str:
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def parse_caller_id(clid: str) -> tuple[str | None, str | None]:
    """``"Zhang, San" <1001>`` → ("Zhang, San", "1001"); ``<1001>`` → (None, "1001"); ``1001`` → (None, "1001")."""
    clid = clid.strip()
    match = re.fullmatch(r'(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<([^>]*)>', clid)
    if match:
        name = (match.group(1) if match.group(1) is not None else match.group(2) or "").replace('\\"', '"').strip()
        return (name or None), (match.group(3).strip() or None)
    if re.fullmatch(r"\+?[\d*#]+", clid):
        return None, clid
    return (clid or None), None


def _time(value: str, zone: tzinfo) -> str | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).isoformat()
    except ValueError:
        return None


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _is_extension(number: str | None, max_digits: int) -> bool:
    return bool(number) and number.isdigit() and len(number) <= max_digits  # type: ignore[union-attr]


def row_key(line: str, uniqueid: str | None) -> str:
    """Rows never change once written: the row's own hash identifies it, prefixed by the uniqueid when logged."""
    digest = hashlib.sha256(line.encode("utf-8")).hexdigest()[:16]
    return f"{uniqueid}:{digest}" if uniqueid else f"row:{digest}"


def parse_row(
    line: str,
    zone: tzinfo,
    columns: Sequence[str] | None = None,
    inbound_contexts: Sequence[str] = DEFAULT_INBOUND_CONTEXTS,
    extension_max_digits: int = 5,
) -> tuple[str, dict[str, Any]]:
    """Landing key and payload of one complete CSV row (without its line ending)."""
    try:
        fields = next(csv.reader([line], strict=True))
    except (csv.Error, StopIteration):
        fields = []
    names = list(columns) if columns else list(BASE_COLUMNS + OPTIONAL_COLUMNS[: max(0, len(fields) - 16)])
    if len(fields) < len(BASE_COLUMNS) or len(fields) != len(names):
        return row_key(line, None), {"schema": SCHEMA, "malformed": True, "raw": line[:2000]}
    row = dict(zip(names, fields, strict=True))
    caller_name, caller_number = parse_caller_id(row["clid"])
    caller_number = caller_number or row["src"] or None
    if row["dcontext"] in inbound_contexts:
        direction = "inbound"
    elif _is_extension(row["src"], extension_max_digits) and not _is_extension(row["dst"], extension_max_digits):
        direction = "outbound"
    elif _is_extension(row["src"], extension_max_digits) and _is_extension(row["dst"], extension_max_digits):
        direction = "internal"
    else:
        direction = "inbound"
    customer = {"inbound": caller_number, "outbound": row["dst"] or None}.get(direction)
    payload = {
        "schema": SCHEMA,
        "uniqueid": row.get("uniqueid") or None,
        "linkedid": row.get("linkedid") or None,
        "accountcode": row["accountcode"] or None,
        # only an inbound caller is a customer; on other calls the caller ID names a colleague's extension
        "caller_name": caller_name if direction == "inbound" else None,
        "caller_number": caller_number,
        "src": row["src"] or None,
        "dst": row["dst"] or None,
        "customer_number": customer,
        "direction": direction,
        "context": row["dcontext"] or None,
        "channel": row["channel"] or None,
        "dstchannel": row["dstchannel"] or None,
        "lastapp": row["lastapp"] or None,
        "start": _time(row["start"], zone),
        "answer": _time(row["answer"], zone),
        "end": _time(row["end"], zone),
        "duration": _int(row["duration"]),
        "billsec": _int(row["billsec"]),
        "disposition": row["disposition"] or None,
        "userfield": row.get("userfield") or None,
    }
    return row_key(line, payload["uniqueid"]), payload
