"""Proposing a spec from a table's headers and values: recognised columns, the rest as safe attributes, dates."""

from __future__ import annotations

import pytest

from mapping import apply, attribute_name, guess_date_formats, propose_spec, spec_from_dict

HOSTILE = 'name"; DROP TABLE customer; --'


def _fields(headers: list[str], rows: list[dict[str, str]] | None = None) -> dict[str, object]:
    proposal = propose_spec(headers, rows or [])
    return proposal.document["contacts"][0].get("fields", {})


@pytest.mark.parametrize(("header", "field"), [
    ("姓名", "full_name"), ("名字", "full_name"), ("联系人", "full_name"), ("Name", "full_name"),
    ("手机", "phone"), ("联系电话", "phone"), ("手机号码（必填）", "phone"), ("Mobile Phone", "phone"),
    ("邮箱", "email"), ("电子邮件", "email"), ("E-mail", "email"), ("email_address", "email"),
    ("公司", "company"), ("单位", "company"), ("城市", "city"), ("地址", "street"),
    ("生日", "birth_date"), ("出生日期", "birth_date"), ("Date of Birth", "birth_date"),
    ("Ｅｍａｉｌ", "email"),  # full-width header
])
def test_a_known_header_maps_to_its_canonical_field(header: str, field: str) -> None:
    assert field in _fields([header])


@pytest.mark.parametrize(("header", "attribute", "kind"), [
    ("备注", "notes", "text"),
    ("注册日期", "registered_on", "date"),
    ("购房预算", "budget", "decimal"),
    ("会员等级", "会员等级", "text"),  # unknown: kept under its own name
])
def test_other_headers_become_attributes(header: str, attribute: str, kind: str) -> None:
    proposal = propose_spec([header], [{header: "x"}])
    attributes = proposal.document["contacts"][0]["attributes"]
    assert attributes[attribute]["from"] == header and attributes[attribute]["type"] == kind
    assert proposal.columns[header] == f"attributes.{attribute}"


@pytest.mark.parametrize(("header", "name"), [
    ("会员等级", "会员等级"),
    ("favourite_colour", "favourite_colour"),
    (HOSTILE, "name_DROP_TABLE_customer"),
    ("../../etc/passwd", "etc_passwd"),
    ("1st visit", "c_1st_visit"),          # a name does not start with a digit
    ("'; --", "column_4"),                 # nothing usable left: a positional name
    ("a.b", "a_b"),                        # a dot would nest the attribute
])
def test_an_attribute_name_is_the_header_only_when_it_passes_the_allow_list(header: str, name: str) -> None:
    assert attribute_name(header, index=3) == name


def test_a_hostile_header_is_an_attribute_read_from_its_column_as_written() -> None:
    proposal = propose_spec(["姓名", HOSTILE], [{"姓名": "张三", HOSTILE: "x"}])
    spec = spec_from_dict(proposal.document)

    mapped = apply(spec, {"姓名": "张三", HOSTILE: "'; DELETE FROM customer; --"}, key="k")

    assert mapped.contacts[0].contact.attributes == {"name_DROP_TABLE_customer": "'; DELETE FROM customer; --"}
    assert any("kept as attribute 'name_DROP_TABLE_customer'" in n for n in proposal.notes)


def test_two_phone_columns_feed_the_phone_list_first_is_primary() -> None:
    proposal = propose_spec(["姓名", "手机", "电话"], [])
    spec = spec_from_dict(proposal.document)

    contact = apply(spec, {"姓名": "张三", "手机": "13800138000", "电话": "010 6552 9988"}).contacts[0].contact

    assert contact.phone == "+8613800138000" and contact.phones == ("+8613800138000", "+861065529988")


def test_an_id_column_with_distinct_values_keys_the_rows() -> None:
    rows = [{"客户编号": "C1", "姓名": "A"}, {"客户编号": "C2", "姓名": "B"}]
    assert propose_spec(["客户编号", "姓名"], rows).key_column == "客户编号"
    repeated = [{"客户编号": "C1", "姓名": "A"}, {"客户编号": "C1", "姓名": "B"}]
    assert propose_spec(["客户编号", "姓名"], repeated).key_column is None  # not an identifier after all


def test_without_an_id_contacts_are_keyed_by_email_then_phone_then_the_row() -> None:
    contact = propose_spec(["姓名", "邮箱", "手机"], []).document["contacts"][0]
    assert contact["key"] == ["{email}", "{phone}", "{_key}"]
    assert contact["required"] == [["full_name", "email", "phone"]]


@pytest.mark.parametrize(("values", "formats", "ambiguous"), [
    pytest.param(["2025-08-23", "1990-03-05"], ["iso"], False, id="iso"),
    pytest.param(["2025年8月23日", "二〇二五年八月二十三日"], ["cn"], False, id="cn"),
    pytest.param(["2025/8/23", "1990/03/05"], ["%Y/%m/%d"], False, id="slashed-year-first"),
    pytest.param(["23.08.2025"], ["eu"], False, id="eu"),
    pytest.param(["25/12/1985", "03/04/1992"], ["uk"], False, id="uk-day-above-12"),
    pytest.param(["12/25/1985", "03/04/1992"], ["us"], False, id="us-day-above-12"),
    pytest.param(["03/04/1992"], ["us", "uk"], True, id="no-evidence-both-rejected-if-ambiguous"),
    pytest.param(["12/25/1985", "25/12/1985"], ["us", "uk"], True, id="evidence-for-both"),
    pytest.param(["45892", "2025-01-02"], ["iso", "excel"], False, id="excel-serial"),
    pytest.param(["2025-08-23", "2025年8月24日", "2025/8/25", "26.08.2025", "45900"],
                 ["iso", "cn", "%Y/%m/%d", "eu", "excel"], False, id="mixed"),
])
def test_date_formats_are_guessed_from_the_values(values: list[str], formats: list[str], ambiguous: bool) -> None:
    assert guess_date_formats(values) == (formats, ambiguous)


def test_a_date_column_is_found_by_its_values_and_a_number_column_is_not() -> None:
    rows = [{"首次到访": "2025/8/23", "卡号": "45892"}, {"首次到访": "2025年8月1日", "卡号": "45893"}]
    attributes = propose_spec(["首次到访", "卡号"], rows).document["contacts"][0]["attributes"]
    assert attributes["首次到访"]["type"] == "date"
    assert attributes["卡号"]["type"] == "text"  # 5-digit numbers alone are not spreadsheet dates


def test_an_ambiguous_birthday_is_rejected_not_guessed() -> None:
    proposal = propose_spec(["姓名", "生日"], [{"姓名": "A", "生日": "03/04/1992"}])
    spec = spec_from_dict(proposal.document)

    mapped = apply(spec, {"姓名": "A", "生日": "03/04/1992"})

    assert [e.field for e in mapped.errors] == ["birth_date"] and "ambiguous" in mapped.errors[0].reason
    assert apply(spec, {"姓名": "A", "生日": "1992-04-03"}).contacts[0].contact.birth_date == "1992-04-03"


def test_the_proposal_is_a_valid_spec_in_yaml_with_its_notes_as_comments() -> None:
    from mapping import parse_spec

    proposal = propose_spec(["姓名", "生日", HOSTILE], [{"生日": "03/04/1992"}], name="import_x")
    text = proposal.as_yaml("import spec for import_x")

    assert text.startswith("# import spec for import_x\n# column '生日'")
    assert parse_spec(text).name == "import_x"
