"""Mapping specs: YAML documents that say how one source's payloads become canonical contacts and interactions.

Loading validates the whole document and gathers every problem (unknown key, transform or canonical field, bad
parameter) with the spec's path, line and key, then raises one ``ConfigError``: the author fixes the file in one
pass. The compiled ``MappingSpec`` is immutable and cheap to apply many times. The format is described with
examples in ``docs/mapping.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crm_core.errors import ConfigError

from ._dates import DEFAULT_DATE_FORMATS, DEFAULT_DATETIME_FORMATS, zone
from ._text import NormalisationError
from ._transforms import TRANSFORMS, check_args
from .schema import CONTACT_FIELDS

DICT_FIELDS = ("handles", "consent", "attributes")
LIST_FIELDS = ("emails", "phones", "tags")
CONTACT_TARGETS = tuple(f for f in CONTACT_FIELDS if f not in DICT_FIELDS)
INTERACTION_TARGETS = ("channel", "direction", "external_ref", "occurred_at", "subject", "summary")
CHANNELS = ("web", "email", "phone", "social", "sms", "import", "chat", "meeting", "other")
DIRECTIONS = ("inbound", "outbound", "internal")
ATTRIBUTE_TYPES = ("text", "integer", "decimal", "boolean", "date", "datetime", "enum", "list")
ON_ERROR = ("reject", "drop")


@dataclass(frozen=True)
class Step:
    """One transform with its arguments."""

    name: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class FieldRule:
    """Where one canonical field comes from and how it is cleaned."""

    target: str  # "email", "handles.wechat", "consent.sms", "attributes.购房预算", or an interaction field
    paths: tuple[str, ...] = ()
    constant: Any = None
    steps: tuple[Step, ...] = ()
    required: bool = False
    on_error: str = "reject"
    type: str | None = None  # attributes only
    values: tuple[Any, ...] = ()  # enum attributes only


@dataclass(frozen=True)
class ContactRule:
    role: str | None
    base: str | None  # 'from': a sub-object of the payload
    for_each: str | None  # a list in the payload: one contact per item
    keys: tuple[str, ...]  # key templates, first that renders wins
    fields: tuple[FieldRule, ...]
    required: tuple[tuple[str, ...], ...]  # each entry: at least one of these fields must have a value


@dataclass(frozen=True)
class InteractionRule:
    fields: tuple[FieldRule, ...]
    when: str | None = None  # only when this payload path has a value


@dataclass(frozen=True)
class Defaults:
    region: str = "CN"
    timezone: str = "UTC"
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    datetime_formats: tuple[str, ...] = DEFAULT_DATETIME_FORMATS
    ambiguous: str = "first"
    on_error: str = "reject"


@dataclass(frozen=True)
class MappingSpec:
    name: str
    source: str  # where it was loaded from, for messages
    defaults: Defaults
    contacts: tuple[ContactRule, ...]
    interaction: InteractionRule | None
    description: str = ""
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def load_spec(path: str | os.PathLike[str]) -> MappingSpec:
    """Load and validate a spec file; ``ConfigError`` lists every problem with the file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["mapping spec not found"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return parse_spec(text, source=str(path), name=path.stem)


def parse_spec(text: str, source: str = "<spec>", name: str | None = None) -> MappingSpec:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(source, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    return spec_from_dict(data, source=source, name=name, node=node)


def spec_from_dict(data: Any, source: str = "<spec>", name: str | None = None,
                   node: yaml.Node | None = None) -> MappingSpec:
    """Compile a spec document (as loaded from YAML, or built by the import's mapping proposal)."""
    checker = _Checker(source, node)
    spec = checker.spec(data, name)
    checker.raise_if_any()
    assert spec is not None
    return spec


class _Checker:
    """Walks a spec document, compiling it and noting every problem with its key path."""

    def __init__(self, source: str, node: yaml.Node | None) -> None:
        self.source = source
        self.node = node
        self.problems: list[str] = []

    def problem(self, loc: tuple[Any, ...], message: str) -> None:
        self.problems.append(f"{_line_of(self.node, loc)}{_dotted(loc) or '(top level)'}: {message}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.source, self.problems)

    def keys(self, data: Mapping[str, Any], loc: tuple[Any, ...], allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                self.problem((*loc, key), f"unknown key (expected one of: {', '.join(allowed)})")

    def mapping(self, data: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(loc, f"must be a mapping, got {type(data).__name__}")
            return {}
        return data

    def spec(self, data: Any, name: str | None) -> MappingSpec | None:
        if not isinstance(data, dict):
            self.problem((), "a mapping spec is a YAML mapping with 'contacts:' and/or 'interaction:'")
            self.raise_if_any()
        self.keys(data, (), ("version", "name", "description", "defaults", "contacts", "interaction"))
        if data.get("version", 1) != 1:
            self.problem(("version",), "only version 1 is understood")
        defaults = self.defaults(self.mapping(data.get("defaults"), ("defaults",)))
        contacts_doc = data.get("contacts") or []
        if not isinstance(contacts_doc, list):
            self.problem(("contacts",), "must be a list of contact rules")
            contacts_doc = []
        contacts = tuple(
            rule for i, c in enumerate(contacts_doc)
            if (rule := self.contact(self.mapping(c, ("contacts", i)), ("contacts", i), defaults)) is not None
        )
        interaction = None
        if data.get("interaction") is not None:
            interaction = self.interaction(self.mapping(data["interaction"], ("interaction",)), defaults)
        if not contacts and interaction is None:
            self.problem((), "the spec maps nothing: add 'contacts:' or 'interaction:'")
        return MappingSpec(
            name=str(data.get("name") or name or "spec"), source=self.source, defaults=defaults,
            contacts=contacts, interaction=interaction, description=str(data.get("description") or ""),
            document=data,
        )

    def defaults(self, data: dict[str, Any]) -> Defaults:
        loc = ("defaults",)
        self.keys(data, loc, ("region", "timezone", "date_formats", "datetime_formats", "ambiguous", "on_error"))
        base = Defaults()
        region = data.get("region", base.region)
        if not (isinstance(region, str) and len(region) == 2 and region.isalpha()):
            self.problem((*loc, "region"), "must be a two-letter ISO country code like CN or DE")
        timezone = data.get("timezone", base.timezone)
        try:
            zone(str(timezone))
        except NormalisationError as exc:
            self.problem((*loc, "timezone"), str(exc))
        lists = {}
        for key in ("date_formats", "datetime_formats"):
            value = data.get(key, getattr(base, key))
            if not (isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value)):
                self.problem((*loc, key), "must be a non-empty list of formats")
                value = getattr(base, key)
            lists[key] = tuple(value)
        for key, choices in (("ambiguous", ("first", "reject")), ("on_error", ON_ERROR)):
            if data.get(key, getattr(base, key)) not in choices:
                self.problem((*loc, key), f"must be one of {', '.join(choices)}")
        return Defaults(region=str(region).upper(), timezone=str(timezone), ambiguous=data.get("ambiguous", "first"),
                        on_error=data.get("on_error", "reject"), **lists)

    def contact(self, data: dict[str, Any], loc: tuple[Any, ...], defaults: Defaults) -> ContactRule | None:
        self.keys(data, loc, ("role", "from", "for_each", "key", "required", "fields", "attributes"))
        if data.get("from") and data.get("for_each"):
            self.problem(loc, "use either 'from' or 'for_each', not both")
        keys = data.get("key") or []
        keys = [keys] if isinstance(keys, str) else keys
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            self.problem((*loc, "key"), "must be a template like '{email}' or a list of them")
            keys = []
        fields: list[FieldRule] = []
        for target, rule in self.mapping(data.get("fields"), (*loc, "fields")).items():
            floc = (*loc, "fields", target)
            head, _, tail = str(target).partition(".")
            if tail and head in ("handles", "consent"):
                pass
            elif target not in CONTACT_TARGETS:
                hint = " (custom fields go under 'attributes:')" if head == "attributes" or not tail else ""
                self.problem(floc, f"unknown canonical field {target!r}{hint}; known: "
                                   f"{', '.join(CONTACT_TARGETS)}, handles.<name>, consent.<name>")
                continue
            compiled = self.field(str(target), rule, floc, defaults, attribute=False)
            if compiled is not None:
                fields.append(compiled)
        for attr, rule in self.mapping(data.get("attributes"), (*loc, "attributes")).items():
            compiled = self.field(f"attributes.{attr}", rule, (*loc, "attributes", attr), defaults, attribute=True)
            if compiled is not None:
                fields.append(compiled)
        known = {f.target for f in fields}
        required: list[tuple[str, ...]] = []
        entries = data.get("required") or []
        if not isinstance(entries, list):
            self.problem((*loc, "required"), "must be a list of fields (a nested list: at least one of them)")
            entries = []
        for i, entry in enumerate(entries):
            group = tuple(entry) if isinstance(entry, list) else (entry,)
            if not group or not all(isinstance(name, str) for name in group):
                self.problem((*loc, "required", i), "must be a field name or a list of field names")
                continue
            for name in group:
                if name not in known and name not in _DERIVED.get(name, ()) and not _derivable(name, known):
                    self.problem((*loc, "required", i), f"{name!r} is required but no field maps it")
            required.append(group)
        for template in keys:
            for name in _template_names(template):
                if name not in ("_key", "_index") and name not in known and not _derivable(name, known):
                    self.problem((*loc, "key"), f"the key template uses {{{name}}}, which no field maps")
        return ContactRule(role=data.get("role"), base=data.get("from"), for_each=data.get("for_each"),
                           keys=tuple(keys), fields=tuple(fields), required=tuple(required))

    def interaction(self, data: dict[str, Any], defaults: Defaults) -> InteractionRule:
        loc = ("interaction",)
        self.keys(data, loc, (*INTERACTION_TARGETS, "when"))
        fields = []
        for target in INTERACTION_TARGETS:
            if target not in data:
                continue
            rule = data[target]
            if target in ("channel", "direction") and isinstance(rule, str):
                choices = CHANNELS if target == "channel" else DIRECTIONS
                if rule not in choices:
                    self.problem((*loc, target), f"{rule!r} is not one of {', '.join(choices)}")
                rule = {"value": rule}
            compiled = self.field(target, rule, (*loc, target), defaults, attribute=False)
            if compiled is not None:
                fields.append(compiled)
        for needed in ("channel", "occurred_at"):
            if needed not in data:
                self.problem((*loc, needed), "required key is missing")
        return InteractionRule(fields=tuple(fields), when=data.get("when"))

    def field(self, target: str, rule: Any, loc: tuple[Any, ...], defaults: Defaults,
              attribute: bool) -> FieldRule | None:
        if isinstance(rule, str | list):
            rule = {"from": rule}
        if not isinstance(rule, dict):
            self.problem(loc, "must be a source path, a list of paths, or a mapping with 'from:' or 'value:'")
            return None
        allowed = ("from", "value", "transforms", "required", "on_error", "type", "values")
        self.keys(rule, loc, allowed if attribute else allowed[:5])
        paths = rule.get("from") or []
        paths = [paths] if isinstance(paths, str) else paths
        if not (isinstance(paths, list) and all(isinstance(p, str) and p for p in paths)):
            self.problem((*loc, "from"), "must be a source path or a list of them")
            paths = []
        if not paths and "value" not in rule:
            self.problem(loc, "needs 'from:' (a source path) or 'value:' (a constant)")
        steps = []
        items = rule.get("transforms") or []
        if not isinstance(items, list):
            self.problem((*loc, "transforms"), "must be a list")
            items = []
        for i, item in enumerate(items):
            step = self.step(item, (*loc, "transforms", i))
            if step is not None:
                steps.append(step)
        on_error = rule.get("on_error", defaults.on_error)
        if on_error not in ON_ERROR:
            self.problem((*loc, "on_error"), f"must be one of {', '.join(ON_ERROR)}")
        kind = rule.get("type", "text") if attribute else None
        if attribute and kind not in ATTRIBUTE_TYPES:
            self.problem((*loc, "type"), f"unknown type {kind!r}; known: {', '.join(ATTRIBUTE_TYPES)}")
        values = rule.get("values") or []
        if kind == "enum" and not (isinstance(values, list) and values):
            self.problem((*loc, "values"), "an enum needs its list of values")
        return FieldRule(target=target, paths=tuple(paths), constant=rule.get("value"), steps=tuple(steps),
                         required=bool(rule.get("required", False)), on_error=on_error, type=kind,
                         values=tuple(values) if isinstance(values, list) else ())

    def step(self, item: Any, loc: tuple[Any, ...]) -> Step | None:
        if isinstance(item, str):
            name, args = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, raw = next(iter(item.items()))
            spec = TRANSFORMS.get(name)
            if isinstance(raw, dict) and not (spec and spec.main and spec.params.get(spec.main) is dict):
                args = raw
            elif raw is None:
                args = {}
            elif spec is not None and spec.main is not None:
                args = {spec.main: raw}
            elif spec is not None:
                self.problem(loc, f"transform {name!r} takes no shorthand argument")
                return None
            else:
                args = {}
        else:
            self.problem(loc, "a transform is a name or a one-key mapping {name: arguments}")
            return None
        problems = check_args(str(name), args)
        for message in problems:
            self.problem(loc, message)
        return None if problems else Step(name=str(name), args=args)


_DERIVED = {"email": ("emails",), "phone": ("phones",), "full_name": ("given_name", "family_name"),
            "given_name": ("full_name",), "family_name": ("full_name",), "emails": ("email",),
            "phones": ("phone",)}


def _derivable(name: str, known: set[str]) -> bool:
    return any(other in known for other in _DERIVED.get(name, ()))


TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def _template_names(template: str) -> list[str]:
    return TEMPLATE_FIELD.findall(template)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """The line of the deepest node along ``loc`` that exists in the composed YAML."""
    best = node
    for part in loc:
        nxt = None
        if isinstance(best, yaml.MappingNode):
            for key, value in best.value:
                if key.value == part:
                    nxt = value if not isinstance(value, yaml.ScalarNode) else key
                    break
        elif isinstance(best, yaml.SequenceNode) and isinstance(part, int) and part < len(best.value):
            nxt = best.value[part]
        if nxt is None:
            break
        best = nxt
    return f"line {best.start_mark.line + 1}: " if best is not None else ""
