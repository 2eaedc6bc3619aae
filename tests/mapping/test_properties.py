"""Properties every normaliser keeps on arbitrary text: it never fails with anything but a reason
(``NormalisationError``), and normalising twice gives what normalising once gave."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mapping import (
    NormalisationError,
    normalise_date,
    normalise_email,
    normalise_instant,
    normalise_name,
    normalise_phone,
    to_boolean,
    to_country,
    to_decimal,
)

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like what the normalisers meet: digits, separators, CJK, full-width forms, @ and dots.
messy_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("0123456789+-() .,/年月日号@xX转#_abcDEF张欧阳·１２３＠．　\t")), max_size=30),
)

NORMALISERS: dict[str, Callable[[str], object]] = {
    "phone": lambda t: normalise_phone(t, "CN"),
    "email": normalise_email,
    "name": normalise_name,
    "date": normalise_date,
    "instant": lambda t: normalise_instant(t, timezone="Asia/Shanghai"),
    "boolean": to_boolean,
    "decimal": to_decimal,
    "country": to_country,
}


@pytest.mark.parametrize("name", sorted(NORMALISERS))
def test_normalisers_never_raise_anything_but_a_reason(name: str) -> None:
    normalise = NORMALISERS[name]

    @PROFILE
    @given(messy_text)
    def check(text: str) -> None:
        try:
            normalise(text)
        except NormalisationError as exc:
            assert str(exc)  # a reason a person can read

    check()


@pytest.mark.parametrize("name", ["phone", "email", "name", "date", "instant"])
def test_normalising_twice_is_normalising_once(name: str) -> None:
    normalise = NORMALISERS[name]

    @PROFILE
    @given(messy_text)
    @example("+86 138 0013 8000 转 12")
    @example("BEETHOVEN, LUDWIG VAN")
    @example("Mr. john smith jr.")
    @example("二〇二五年八月二十三日")
    @example("müller@BÜCHER.de")
    @example("Sat, 23 Aug 2025 09:30:00 +0800")
    def check(text: str) -> None:
        try:
            once = normalise(text)
        except NormalisationError:
            return
        assert normalise(str(once)) == once

    check()
