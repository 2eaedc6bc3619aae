"""One website form submission, whichever way it arrived, as one stable payload shape.

Every mode (signed webhook post, REST pull, CSV/JSONL export) produces::

    {"form": "contact-us", "submission_id": "sub-123", "submitted_at": "2025-08-23T10:15:00+08:00",
     "fields": {"name": "张伟", "email": "…", "购房预算": "300万"},
     "attachments": [{"field": "cv", "filename": "cv.pdf", "size": 1234, "sha256": "…"}]}

``fields`` keeps the form's own field names (custom fields such as 购房预算 included): the mapping spec, not the
connector, decides what they mean. Attachments are described, never stored: their bytes are not CRM data.

Parsing is defensive because bodies come from the internet: every failure is a ``BadSubmission`` with a reason a
sender can act on (and no echo of the body), never another exception.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from crm_core.records import SourceRecord, content_hash

MAX_JSON_DEPTH = 32
MAX_FIELDS = 500
ID_FIELDS = ("submission_id", "submissionId", "id", "_id", "entry_id", "response_id", "编号", "提交编号")
FORM_FIELDS = ("form", "form_id", "formId", "form_name", "表单")
TIME_FIELDS = ("submitted_at", "submittedAt", "created_at", "createdAt", "timestamp", "提交时间")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BadSubmission(ValueError):
    """The body is not a form submission we can read; the message is safe to return to the sender."""


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects, found without parsing (so a 10,000-deep body cannot exhaust the stack)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict UTF-8 JSON with a nesting limit; ``BadSubmission`` for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadSubmission(f"body is not valid UTF-8 (byte {exc.start})") from None
    if json_depth(body) > max_depth:
        raise BadSubmission(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text.removeprefix("\ufeff"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadSubmission(f"body is not valid JSON ({type(exc).__name__})") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _charset(content_type: str) -> str:
    match = re.search(r"charset=\"?([A-Za-z0-9_\-]+)", content_type)
    name = (match.group(1) if match else "utf-8").lower()
    try:
        "".encode(name)
    except LookupError:
        raise BadSubmission(f"unknown charset {name!r}") from None
    return name


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(fields, attachments) from a JSON, form-urlencoded or multipart body."""
    kind = media_type(content_type)
    if kind == "application/json" or kind.endswith("+json"):
        data = loads_json(body)
        if not isinstance(data, dict):
            raise BadSubmission("JSON body must be an object")
        return data, []
    if kind == "application/x-www-form-urlencoded":
        charset = _charset(content_type)
        try:
            text = body.decode("ascii")
            pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict", max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadSubmission(f"form body is not valid {charset} url-encoding ({type(exc).__name__})") from None
        return _collect(pairs), []
    if kind == "multipart/form-data":
        return _parse_multipart(body, content_type)
    raise BadSubmission(f"unsupported content type {kind!r}: send JSON, form-urlencoded or multipart")


def _collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Repeated names (checkboxes) become lists, in the order sent."""
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from python_multipart import parse_form
    from python_multipart.exceptions import FormParserError

    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        raise BadSubmission("multipart body is malformed (no boundary)")
    if b"--" + boundary.group(1).strip().encode("latin-1", "replace") + b"--" not in body:
        raise BadSubmission("multipart body is malformed (truncated: no closing boundary)")
    pairs: list[tuple[str, Any]] = []
    attachments: list[dict[str, Any]] = []

    def on_field(field: Any) -> None:
        value = field.value
        pairs.append((_utf8(field.field_name), _utf8(value) if value is not None else ""))

    def on_file(file: Any) -> None:
        file.file_object.seek(0)
        data = file.file_object.read()
        attachments.append(
            {
                "field": _utf8(file.field_name),
                "filename": _utf8(file.file_name) if file.file_name else None,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        file.close()

    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    try:
        parse_form(headers, io.BytesIO(body), on_field, on_file)
    except (FormParserError, ValueError, AttributeError, TypeError, IndexError, KeyError) as exc:
        raise BadSubmission(f"multipart body is malformed ({type(exc).__name__})") from None
    if len(pairs) > MAX_FIELDS:
        raise BadSubmission(f"more than {MAX_FIELDS} fields")
    return _collect(pairs), attachments


def _utf8(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSubmission("multipart field is not valid UTF-8") from None


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 or Unix seconds/milliseconds; None when absent or unreadable (the mapping decides what then)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            seconds = float(value)
            if seconds > 1e11:  # milliseconds
                seconds /= 1000
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _naive(value: Any) -> bool:
    if not isinstance(value, str) or value.strip().isdigit():
        return False
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).tzinfo is None
    except ValueError:
        return False


def _first(data: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return name, value
    return None, None


def submission_record(
    data: Mapping[str, Any],
    *,
    form: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    submission_id: str | None = None,
    id_field: str | None = None,
) -> SourceRecord:
    """The record for one submission. Key: form + submission id, else form + a hash of the content (still
    idempotent: the same submission posted twice hashes the same).

    ``data`` is either flat (every key a form field, except the id/form/time keys) or carries its fields under
    ``fields`` with the metadata beside them.
    """
    nested = data.get("fields")
    id_name, found_id = (id_field, data.get(id_field)) if id_field else _first(data, ID_FIELDS)
    form_name, found_form = _first(data, FORM_FIELDS)
    time_name, found_time = _first(data, TIME_FIELDS)
    if isinstance(nested, Mapping):
        fields = dict(nested)
    else:
        fields = dict(data)
        for name in (id_name, form_name, time_name, "attachments"):
            if name is not None:
                fields.pop(name, None)
    if attachments is None:
        listed = data.get("attachments")
        attachments = [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []
    sub_id = submission_id or (str(found_id) if found_id not in (None, "") else None)
    submitted = parse_time(found_time)
    if submitted is not None and _naive(found_time):
        submitted = None  # local time of an unknown zone: the raw text goes on, the spec's timezone reads it
    form_value = str(found_form) if found_form not in (None, "") else form
    payload: dict[str, Any] = {
        "form": form_value,
        "submission_id": sub_id,
        "submitted_at": submitted.isoformat() if submitted else (str(found_time) if found_time else None),
        "fields": fields,
        "attachments": attachments,
    }
    payload = json.loads(json.dumps(payload, ensure_ascii=False, default=str))  # JSON-safe and stable
    prefix = form_value or "form"
    key = f"{prefix}:{sub_id}" if sub_id else f"{prefix}:sha256:{content_hash(payload)[:32]}"
    return SourceRecord(key=key[:500], payload=payload, occurred_at=submitted)
