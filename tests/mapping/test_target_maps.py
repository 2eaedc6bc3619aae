"""The builtin target maps load, and their round trip (in, then out) treats formatting as no change."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapping.target import load_target_map

TARGETS = Path(__file__).resolve().parents[2] / "mapping" / "specs" / "targets"


@pytest.mark.parametrize("name", ["salesforce_contact", "tryton_party", "hubspot_contact", "mailchimp_member"])
def test_each_builtin_target_map_loads_with_a_hub_key_field(name: str) -> None:
    target_map = load_target_map(TARGETS / f"{name}.yaml")
    assert target_map.name == name and target_map.external_id_field and target_map.hub_key(42) == "hub-42"
    assert "email" in {f.canonical for f in target_map.fields}


@pytest.mark.parametrize(("consent", "status", "back"), [
    (True, "subscribed", True),
    (False, "unsubscribed", False),
    (None, None, None),  # unknown: the audience's status_if_unknown decides, and reads back as unknown
])
def test_consent_becomes_a_list_status_and_comes_back(consent: bool | None, status: str | None,
                                                      back: bool | None) -> None:
    target_map = load_target_map(TARGETS / "mailchimp_member.yaml")
    assert target_map.ours({"consent": {"email_marketing": consent}})["consent.email_marketing"] == status
    assert target_map.to_canonical({"consent.email_marketing": status}).get("consent") == (
        None if back is None else {"email_marketing": back})


@pytest.mark.parametrize(("remote_status", "theirs"), [
    ("transactional", None),  # known to the audience, says nothing about consent
    ("pending", None),
    ("cleaned", "unsubscribed"),  # bounced for good: no consent to mail
])
def test_statuses_that_are_not_consent_read_back_as_what_they_mean(remote_status: str, theirs: str | None) -> None:
    target_map = load_target_map(TARGETS / "mailchimp_member.yaml")
    assert target_map.theirs({"status": remote_status})["consent.email_marketing"] == theirs


def test_tags_in_another_order_are_no_change() -> None:
    target_map = load_target_map(TARGETS / "mailchimp_member.yaml")
    assert target_map.ours({"tags": ["vip", "b2b"]})["tags"] == target_map.theirs({"tags": ["b2b", "vip"]})["tags"]


def test_a_phone_tryton_formats_for_display_is_no_change() -> None:
    target_map = load_target_map(TARGETS / "tryton_party.yaml")
    assert target_map.theirs({"phone": "+49 30 1234567"})["phone"] == target_map.ours({"phone": "+49301234567"})["phone"]
