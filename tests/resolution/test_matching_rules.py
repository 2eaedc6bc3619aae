"""The comparison library and profiles on tiny inline pairs; the expected level is commented beside each pair."""

from __future__ import annotations

import pytest

from crm_core.resolution import build_profile
from crm_core.resolution._compare import (
    BirthDateMatch,
    EmailMatch,
    FamilyNameMatch,
    GivenNameMatch,
    NationalIdMatch,
    PhoneMatch,
    gamma,
)

P = build_profile


@pytest.mark.parametrize(
    ("comparison", "a", "b", "level"),
    [
        (GivenNameMatch(), {"given_name": "Xiaoming"}, {"given_name": "xiaoming"}, "exact"),
        (GivenNameMatch(), {"full_name": "王小明"}, {"given_name": "Xiaoming", "family_name": "Wang"}, "exact"),
        (GivenNameMatch(), {"given_name": "Bob"}, {"given_name": "Robert"}, "nickname"),
        (GivenNameMatch(), {"given_name": "Jonathon"}, {"given_name": "Jonathan"}, "very_similar"),
        (GivenNameMatch(), {"given_name": "Mary"}, {"given_name": "Susan"}, "different"),
        (FamilyNameMatch(), {"family_name": "Johnson"}, {"family_name": "Jonhson"}, "very_similar"),
        (FamilyNameMatch(), {"family_name": "Smith"}, {"family_name": "Smyth"}, "similar"),
        (FamilyNameMatch(), {"full_name": "欧阳娜娜"}, {"family_name": "Ouyang"}, "exact"),  # compound surname
        (FamilyNameMatch(), {"family_name": "Müller"}, {"family_name": "muller"}, "exact"),  # accents fold
        (EmailMatch(), {"email": "Ann@X.com"}, {"email": "ann@x.com"}, "exact"),
        (EmailMatch(), {"email": "ann@x.com"}, {"email": "anne@x.com"}, "fuzzy"),
        (PhoneMatch(), {"phone": "+86 138 0013 8000"}, {"phone": "013800138000"}, "exact"),
        (PhoneMatch(), {"phone": "+8613800138000"}, {"phone": "+8613800138001"}, "one_digit_off"),
        (PhoneMatch(), {"phone": "+861065529988;ext=123"}, {"phone": "010 6552 9988"}, "exact"),  # extension dropped
        (BirthDateMatch(), {"birth_date": "2025年8月23日"}, {"birth_date": "2025-08-23"}, "exact"),
        (BirthDateMatch(), {"birth_date": "1980-05-04"}, {"birth_date": "1980-04-05"}, "typo"),  # day/month swapped
        (BirthDateMatch(), {"birth_date": "1980-05-04"}, {"birth_date": "1980-11-30"}, "same_year"),
        (NationalIdMatch(), {"national_id": "110101199003077777"}, {"national_id": "110101199003077771"}, "typo"),
    ],
)
def test_comparison_levels(comparison, a, b, level) -> None:  # type: ignore[no-untyped-def]
    assert comparison.levels[comparison.level(P(a), P(b))] == level


def test_a_missing_value_is_no_evidence() -> None:
    assert GivenNameMatch().level(P({"given_name": "Ann"}), P({"email": "a@x.com"})) == -1


def test_given_and_family_name_transposed_compare_as_exact() -> None:
    vector = gamma(P({"given_name": "Xiaoming", "family_name": "Wang"}), P({"given_name": "Wang", "family_name": "Xiaoming"}))
    assert vector[:2] == (4, 3)  # given exact, family exact


def test_full_name_written_family_comma_given_is_split_that_way() -> None:
    assert P({"full_name": "Lee, Ann"})["fn"] == "lee"
