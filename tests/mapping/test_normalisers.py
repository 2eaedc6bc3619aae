"""Normalisers on real-world spellings: each table row is one case, the expected result beside it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mapping import (
    NormalisationError,
    normalise_date,
    normalise_email,
    normalise_instant,
    normalise_name,
    normalise_phone,
    parse_instant,
    parse_name,
    to_boolean,
    to_country,
    to_decimal,
)


@pytest.mark.parametrize(("raw", "region", "expected"), [
    pytest.param("+86 138 0013 8000", "CN", "+8613800138000", id="plus-86-spaces"),
    pytest.param("0086-138-0013-8000", "CN", "+8613800138000", id="0086-dashes"),
    pytest.param("86 138 0013 8000", "CN", "+8613800138000", id="86-without-plus"),
    pytest.param("１３８００１３８０００", "CN", "+8613800138000", id="full-width-digits"),
    pytest.param("(010) 6552-9988", "CN", "+861065529988", id="beijing-landline-parentheses"),
    pytest.param("010-65529988转123", "CN", "+861065529988;ext=123", id="chinese-extension"),
    pytest.param("+1 (415) 555-2671 ext. 12", "CN", "+14155552671;ext=12", id="us-extension"),
    pytest.param("415.555.2671", "US", "+14155552671", id="us-dots-default-region"),
    pytest.param("+49 (0)30 1234567", "CN", "+49301234567", id="german-trunk-zero"),
    pytest.param("0049 30 12345678", "DE", "+493012345678", id="german-idd"),
    pytest.param("tel: +44 20 7946 0958", "CN", "+442079460958", id="uk-with-label"),
])
def test_phone_numbers_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(("raw", "reason"), [
    pytest.param("12345", "not a valid phone number", id="too-short-for-china"),
    pytest.param("n/a", "too few digits", id="placeholder"),
    pytest.param("138 0013 80", "not a valid phone number", id="mobile-missing-a-digit"),
    pytest.param("+86 138+0013", "may only start", id="plus-in-the-middle"),
    pytest.param("", "empty", id="empty"),
])
def test_phone_numbers_that_reach_nobody_are_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(NormalisationError, match=reason):
        normalise_phone(raw, "CN")


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param("  Zhang.San@Example.COM ", "zhang.san@example.com", id="case-and-spaces"),
    pytest.param("张三 <zhang@qq.com>", "zhang@qq.com", id="display-name"),
    pytest.param("mailto:info@firma.de?subject=Hi", "info@firma.de", id="mailto"),
    pytest.param("ｌｉ＠１６３．ｃｏｍ", "li@163.com", id="full-width"),
    pytest.param("wang@sina.com.cn;", "wang@sina.com.cn", id="trailing-semicolon"),
    pytest.param("müller@bücher.de", "müller@xn--bcher-kva.de", id="idn-domain-to-punycode"),
    pytest.param("user@BÜCHER.de", "user@xn--bcher-kva.de", id="idn-upper"),
    pytest.param("li @ 163.com", "li@163.com", id="spaces-around-at"),
    pytest.param("张三 zhang@qq.com", "zhang@qq.com", id="name-then-address"),
])
def test_email_addresses_get_one_spelling(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), [
    pytest.param("zhang.qq.com", "needs an @", id="no-at"),
    pytest.param("zhang@", "after the @", id="nothing-after-at"),
    pytest.param("@qq.com", "before the @", id="nothing-before-at"),
    pytest.param("zhang@qq", "period", id="no-dot-in-domain"),
    pytest.param("a@b.com c@d.com", "more than one word", id="two-addresses"),
    pytest.param("zhang..san@qq.com", "period", id="double-dot"),
])
def test_obviously_invalid_addresses_are_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(NormalisationError, match=reason):
        normalise_email(raw)


@pytest.mark.parametrize(("raw", "full", "given", "family"), [
    pytest.param("张三", "张三", "三", "张", id="chinese-two-characters"),
    pytest.param("张 三", "张三", "三", "张", id="chinese-with-space"),
    pytest.param("王　小明", "王小明", "小明", "王", id="ideographic-space"),
    pytest.param("欧阳娜娜", "欧阳娜娜", "娜娜", "欧阳", id="compound-ouyang"),
    pytest.param("司马相如", "司马相如", "相如", "司马", id="compound-sima"),
    pytest.param("诸葛亮", "诸葛亮", "亮", "诸葛", id="compound-zhuge"),
    pytest.param("阿卜杜·热合曼", "阿卜杜·热合曼", "阿卜杜", "热合曼", id="transliterated-with-dot"),
    pytest.param("李先生", "李", None, "李", id="honorific-dropped"),
    pytest.param("Ludwig van Beethoven", "Ludwig van Beethoven", "Ludwig", "van Beethoven", id="particle-van"),
    pytest.param("Ursula von der Leyen", "Ursula von der Leyen", "Ursula", "von der Leyen", id="particle-von-der"),
    pytest.param("Charles de Gaulle", "Charles de Gaulle", "Charles", "de Gaulle", id="particle-de"),
    pytest.param("Smith, John", "John Smith", "John", "Smith", id="last-comma-first"),
    pytest.param("BEETHOVEN, LUDWIG VAN", "Ludwig van Beethoven", "Ludwig", "van Beethoven", id="caps-last-first"),
    pytest.param("Dr. Jane Goodall", "Jane Goodall", "Jane", "Goodall", id="title-dropped"),
    pytest.param("martin luther king jr.", "Martin Luther King Jr.", "Martin Luther", "King Jr.", id="suffix"),
    pytest.param("JEAN-LUC PICARD", "Jean-Luc Picard", "Jean-Luc", "Picard", id="hyphenated-caps"),
    pytest.param("mary o'neil", "Mary O'Neil", "Mary", "O'Neil", id="apostrophe-lower"),
    pytest.param("Vincent van Gogh", "Vincent van Gogh", "Vincent", "van Gogh", id="mixed-case-trusted"),
])
def test_names_split_into_given_and_family(raw: str, full: str, given: str | None, family: str) -> None:
    parsed = parse_name(raw)
    assert parsed is not None
    assert (parsed.full, parsed.given, parsed.family) == (full, given, family)


def test_a_value_with_no_name_left_is_rejected() -> None:
    with pytest.raises(NormalisationError):
        normalise_name(" Mr. ")


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param("2025年8月23日", "2025-08-23", id="chinese"),
    pytest.param("2025 年 08 月 23 号", "2025-08-23", id="chinese-spaces-hao"),
    pytest.param("二〇二五年八月二十三日", "2025-08-23", id="chinese-numerals"),
    pytest.param("2025-08-23", "2025-08-23", id="iso"),
    pytest.param("2025-8-3", "2025-08-03", id="iso-unpadded"),
    pytest.param("2025/08/23", "2025-08-23", id="slashes-year-first"),
    pytest.param("08/23/2025", "2025-08-23", id="us"),
    pytest.param("23.08.2025", "2025-08-23", id="german-dots"),
    pytest.param("20250823", "2025-08-23", id="compact"),
    pytest.param("23 Aug 2025", "2025-08-23", id="day-month-name"),
    pytest.param("August 23, 2025", "2025-08-23", id="month-name-comma"),
    pytest.param("２０２５－０８－２３", "2025-08-23", id="full-width-iso"),
])
def test_dates_in_many_formats_become_iso(raw: str, expected: str) -> None:
    assert normalise_date(raw) == expected


def test_an_ambiguous_date_takes_the_first_listed_format_by_default() -> None:
    assert normalise_date("03/04/2025", ["uk", "us"]) == "2025-04-03"
    assert normalise_date("03/04/2025", ["us", "uk"]) == "2025-03-04"


def test_an_ambiguous_date_is_an_error_naming_both_readings_when_the_spec_says_reject() -> None:
    with pytest.raises(NormalisationError, match=r"2025-03-04 \(us\) or 2025-04-03 \(uk\)"):
        normalise_date("03/04/2025", ["us", "uk"], ambiguous="reject")
    assert normalise_date("13/04/2025", ["us", "uk"], ambiguous="reject") == "2025-04-13"  # only one fits


@pytest.mark.parametrize(("raw", "reason"), [
    pytest.param("2025-02-30", "not a real date", id="february-30"),
    pytest.param("31.04.2025", "not a date in any expected format", id="april-31"),
    pytest.param("0025-01-01", "out of range", id="year-25"),
    pytest.param("soon", "not a date", id="words"),
])
def test_impossible_dates_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(NormalisationError, match=reason):
        normalise_date(raw)


def test_spreadsheet_serial_numbers_are_dates_when_listed() -> None:
    assert normalise_date("45892", ["excel"]) == "2025-08-23"


@pytest.mark.parametrize(("raw", "utc", "zone"), [
    pytest.param("2025-08-23T09:30:00+08:00", "2025-08-23T01:30:00+00:00", "+08:00", id="iso-offset"),
    pytest.param("2025-08-23T01:30:00Z", "2025-08-23T01:30:00+00:00", "UTC", id="iso-z"),
    pytest.param("Sat, 23 Aug 2025 09:30:00 +0800", "2025-08-23T01:30:00+00:00", "+08:00", id="rfc2822"),
    pytest.param("2025-08-23 09:30", "2025-08-23T01:30:00+00:00", "Asia/Shanghai", id="naive-in-spec-zone"),
    pytest.param("2025年8月23日 09:30", "2025-08-23T01:30:00+00:00", "Asia/Shanghai", id="chinese-naive"),
    pytest.param("1755912600", "2025-08-23T01:30:00+00:00", "Asia/Shanghai", id="epoch-seconds"),
    pytest.param("1755912600000", "2025-08-23T01:30:00+00:00", "Asia/Shanghai", id="epoch-millis"),
])
def test_instants_are_stored_in_utc_with_the_source_zone_kept(raw: str, utc: str, zone: str) -> None:
    instant = parse_instant(raw, timezone="Asia/Shanghai")
    assert (instant.iso(), instant.source_tz) == (utc, zone)


def test_a_naive_instant_in_summer_and_winter_follows_the_zone_rules() -> None:
    assert normalise_instant("2025-07-01 12:00", timezone="Europe/Berlin") == "2025-07-01T10:00:00+00:00"
    assert normalise_instant("2025-01-01 12:00", timezone="Europe/Berlin") == "2025-01-01T11:00:00+00:00"
    assert parse_instant(datetime(2025, 1, 1, tzinfo=UTC)).source_tz == "UTC"


@pytest.mark.parametrize(("raw", "expected"), [
    ("3,000,000", 3000000), ("¥300万", 3000000), ("300万元", 3000000), ("1.5亿", 150000000), ("2.5k", 2500),
    ("(120)", -120), ("RMB 88.50", 88.5), ("€1,200.50", 1200.5),
])
def test_amounts_read_as_numbers(raw: str, expected: float) -> None:
    assert float(to_decimal(raw)) == pytest.approx(expected)


@pytest.mark.parametrize(("raw", "expected"), [
    ("是", True), ("否", False), ("Yes", True), ("opt-out", False), ("1", True), ("FALSE", False), ("✓", True),
])
def test_yes_no_values_in_several_languages(raw: str, expected: bool) -> None:
    assert to_boolean(raw) is expected


@pytest.mark.parametrize(("raw", "expected"), [("中国", "CN"), ("Deutschland", "DE"), ("usa", "US"), ("cn", "CN")])
def test_countries_become_iso_codes(raw: str, expected: str) -> None:
    assert to_country(raw) == expected
