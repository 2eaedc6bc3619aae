"""Applying a spec to payloads: contacts with keys, one interaction, and every bad value as a field error."""

from __future__ import annotations

from mapping import apply, parse_spec

MAIL = parse_spec("""\
defaults: {region: CN, timezone: Asia/Shanghai}
contacts:
  - role: from
    from: sender
    key: "{email}"
    required: [email]
    fields: {email: address, full_name: name}
  - role: to
    for_each: recipients
    key: "{email}"
    fields:
      email: {from: address, on_error: drop}
      full_name: name
interaction:
  channel: email
  external_ref: message_id
  occurred_at: {from: date, transforms: [{datetime: [rfc2822, iso]}]}
  subject: subject
  summary: {from: body, transforms: [strip_html, {truncate: 40}]}
""")

MAIL_PAYLOAD = {
    "message_id": "<m1@example.cn>",
    "date": "Sat, 23 Aug 2025 09:30:00 +0800",
    "subject": "询价",
    "body": "<p>您好，<b>请报价</b></p><script>x()</script>",
    "sender": {"address": "Zhang.San@Example.COM", "name": "张 三"},
    "recipients": [
        {"address": "sales@firma.de", "name": "VAN DER BERG, JAN"},
        {"address": "zhang.san@example.com", "name": "张三"},  # the sender in Cc
        {"address": "not-an-address", "name": "Li Si"},
        {},
    ],
}


def test_a_mail_yields_its_sender_and_recipients_keyed_by_address() -> None:
    mapped = apply(MAIL, MAIL_PAYLOAD, key="INBOX:7")
    assert [(c.key, c.role) for c in mapped.contacts] == [
        ("zhang.san@example.com", "from"), ("sales@firma.de", "to"),
        ("INBOX:7#2", "to"),  # its address was dropped, so the key template falls back to the landing key
    ]
    assert mapped.contacts[1].contact.family_name == "van der Berg"
    assert mapped.errors == []
    assert [e.field for e in mapped.dropped] == ["recipients[2].email"]  # a bad Cc address does not fail the mail


def test_a_mail_yields_one_interaction_in_utc_with_its_participants() -> None:
    (interaction,) = apply(MAIL, MAIL_PAYLOAD, key="INBOX:7").interactions
    assert (interaction.channel, interaction.external_ref) == ("email", "<m1@example.cn>")
    assert (interaction.occurred_at, interaction.source_tz) == ("2025-08-23T01:30:00+00:00", "+08:00")
    assert interaction.summary == "您好，请报价"  # tags and scripts gone
    assert interaction.participants[0] == {"key": "zhang.san@example.com", "role": "from"}


def test_a_sender_without_a_valid_address_is_a_field_error_with_value_and_reason() -> None:
    mapped = apply(MAIL, {**MAIL_PAYLOAD, "sender": {"address": "zhang@", "name": "张三"}})
    assert [(e.field, e.value) for e in mapped.errors] == [("sender.email", "zhang@")]
    assert "after the @" in mapped.errors[0].reason


def test_the_default_contact_key_is_the_landing_key_then_numbered() -> None:
    spec = parse_spec("contacts:\n  - for_each: people\n    fields: {full_name: n}\n")
    mapped = apply(spec, {"people": [{"n": "A"}, {"n": "B"}]}, key="row-9")
    assert [c.key for c in mapped.contacts] == ["row-9", "row-9#1"]


def test_key_templates_fall_back_in_order() -> None:
    spec = parse_spec("contacts:\n  - key: ['{email}', 'tel:{phone}']\n    fields: {email: e, phone: p}\n")
    assert apply(spec, {"p": "13800138000"}).contacts[0].key == "tel:+8613800138000"


def test_required_one_of_reports_both_fields() -> None:
    spec = parse_spec("contacts:\n  - required: [[email, phone]]\n    fields: {full_name: n, email: e, phone: p}\n")
    (error,) = apply(spec, {"n": "王五"}).errors
    assert (error.field, error.reason) == ("email or phone", "required value is missing")


def test_form_fields_with_custom_attributes_are_typed() -> None:
    spec = parse_spec("""\
contacts:
  - fields:
      full_name: 姓名
      phones: {from: [手机, 电话]}
      birth_date: {from: 生日, transforms: [{date: [cn, eu]}]}
      tags: {from: 标签, transforms: [split]}
      consent.email_marketing: 订阅
      handles.wechat: openid
      country: 国家
    attributes:
      购房预算: {from: budget, type: decimal}
      购房偏好: {from: preference, type: text}
      意向等级: {from: level, type: enum, values: [A, B, C]}
      看房日期: {from: visit, type: date}
""")
    contact = apply(spec, {
        "姓名": "欧阳 娜娜", "手机": "138-0013-8000", "电话": "(010) 6552 9988", "生日": "1990年3月5日",
        "标签": "VIP、回访", "订阅": "是", "openid": "o6_x", "国家": "中国", "budget": "¥300万",
        "preference": "  南向 两居室 ", "level": "b", "visit": "2025-09-01",
    }).contacts[0].contact
    assert (contact.family_name, contact.given_name) == ("欧阳", "娜娜")
    assert contact.phones == ("+8613800138000", "+861065529988") and contact.phone == "+8613800138000"
    assert (contact.birth_date, contact.country) == ("1990-03-05", "CN")
    assert contact.tags == ("VIP", "回访")
    assert contact.consent == {"email_marketing": True} and contact.handles == {"wechat": "o6_x"}
    assert contact.attributes == {"购房预算": 3000000, "购房偏好": "南向 两居室", "意向等级": "B",
                                  "看房日期": "2025-09-01"}


def test_a_value_outside_an_enum_is_rejected_naming_the_choices() -> None:
    spec = parse_spec("contacts:\n  - attributes:\n      level: {from: l, type: enum, values: [A, B]}\n")
    (error,) = apply(spec, {"l": "Z"}).errors
    assert (error.field, error.value, error.reason) == ("attributes.level", "Z", "not one of A, B")


def test_paths_reach_into_nested_objects_lists_and_the_payload_root() -> None:
    spec = parse_spec("""\
contacts:
  - for_each: data.attendees
    fields:
      email: mail
      company: $.org.name
      title: roles.0
""")
    mapped = apply(spec, {"org": {"name": "华为"}, "data": {"attendees": [{"mail": "a@hw.cn", "roles": ["CTO"]}]}})
    assert (mapped.contacts[0].contact.company, mapped.contacts[0].contact.title) == ("华为", "CTO")


def test_a_column_name_with_dots_is_read_whole() -> None:
    spec = parse_spec("contacts:\n  - fields: {phone: Tel.}\n")
    assert apply(spec, {"Tel.": "13800138000"}).contacts[0].contact.phone == "+8613800138000"


def test_raw_values_are_kept_beside_the_normalised_ones() -> None:
    spec = parse_spec("contacts:\n  - fields: {email: e, full_name: n}\n")
    mapped = apply(spec, {"e": " A@B.COM ", "n": "SMITH, JOHN"}).contacts[0]
    assert mapped.raw == {"email": " A@B.COM ", "full_name": "SMITH, JOHN"}
    assert mapped.contact.as_dict() == {"email": "a@b.com", "emails": ["a@b.com"], "full_name": "John Smith",
                                        "given_name": "John", "family_name": "Smith"}


def test_given_and_family_compose_a_full_name_in_script_order() -> None:
    spec = parse_spec("contacts:\n  - fields: {given_name: g, family_name: f}\n")
    assert apply(spec, {"g": "娜娜", "f": "欧阳"}).contacts[0].contact.full_name == "欧阳娜娜"
    assert apply(spec, {"g": "Jan", "f": "van der Berg"}).contacts[0].contact.full_name == "Jan van der Berg"


def test_an_interaction_without_a_time_is_an_error() -> None:
    spec = parse_spec("interaction: {channel: phone, occurred_at: start, direction: {from: dir, transforms: "
                      "[{map: {values: {in: inbound, out: outbound}}}]}}\n")
    assert apply(spec, {"dir": "out", "start": "2025-08-23 10:00"}).interactions[0].direction == "outbound"
    (error,) = apply(spec, {"dir": "out"}).errors
    assert (error.field, error.reason) == ("interaction.occurred_at", "required value is missing")


def test_an_interaction_direction_outside_the_vocabulary_is_an_error() -> None:
    spec = parse_spec("interaction: {channel: phone, occurred_at: start, direction: {from: dir}}\n")
    (error,) = apply(spec, {"dir": "sideways", "start": "2025-08-23 10:00"}).errors
    assert error.field == "interaction.direction" and "inbound" in error.reason


def test_several_paths_give_a_single_field_the_first_value_and_a_list_field_all_of_them() -> None:
    spec = parse_spec("contacts:\n  - fields:\n      full_name: [name, 姓名]\n      phones: [手机, 电话]\n"
                      "      company: {from: [org, 公司], transforms: [{join: ' / '}]}\n")
    contact = apply(spec, {"姓名": "张三", "手机": "13800138000", "电话": "021 6288 1234",
                           "org": "明华", "公司": "贸易"}).contacts[0].contact
    assert contact.full_name == "张三"  # not the text of ["张三"]
    assert contact.phones == ("+8613800138000", "+862162881234")  # a list field keeps every path's value
    assert contact.company == "明华 / 贸易"  # a list-level transform sees every path's value
