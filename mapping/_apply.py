"""Applying a compiled spec to one payload: pure, no I/O, never raises for bad data.

Every problem with the data becomes a ``FieldError`` (field, value, reason) on the result; the caller decides what
a record with errors means (the map stage sends it to the dead letter, the import counts it as rejected).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._dates import parse_instant
from ._emails import normalise_email
from ._names import compose_name, parse_name
from ._phones import normalise_phone
from ._spec import CHANNELS, DIRECTIONS, LIST_FIELDS, TEMPLATE_FIELD, ContactRule, FieldRule, MappingSpec
from ._text import NormalisationError, fold, is_blank
from ._transforms import TRANSFORMS, Context, run
from ._values import to_boolean, to_country
from .schema import CanonicalContact, CanonicalInteraction


@dataclass(frozen=True)
class FieldError:
    """One value that could not be mapped: which field, what the source sent, and why (for a person to fix)."""

    field: str
    value: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason} (got {_preview(self.value)})"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": _jsonable(self.value), "reason": self.reason}


@dataclass(frozen=True)
class MappedContact:
    key: str  # unique within the source: the contact_record's source_key
    contact: CanonicalContact
    raw: dict[str, Any]  # canonical field → the value the source sent, before any transform
    role: str | None = None


@dataclass
class MappedRecord:
    contacts: list[MappedContact] = field(default_factory=list)
    interactions: list[CanonicalInteraction] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    dropped: list[FieldError] = field(default_factory=list)  # bad values left out (on_error: drop), not fatal

    @property
    def ok(self) -> bool:
        return not self.errors


def apply(spec: MappingSpec, payload: Mapping[str, Any], key: str = "record") -> MappedRecord:
    """Map one payload. ``key`` is the landing key: the default contact key and interaction reference."""
    result = MappedRecord()
    seen: set[str] = set()
    for rule in spec.contacts:
        for label, base in _bases(rule, payload):
            mapped = _contact(spec, rule, label, base, payload, key, len(result.contacts), result)
            if mapped is not None and mapped.key not in seen:  # the sender in Cc is still one contact
                seen.add(mapped.key)
                result.contacts.append(mapped)
    if spec.interaction is not None and (spec.interaction.when is None
                                         or not is_blank(lookup(payload, spec.interaction.when))):
        interaction = _interaction(spec, payload, key, result)
        if interaction is not None:
            result.interactions.append(interaction)
    return result


# ---------------------------------------------------------------------------------------------- paths


def lookup(data: Any, path: str) -> Any:
    """Read ``a.b.0.c`` from nested mappings and lists; a key that itself contains dots is tried whole first."""
    if isinstance(data, Mapping) and path in data:
        return data[path]
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list | tuple) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is None:
            return None
    return current


def _read(path: str, base: Any, payload: Mapping[str, Any]) -> Any:
    return lookup(payload, path[2:]) if path.startswith("$.") else lookup(base, path)


def _bases(rule: ContactRule, payload: Mapping[str, Any]) -> list[tuple[str | None, Any]]:
    if rule.for_each:
        items = lookup(payload, rule.for_each)
        items = items if isinstance(items, list) else ([] if is_blank(items) else [items])
        return [(f"{rule.for_each}[{i}]", item) for i, item in enumerate(items)]
    if rule.base:
        base = lookup(payload, rule.base)
        return [] if is_blank(base) else [(rule.base, base)]
    return [(None, payload)]


# ---------------------------------------------------------------------------------------------- fields


def _value_of(rule: FieldRule, base: Any, payload: Mapping[str, Any]) -> Any:
    if not rule.paths:
        return rule.constant
    values = [_read(p, base, payload) for p in rule.paths]
    if len(values) == 1:
        value = values[0]
    else:
        present = [v for v in values if not is_blank(v)]
        value = present if _wants_every_path(rule) else (present[0] if present else None)
    if is_blank(value) and rule.constant is not None:
        return rule.constant
    return value


def _wants_every_path(rule: FieldRule) -> bool:
    """Several paths feed a list field, a list attribute, or a list-level transform (join, first); else the first wins.

    Without this a single-valued field fed by ``[name, 姓名]`` would receive the list itself and store its text.
    """
    if rule.target in LIST_FIELDS or rule.type == "list":
        return True
    return any(not TRANSFORMS[step.name].per_item for step in rule.steps if step.name in TRANSFORMS)


def _evaluate(rule: FieldRule, raw: Any, ctx: Context) -> Any:
    value = raw.strip() if isinstance(raw, str) else raw
    for step in rule.steps:
        value = run(step.name, value, step.args, ctx)
    return value


def _contact(spec: MappingSpec, rule: ContactRule, label: str | None, base: Any, payload: Mapping[str, Any],
             landing_key: str, index: int, result: MappedRecord) -> MappedContact | None:
    if not isinstance(base, Mapping):
        base = {"value": base}  # for_each over plain strings: "value" names the item
    ctx = _context(spec)
    values: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    errors: list[FieldError] = []
    for frule in rule.fields:
        where = f"{label}.{frule.target}" if label else frule.target
        raw_value = _value_of(frule, base, payload)
        if not is_blank(raw_value):
            raw[frule.target] = _jsonable(raw_value)
        try:
            value = _canonical(frule, _evaluate(frule, raw_value, ctx), ctx)
        except NormalisationError as exc:
            failure = FieldError(where, raw_value, str(exc))
            (result.dropped if frule.on_error == "drop" else errors).append(failure)
            continue
        if is_blank(value):
            if frule.required:
                errors.append(FieldError(where, raw_value, "required value is missing"))
            continue
        _merge(values, frule.target, value)
    contact = _build_contact(values)
    body = contact.as_dict()
    if not body and not errors:
        return None  # an empty recipient slot is not a person
    failed = {e.field for e in errors}
    for group in rule.required:
        if any((f"{label}.{n}" if label else n) in failed for n in group):
            continue  # already reported with its value and reason
        if not any(name in body or _nested(body, name) is not None for name in group):
            where = " or ".join(f"{label}.{n}" if label else n for n in group)
            errors.append(FieldError(where, None, "required value is missing"))
    if errors:
        result.errors.extend(errors)
        return None
    default_key = landing_key if index == 0 else f"{landing_key}#{index}"
    key = next((k for t in rule.keys if (k := _render(t, body, landing_key, index))), default_key)
    return MappedContact(key=key, contact=contact, raw=raw, role=rule.role)


def _canonical(rule: FieldRule, value: Any, ctx: Context) -> Any:
    """Apply the normaliser every canonical field always gets, so specs cannot store un-normalised keys."""
    if is_blank(value):
        return None
    target = rule.target
    if target in ("email", "emails"):
        return _each(value, normalise_email, target == "emails")
    if target in ("phone", "phones"):
        return _each(value, lambda v: normalise_phone(str(v), ctx.region), target == "phones")
    if target == "birth_date":
        return run("date", value, {}, ctx)
    if target == "country":
        return to_country(value)
    if target in ("full_name", "given_name", "family_name"):
        return fold(str(value))
    if target == "tags":
        items = value if isinstance(value, list) else [value]
        return [fold(str(v)) for v in items if not is_blank(v)]
    if target.startswith("consent."):
        return to_boolean(value)
    if target.startswith("attributes."):
        return _typed(rule, value, ctx)
    if target == "occurred_at":
        instant = parse_instant(value, ctx.datetime_formats, ctx.timezone)
        ctx.notes.setdefault("source_tz", instant.source_tz)
        return instant.iso()
    if isinstance(value, list):
        value = next((v for v in value if not is_blank(v)), None)
    if target in ("channel", "direction"):
        choices = CHANNELS if target == "channel" else DIRECTIONS
        if str(value) not in choices:
            raise NormalisationError(f"not one of {', '.join(choices)} (add a 'map' transform)")
    return fold(str(value)) if target != "summary" else str(value).strip()


def _typed(rule: FieldRule, value: Any, ctx: Context) -> Any:
    kind = rule.type or "text"
    if kind == "list":
        return run("split", value, {}, ctx) if isinstance(value, str) else [str(v) for v in value]
    if kind == "enum":
        text = fold(str(value))
        match = next((v for v in rule.values if str(v).lower() == text.lower()), None)
        if match is None:
            raise NormalisationError(f"not one of {', '.join(map(str, rule.values))}")
        return match
    if kind == "text":
        return fold(str(value)) if not isinstance(value, list) else "; ".join(map(str, value))
    return run(kind, value, {}, ctx)


def _each(value: Any, normalise: Any, many: bool) -> Any:
    items = value if isinstance(value, list) else [value]
    out = [normalise(v) for v in items if not is_blank(v)]
    return out if many else (out[0] if out else None)


def _merge(values: dict[str, Any], target: str, value: Any) -> None:
    head, _, tail = target.partition(".")
    if tail:
        values.setdefault(head, {})[tail] = value
    elif head in ("emails", "phones", "tags"):
        existing = values.setdefault(head, [])
        existing.extend(v for v in value if v not in existing)
    else:
        values[head] = value


def _build_contact(values: dict[str, Any]) -> CanonicalContact:
    """Fill what one field implies about another: primary email/phone, name parts, full name."""
    emails = list(dict.fromkeys(([values["email"]] if "email" in values else []) + values.get("emails", [])))
    phones = list(dict.fromkeys(([values["phone"]] if "phone" in values else []) + values.get("phones", [])))
    full, given, family = values.get("full_name"), values.get("given_name"), values.get("family_name")
    if full and not (given or family):
        parsed = parse_name(full)
        if parsed is not None:
            full, given, family = parsed.full, parsed.given, parsed.family
    elif full:
        parsed = parse_name(full)
        full = parsed.full if parsed else full
    elif given or family:
        full = compose_name(given, family)
    fields = {k: v for k, v in values.items() if k not in ("emails", "phones", "tags", "full_name", "given_name",
                                                          "family_name", "email", "phone")}
    return CanonicalContact(
        full_name=full, given_name=given, family_name=family,
        email=emails[0] if emails else None, emails=tuple(emails),
        phone=phones[0] if phones else None, phones=tuple(phones),
        tags=tuple(dict.fromkeys(values.get("tags", []))), **fields,
    )


def _nested(body: Mapping[str, Any], name: str) -> Any:
    head, _, tail = name.partition(".")
    inner = body.get(head)
    return inner.get(tail) if tail and isinstance(inner, Mapping) else None


def _render(template: str, body: Mapping[str, Any], landing_key: str, index: int) -> str | None:
    """Fill ``{email}``, ``{handles.wechat}``, ``{_key}``, ``{_index}``; ``None`` if any part is empty."""
    missing = False

    def sub(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        value = {"_key": landing_key, "_index": str(index)}.get(name)
        if value is None:
            found = body.get(name) if "." not in name else _nested(body, name)
            value = None if is_blank(found) else str(found)
        if value is None:
            missing = True
            return ""
        return value

    rendered = TEMPLATE_FIELD.sub(sub, template)
    return None if missing or not rendered else rendered


# ---------------------------------------------------------------------------------------------- interaction


def _interaction(spec: MappingSpec, payload: Mapping[str, Any], landing_key: str,
                 result: MappedRecord) -> CanonicalInteraction | None:
    assert spec.interaction is not None
    ctx = _context(spec)
    values: dict[str, Any] = {}
    failed = False
    for frule in spec.interaction.fields:
        raw_value = _value_of(frule, payload, payload)
        try:
            value = _canonical(frule, _evaluate(frule, raw_value, ctx), ctx)
        except NormalisationError as exc:
            failure = FieldError(f"interaction.{frule.target}", raw_value, str(exc))
            if frule.on_error == "drop" and frule.target not in ("occurred_at", "channel"):
                result.dropped.append(failure)
            else:
                result.errors.append(failure)
                failed = True
            continue
        if not is_blank(value):
            values[frule.target] = value
    for needed in ("channel", "occurred_at"):
        if needed not in values and not failed:
            result.errors.append(FieldError(f"interaction.{needed}", None, "required value is missing"))
            failed = True
    if failed:
        return None
    participants = tuple({"key": c.key, "role": c.role} if c.role else {"key": c.key} for c in result.contacts)
    return CanonicalInteraction(
        channel=values["channel"], occurred_at=values["occurred_at"],
        external_ref=values.get("external_ref") or landing_key, direction=values.get("direction", "inbound"),
        source_tz=ctx.notes.get("source_tz"), subject=values.get("subject"), summary=values.get("summary"),
        participants=participants,
    )


def _context(spec: MappingSpec) -> Context:
    d = spec.defaults
    return Context(region=d.region, timezone=d.timezone, date_formats=d.date_formats,
                   datetime_formats=d.datetime_formats, ambiguous=d.ambiguous)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
