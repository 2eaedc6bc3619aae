"""The hub's settings: ``hub.yaml`` loaded into one typed, validated object.

Validation gathers every problem before raising, each with the file, the line and the key path, so a person fixes
the file in one pass. Secrets never live here: sources and targets name an Airflow connection id, resolved at run
time from Airflow or from ``AIRFLOW_CONN_<ID>`` environment variables.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

SOURCE_KINDS = (
    "form_webhook",  # signed posts to the intake endpoint (forms/website)
    "form_rest",  # form backend with a submissions REST API, updated_since cursor
    "form_files",  # CSV/JSONL export files dropped in a folder
    "imap",  # mailbox folders over IMAP
    "cdr_files",  # Asterisk Master.csv call detail records
    "twilio_calls",  # Twilio-style Calls REST API
    "x_api",  # X API v2 mentions / DMs
    "meta_leads",  # Meta Lead Ads instant forms, Graph API bulk read
    "whatsapp_webhook",  # Meta business messaging webhooks
    "wechat_webhook",  # WeChat official-account message pushes
    "social_files",  # recorded social payloads (JSON lines), the offline demo of the social adapters
)
TARGET_KINDS = ("salesforce", "tryton", "hubspot", "mailchimp")
CONFLICT_POLICIES = ("hub_wins", "target_wins", "newest_wins", "fill_if_empty", "manual")
SURVIVORSHIP_RULES = ("source_priority", "most_recent", "most_frequent", "most_complete")
SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@yearly")
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

BUILTIN_SPECS = Path(__file__).resolve().parent.parent / "mapping" / "specs"


def _check_schedule(value: str | None) -> str | None:
    if value is None or value in SCHEDULE_PRESETS:
        return value
    if re.fullmatch(r"\d+[smhd]", value):  # interval shorthand: 15m, 1h, 1d
        return value
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(
            f"{value!r} is not a schedule: use a preset ({', '.join(SCHEDULE_PRESETS)}), "
            "an interval like 15m or 1h, or a 5-field cron expression like '*/15 * * * *'"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal[SOURCE_KINDS]  # type: ignore[valid-type]
    mapping: str
    connection_id: str | None = None
    schedule: str | None = "@hourly"
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)

    _schedule = field_validator("schedule")(classmethod(lambda cls, v: _check_schedule(v)))


class ConflictPolicyConfig(_Strict):
    default: Literal[CONFLICT_POLICIES] = "manual"  # type: ignore[valid-type]
    fields: dict[str, Literal[CONFLICT_POLICIES]] = Field(default_factory=dict)  # type: ignore[valid-type]

    def for_field(self, field: str) -> str:
        return self.fields.get(field, self.default)


class TargetConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal[TARGET_KINDS]  # type: ignore[valid-type]
    mapping: str
    connection_id: str | None = None
    schedule: str | None = "@hourly"
    enabled: bool = True
    conflict_policy: ConflictPolicyConfig = Field(default_factory=ConflictPolicyConfig)
    # a record whose field flips more often than this in a day is held and reported
    max_flips_per_day: int = Field(default=4, ge=1)
    # read the target's own edits back (the target is then also a source); off for write-only targets
    pull_back: bool = True
    options: dict[str, Any] = Field(default_factory=dict)

    _schedule = field_validator("schedule")(classmethod(lambda cls, v: _check_schedule(v)))


class SurvivorshipConfig(_Strict):
    default: Literal[SURVIVORSHIP_RULES] = "most_recent"  # type: ignore[valid-type]
    fields: dict[str, Literal[SURVIVORSHIP_RULES]] = Field(default_factory=dict)  # type: ignore[valid-type]
    source_priority: list[str] = Field(default_factory=list)


class ResolutionConfig(_Strict):
    auto_link_threshold: float = Field(default=0.92, gt=0, le=1)
    review_threshold: float = Field(default=0.70, gt=0, le=1)
    survivorship: SurvivorshipConfig = Field(default_factory=SurvivorshipConfig)
    # identifiers shared by more than this many distinct people are treated as "hub" keys (switchboards, info@)
    hub_identifier_max_people: int = Field(default=3, ge=2)
    untrusted_email_locals: list[str] = Field(
        default_factory=lambda: ["info", "sales", "support", "admin", "contact", "office", "hello", "noreply", "no-reply"]
    )
    # values from these sources are human edits: they win survivorship for every field they carry
    human_edit_sources: list[str] = Field(default_factory=list)
    # e-mail addresses from these sources count as verified (merge protection: two verified addresses never merge)
    verified_email_sources: list[str] = Field(default_factory=list)
    # blocks with more records than this are not expanded into pairs (a common name alone is not evidence enough)
    max_block_size: int = Field(default=200, ge=2)
    # name (non-identity) blocks with more records than this are not expanded when a batch is resolved against the
    # store: against 1M people a common name alone makes blocks of hundreds, narrower keys (name + birth date,
    # + postcode, + city) still pair the same person
    max_name_block_size: int = Field(default=20, ge=2)
    # estimate the m/u parameters by EM once this many records have been resolved (until then: library defaults)
    estimate_after_records: int = Field(default=2000, ge=100)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> ResolutionConfig:
        if self.review_threshold > self.auto_link_threshold:
            raise ValueError("review_threshold must not be above auto_link_threshold")
        return self


class HubConfig(_Strict):
    version: Literal[1] = 1
    database_url: str | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    targets: list[TargetConfig] = Field(default_factory=list)
    resolution: ResolutionConfig = Field(default_factory=ResolutionConfig)
    dead_letter_retention_days: int = Field(default=30, ge=1)
    # where the file was loaded from; relative mapping paths resolve against it
    base_dir: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> HubConfig:
        names = [s.name for s in self.sources] + [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source and target names must be unique; repeated: {', '.join(dupes)}")
        return self

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError("hub.yaml", [f"no source named {name!r}; known: {', '.join(s.name for s in self.sources)}"])

    def target(self, name: str) -> TargetConfig:
        for t in self.targets:
            if t.name == name:
                return t
        raise ConfigError("hub.yaml", [f"no target named {name!r}; known: {', '.join(t.name for t in self.targets)}"])

    def mapping_path(self, ref: str) -> Path:
        return resolve_mapping_path(ref, self.base_dir)


def resolve_mapping_path(ref: str, base_dir: Path | None) -> Path:
    """``builtin:NAME`` names a spec shipped in ``mapping/specs``; anything else is a path relative to hub.yaml."""
    if ref.startswith("builtin:"):
        return BUILTIN_SPECS / f"{ref.removeprefix('builtin:')}.yaml"
    path = Path(ref)
    return path if path.is_absolute() else (base_dir or Path.cwd()) / path


# ---------------------------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> HubConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found (run `crmhub init` to create one)"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return parse_config(text, source=str(path), base_dir=path.parent)


def parse_config(text: str, source: str = "hub.yaml", base_dir: Path | None = None) -> HubConfig:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise ConfigError(source, [f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    except RecursionError:  # found by fuzzing: "[[[[…" thousands deep exhausts the YAML parser's stack
        raise ConfigError(source, ["line 1: nested too deeply to be a hub configuration"]) from None
    if data is None:
        data = {}
    if _expanded_size(data) > MAX_CONFIG_NODES:  # YAML aliases can expand a few lines into billions of nodes
        raise ConfigError(source, [f"line 1: more than {MAX_CONFIG_NODES} values once aliases are expanded"])
    if not isinstance(data, dict):
        raise ConfigError(source, ["line 1: the top level must be a mapping (sources:, targets:, resolution:)"])
    problems: list[str] = []
    config: HubConfig | None = None
    try:
        config = HubConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
            loc = tuple(p for p in loc if p not in SOURCE_KINDS + TARGET_KINDS or not isinstance(p, str))
            problems.append(f"{_line_of(node, loc)}{_dotted(loc) or '(top level)'}: {_message(err)}")
    for section in ("sources", "targets"):
        items = data.get(section)
        for i, item in enumerate(items if isinstance(items, list) else []):
            ref = item.get("mapping") if isinstance(item, dict) else None
            if isinstance(ref, str) and not resolve_mapping_path(ref, base_dir).is_file():
                loc = (section, i, "mapping")
                problems.append(
                    f"{_line_of(node, loc)}{_dotted(loc)}: mapping file {ref!r} not found "
                    f"(looked at {resolve_mapping_path(ref, base_dir)})"
                )
    if problems:
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]
        raise ConfigError(source, problems)
    assert config is not None
    return config


MAX_CONFIG_NODES = 100_000
MAX_PROBLEMS = 50


def _expanded_size(value: Any, budget: int = MAX_CONFIG_NODES + 1) -> int:
    """Count values as if aliases were copied, stopping as soon as the budget is spent."""
    seen, stack = 0, [value]
    while stack and seen < budget:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return seen


def _shown(value: Any) -> str:
    """A short rendering of a user's value for a message (found by fuzzing: the full repr can be gigabytes)."""
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: Any) -> str:
    if err["type"] == "literal_error":
        return f"got {_shown(err['input'])}; expected one of {err['ctx']['expected']}"
    if err["type"] == "extra_forbidden":
        return "unknown key (check its spelling)"
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"]).removeprefix("Value error, ")


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """Walk the composed YAML tree along ``loc`` to the deepest node that exists and report its line."""
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
