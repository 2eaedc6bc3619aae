"""Per-target field maps: canonical golden field ↔ target field, with transforms by name.

A target map is YAML (``mapping/specs/targets/*.yaml``) and says, for one target object:

* ``object`` and ``external_id_field``: the target field holding the hub's key (``key_prefix`` + customer id), so
  an upsert is idempotent however often it is re-sent;
* ``fields``: ``canonical`` (a golden field, dotted for nested values such as ``attributes.budget``) ↔ ``target``,
  an optional ``transform`` (named below), ``fallback`` (a canonical field used when this one is empty, e.g. the
  full name for a required last name), ``push: false`` for fields only read back.

Why the round trip in ``comparable``: the three-way plan compares values in the target's representation after
reading them *in* and back *out*, so a person typing ``(0)30 1234 567`` where the hub wrote ``+49301234567`` is not
taken for a change of value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crm_core.errors import ConfigError

from .schema import CONTACT_FIELDS

_TARGET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}(\.[A-Za-z0-9_]{1,80}){0,3}")

Transform = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _text_in(value: Any) -> Any:
    if isinstance(value, str):
        value = " ".join(value.split())
        return value or None
    return value


def _email_in(value: Any) -> Any:
    value = _text_in(value)
    return value.lower() if isinstance(value, str) else value


def _phone_in(value: Any) -> Any:
    """What a person typed in the target, back to E.164 when it parses (default region from a leading +)."""
    value = _text_in(value)
    if not isinstance(value, str):
        return value
    import phonenumbers

    try:
        parsed = phonenumbers.parse(value, None if value.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_possible_number(parsed):
        return value
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _date_in(value: Any) -> Any:
    """Targets return dates as ``YYYY-MM-DD`` or as a datetime string; the hub keeps ISO dates."""
    return value[:10] if isinstance(value, str) and len(value) >= 10 else value


def _sorted(value: Any) -> Any:
    """Tags and other sets: targets return them in their own order, which is no change of value."""
    return sorted({str(v) for v in value}) if isinstance(value, list | tuple | set) else value


def _subscription_out(value: Any) -> Any:
    """A consent flag as a mailing-list status: true → subscribed, false → unsubscribed."""
    if isinstance(value, bool):
        return "subscribed" if value else "unsubscribed"
    return value


def _subscription_in(value: Any) -> Any:
    """A list status back as a consent flag; ``transactional``/``pending`` say nothing about consent (None)."""
    if value == "subscribed":
        return True
    if value in ("unsubscribed", "cleaned"):
        return False
    return None


# name -> (out: golden value to target value, in: target value to golden value)
TRANSFORMS: dict[str, tuple[Transform, Transform]] = {
    "identity": (_identity, _text_in),
    "email": (_identity, _email_in),
    "phone": (_identity, _phone_in),
    "country_code": (_upper, _upper),
    "date": (_identity, _date_in),
    "sorted": (_sorted, _sorted),
    "subscription": (_subscription_out, _subscription_in),
}


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _get(golden: Mapping[str, Any], dotted: str) -> Any:
    value: Any = golden
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _set(out: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


@dataclass(frozen=True)
class FieldMap:
    canonical: str
    target: str
    transform: str = "identity"
    fallback: str | None = None
    push: bool = True


@dataclass(frozen=True)
class TargetMap:
    """How one target object mirrors the golden record."""

    name: str
    object: str
    external_id_field: str
    key_prefix: str
    fields: tuple[FieldMap, ...]

    def hub_key(self, customer_id: int) -> str:
        return f"{self.key_prefix}{customer_id}"

    def customer_id_of(self, hub_key: str | None) -> int | None:
        if not hub_key or not hub_key.startswith(self.key_prefix):
            return None
        rest = hub_key.removeprefix(self.key_prefix)
        return int(rest) if rest.isdigit() else None

    @property
    def target_fields(self) -> list[str]:
        return [f.target for f in self.fields]

    def ours(self, golden: Mapping[str, Any]) -> dict[str, Any]:
        """The golden record in target representation, keyed by canonical field name."""
        out: dict[str, Any] = {}
        for f in self.fields:
            value = _get(golden, f.canonical)
            if is_empty(value) and f.fallback:
                value = _get(golden, f.fallback)
            out[f.canonical] = None if is_empty(value) else TRANSFORMS[f.transform][0](value)
        return out

    def theirs(self, remote_fields: Mapping[str, Any]) -> dict[str, Any]:
        """A remote record keyed by canonical name, in target representation, read in and out again."""
        out: dict[str, Any] = {}
        for f in self.fields:
            value = TRANSFORMS[f.transform][1](remote_fields.get(f.target))
            out[f.canonical] = None if is_empty(value) else TRANSFORMS[f.transform][0](value)
        return out

    def to_canonical(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values keyed by canonical name (target representation) as a canonical contact dict (nested, in)."""
        out: dict[str, Any] = {}
        for f in self.fields:
            value = TRANSFORMS[f.transform][1](values.get(f.canonical))
            if not is_empty(value):
                _set(out, f.canonical, value)
        return out

    def to_target(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values keyed by canonical name → the target's field names, only fields the hub may write."""
        by_name = {f.canonical: f for f in self.fields}
        return {by_name[k].target: v for k, v in values.items() if k in by_name and by_name[k].push}


def load_target_map(path: str | Path) -> TargetMap:
    """Read and check one target map; every problem is reported at once, with its path."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [f"cannot read target map: {exc}"]) from None
    problems: list[str] = []
    for key in ("object", "external_id_field", "fields"):
        if key not in data:
            problems.append(f"{key}: required key is missing")
    for key in ("object", "external_id_field"):
        if key in data and not _TARGET_NAME.fullmatch(str(data[key])):
            problems.append(f"{key}: {data[key]!r} is not a field or object name (letters, digits, _ and .)")
    fields: list[FieldMap] = []
    allowed = {"canonical", "target", "transform", "fallback", "push"}
    for i, raw in enumerate(data.get("fields") or []):
        where = f"fields[{i}]"
        if not isinstance(raw, dict) or not {"canonical", "target"} <= set(raw):
            problems.append(f"{where}: needs canonical and target")
            continue
        if set(raw) - allowed:
            problems.append(f"{where}: unknown key(s) {sorted(set(raw) - allowed)}")
        for key in ("canonical", "fallback"):
            name = raw.get(key)
            if name is not None and str(name).split(".")[0] not in CONTACT_FIELDS:
                problems.append(f"{where}.{key}: {name!r} is not a canonical contact field")
        if not _TARGET_NAME.fullmatch(str(raw["target"])):
            # target names reach the target's query language (SOQL, JSON-RPC domains): an allow-list, not quoting
            problems.append(f"{where}.target: {raw['target']!r} is not a field name (letters, digits, _ and .)")
        transform = raw.get("transform", "identity")
        if transform not in TRANSFORMS:
            problems.append(f"{where}.transform: {transform!r} unknown; known: {', '.join(TRANSFORMS)}")
        fields.append(FieldMap(**{k: v for k, v in raw.items() if k in allowed}))
    names = [f.canonical for f in fields]
    if len(set(names)) != len(names):
        problems.append("fields: each canonical field may appear once")
    if problems:
        raise ConfigError(str(path), problems)
    return TargetMap(
        name=str(data.get("name", path.stem)),
        object=str(data["object"]),
        external_id_field=str(data["external_id_field"]),
        key_prefix=str(data.get("key_prefix", "hub-")),
        fields=tuple(fields),
    )
