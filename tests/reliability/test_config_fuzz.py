"""Fuzzing ``hub.yaml`` parsing: whatever the file holds, the answer is a config or a ``ConfigError``, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.config import SOURCE_KINDS, TARGET_KINDS, HubConfig, parse_config
from crm_core.errors import ConfigError

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "hub.yaml").read_text(encoding="utf-8")
KEYS = ["version", "sources", "targets", "resolution", "name", "kind", "mapping", "schedule", "enabled", "options",
        "connection_id", "conflict_policy", "default", "fields", "survivorship", "auto_link_threshold",
        "review_threshold", "dead_letter_retention_days", "database_url", "max_flips_per_day", "source_priority"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from([*SOURCE_KINDS, *TARGET_KINDS, "@hourly", "*/15 * * * *", "99 99 * * *", "builtin:x", "mail"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5)
    ),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse(text: str) -> HubConfig | ConfigError:
    try:
        return parse_config(text, base_dir=Path("/nonexistent"))
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return exc


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text_is_a_config_or_a_config_error(text: str) -> None:
    _parse(text)


@FUZZ
@given(documents)
def test_structured_documents_with_hub_yaml_keys_are_a_config_or_a_config_error(doc: dict[str, Any]) -> None:
    _parse(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.data())
def test_mutations_of_the_example_file_are_a_config_or_a_config_error(data: st.DataObject) -> None:
    text = EXAMPLE
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 12))
        text = text[:at] + data.draw(st.text(max_size=6)) + text[at + cut :]
    _parse(text)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_quickly_with_a_short_message() -> None:
    # found by fuzzing: 9**9 values behind one alias; the message quoted the whole value
    result = _parse(BOMB + "version: *i\nsources: *i\n")
    assert isinstance(result, ConfigError) and len(str(result)) < 500


def test_input_nested_thousands_deep_is_a_config_error() -> None:
    # found by fuzzing: the YAML parser recursed until RecursionError
    assert isinstance(_parse("[" * 1000), ConfigError) and isinstance(_parse("a:\n" + "- " * 1000 + "x"), ConfigError)


def test_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    result = _parse(f"!!python/object/apply:os.system ['touch {marker}']\n")
    assert isinstance(result, ConfigError) and not marker.exists()
