"""Loading a mapping spec: a valid one compiles; a wrong one fails naming the file, line and key of every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_core.errors import ConfigError
from mapping import load_spec, parse_spec


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_spec(text, source="specs/web.yaml")
    assert str(info.value).startswith("specs/web.yaml: ")
    return info.value.problems


def test_a_valid_spec_loads_with_its_defaults_and_rules(tmp_path: Path) -> None:
    path = tmp_path / "web_form.yaml"
    path.write_text(
        "version: 1\ndefaults: {region: DE, timezone: Europe/Berlin, date_formats: [eu, iso]}\n"
        "contacts:\n  - key: '{email}'\n    fields: {email: mail, full_name: name}\n"
        "interaction: {channel: web, occurred_at: at}\n",
        encoding="utf-8",
    )
    spec = load_spec(path)
    assert spec.name == "web_form"  # from the file name
    assert (spec.defaults.region, spec.defaults.timezone, spec.defaults.date_formats) == (
        "DE", "Europe/Berlin", ("eu", "iso"))
    assert [f.target for f in spec.contacts[0].fields] == ["email", "full_name"]
    assert spec.interaction is not None


def test_every_problem_is_reported_at_once_with_line_and_key() -> None:
    problems = _problems(
        "version: 1\n"
        "contacts:\n"
        "  - fields:\n"
        "      emial: address\n"
        "      phone: {from: tel, transforms: [{phone: {regoin: CN}}, frobnicate]}\n"
        "    attributes:\n"
        "      购房预算: {from: budget, type: money}\n"
    )
    assert len(problems) == 4
    assert problems[0].startswith("line 4: contacts[0].fields.emial: unknown canonical field 'emial'")
    assert problems[1].startswith("line 5: contacts[0].fields.phone.transforms[0]: transform 'phone' has no "
                                  "parameter 'regoin'")
    assert problems[2].startswith("line 5: contacts[0].fields.phone.transforms[1]: unknown transform 'frobnicate'")
    assert problems[3].startswith("line 7: contacts[0].attributes.购房预算.type: unknown type 'money'")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("contacts: [{fields: {email: e}}]\nextra: 1\n", "extra: unknown key", id="unknown-top-key"),
    pytest.param("defaults: {region: China}\ncontacts: [{fields: {email: e}}]\n", "defaults.region: must be a two",
                 id="region-not-iso"),
    pytest.param("defaults: {timezone: Mars/Base}\ncontacts: [{fields: {email: e}}]\n", "unknown time zone",
                 id="bad-zone"),
    pytest.param("contacts: [{key: '{phone}', fields: {email: e}}]\n", "uses {phone}, which no field maps",
                 id="key-uses-unmapped-field"),
    pytest.param("contacts: [{required: [company], fields: {email: e}}]\n", "'company' is required but no field",
                 id="required-unmapped"),
    pytest.param("contacts: [{required: true, fields: {email: e}}]\n", "required: must be a list of fields",
                 id="required-not-a-list"),  # found by test_parser_fuzz: a TypeError escaped the parser
    pytest.param("contacts: [{required: email, fields: {email: e}}]\n", "required: must be a list of fields",
                 id="required-a-bare-name"),  # was read letter by letter
    pytest.param("contacts: [{required: [{email: 1}], fields: {email: e}}]\n", "must be a field name or a list",
                 id="required-entry-a-mapping"),
    pytest.param("contacts: [{fields: {email: {transforms: [email]}}}]\n", "needs 'from:'", id="no-source"),
    pytest.param("contacts: [{fields: {email: {from: e, transforms: [{truncate: ten}]}}}]\n",
                 "'length' has the wrong type", id="wrong-argument-type"),
    pytest.param("contacts: [{fields: {email: {from: e, transforms: [{extract: '('}]}}}]\n",
                 "not a regular expression", id="bad-regex"),
    pytest.param("contacts: [{attributes: {level: {from: l, type: enum}}}]\n", "an enum needs its list",
                 id="enum-without-values"),
    pytest.param("interaction: {channel: fax, occurred_at: at}\n", "'fax' is not one of", id="unknown-channel"),
    pytest.param("interaction: {channel: web}\n", "interaction.occurred_at: required key", id="no-occurred-at"),
    pytest.param("version: 1\n", "maps nothing", id="empty"),
    pytest.param("contacts: [{fields: {email: e}}\n", "not valid YAML", id="broken-yaml"),
])
def test_a_wrong_spec_names_the_key_and_what_to_do(text: str, expected: str) -> None:
    assert any(expected in p for p in _problems(text)), _problems(text)


def test_transform_arguments_may_be_written_short_or_long() -> None:
    spec = parse_spec(
        "contacts:\n  - fields:\n      phone: {from: t, transforms: [trim, {phone: US}, {phone: {region: DE}}, "
        "{truncate: 20}, {map: {values: {a: b}}}]}\n"
    )
    steps = spec.contacts[0].fields[0].steps
    assert [(s.name, dict(s.args)) for s in steps] == [
        ("trim", {}), ("phone", {"region": "US"}), ("phone", {"region": "DE"}), ("truncate", {"length": 20}),
        ("map", {"values": {"a": "b"}}),
    ]


def test_a_missing_spec_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: mapping spec not found"):
        load_spec(tmp_path / "nope.yaml")
