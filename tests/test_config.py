"""hub.yaml validation: every problem reported with file, line and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_core.config import load_config, parse_config
from crm_core.errors import ConfigError

VALID = """
version: 1
sources:
  - name: mail
    kind: imap
    connection_id: crm_imap
    schedule: "*/15 * * * *"
    mapping: builtin:sample
targets:
  - name: sf
    kind: salesforce
    mapping: builtin:sample
    conflict_policy: {default: manual, fields: {email: hub_wins}}
"""


@pytest.fixture(autouse=True)
def builtin_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sample.yaml").write_text("{}", encoding="utf-8")
    monkeypatch.setattr("crm_core.config.BUILTIN_SPECS", tmp_path)


def problems_of(text: str, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="hub.yaml", base_dir=base_dir)
    assert str(info.value).startswith("hub.yaml: ")
    return info.value.problems


def test_a_valid_file_loads_with_defaults() -> None:
    config = parse_config(VALID)
    assert config.source("mail").schedule == "*/15 * * * *"
    assert config.target("sf").conflict_policy.for_field("email") == "hub_wins"
    assert config.target("sf").conflict_policy.for_field("phone") == "manual"
    assert config.resolution.auto_link_threshold > config.resolution.review_threshold


def test_an_unknown_kind_names_the_line_key_and_allowed_kinds() -> None:
    [problem] = problems_of(VALID.replace("kind: imap", "kind: fax"))
    assert problem.startswith("line 5: sources[0].kind: got 'fax'; expected one of")
    assert "'imap'" in problem


def test_a_missing_mapping_file_names_the_path_it_looked_at(tmp_path: Path) -> None:
    [problem] = problems_of(VALID.replace("mapping: builtin:sample\ntargets", "mapping: maps/mail.yaml\ntargets"),
                            base_dir=tmp_path)
    assert problem.startswith("line 8: sources[0].mapping: mapping file 'maps/mail.yaml' not found")
    assert str(tmp_path / "maps" / "mail.yaml") in problem


def test_a_bad_schedule_explains_what_is_expected() -> None:
    [problem] = problems_of(VALID.replace('"*/15 * * * *"', "every tuesday"))
    assert problem.startswith("line 7: sources[0].schedule: 'every tuesday' is not a schedule")
    assert "cron" in problem


def test_all_problems_are_reported_at_once() -> None:
    text = VALID.replace("kind: imap", "kind: fax").replace("kind: salesforce", "kind: dynamics")
    text = text.replace("hub_wins", "loudest_wins")
    problems = problems_of(text)
    assert len(problems) == 3
    assert any(p.startswith("line 13: targets[0].conflict_policy.fields.email") for p in problems)


def test_a_misspelt_key_is_rejected() -> None:
    [problem] = problems_of(VALID.replace("    connection_id: crm_imap\n", "    conection_id: crm_imap\n"))
    assert problem == "line 6: sources[0].conection_id: unknown key (check its spelling)"


def test_source_and_target_names_must_be_unique() -> None:
    [problem] = problems_of(VALID.replace("name: sf", "name: mail"))
    assert "repeated: mail" in problem


def test_secrets_are_not_accepted_as_keys() -> None:
    [problem] = problems_of(VALID.replace("connection_id: crm_imap", "password: hunter2"))
    assert "unknown key" in problem and "hunter2" not in problem


def test_invalid_yaml_gives_the_line() -> None:
    [problem] = problems_of("sources:\n  - name: [unclosed\n")
    assert problem.startswith("line 3: not valid YAML")


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="crmhub init"):
        load_config(tmp_path / "hub.yaml")
