"""Survivorship rules on tiny record sets (no store needed: records are plain ContactRecord objects)."""

from __future__ import annotations

from datetime import timedelta

from crm_core.config import ResolutionConfig, SurvivorshipConfig
from crm_core.models import ContactRecord
from crm_core.resolution import build_golden

from .helpers import BASE_TIME


def record(rid: int, source: str, days: int, **normalized: object) -> ContactRecord:
    return ContactRecord(id=rid, source=source, source_key=str(rid), normalized=normalized,
                         observed_at=BASE_TIME + timedelta(days=days))


def golden(records: list[ContactRecord], **config: object) -> tuple[dict, dict]:
    return build_golden(records, ResolutionConfig(**config))  # type: ignore[arg-type]


def test_most_recent_value_wins_by_default() -> None:
    g, p = golden([record(1, "web", 0, city="Berlin"), record(2, "mail", 5, city="Hamburg")])
    assert g["city"] == "Hamburg"
    assert p["city"] == {"record": 2, "source": "mail", "rule": "most_recent"}


def test_source_priority_beats_recency() -> None:
    config = {"survivorship": SurvivorshipConfig(default="source_priority", source_priority=["erp", "web"])}
    g, _ = golden([record(1, "erp", 0, phone="+491"), record(2, "web", 9, phone="+492")], **config)
    assert g["phone"] == "+491"


def test_most_frequent_value_wins_for_that_field() -> None:
    config = {"survivorship": SurvivorshipConfig(fields={"company": "most_frequent"})}
    records = [record(1, "a", 0, company="ACME"), record(2, "b", 1, company="ACME"), record(3, "c", 2, company="Acne")]
    assert golden(records, **config)[0]["company"] == "ACME"


def test_most_complete_value_wins_for_that_field() -> None:
    config = {"survivorship": SurvivorshipConfig(fields={"street": "most_complete"})}
    records = [record(1, "a", 0, street="Hauptstraße"), record(2, "b", 3, street="Hauptstr")]
    assert golden(records, **config)[0]["street"] == "Hauptstraße"


def test_a_human_edit_is_never_overwritten_by_newer_machine_values() -> None:
    records = [
        record(1, "salesforce", 0, title="Head of Sales", _human_edit=["title"]),
        record(2, "web", 9, title="sales"),
    ]
    g, p = golden(records)
    assert g["title"] == "Head of Sales"
    assert p["title"]["rule"] == "human_edit"


def test_values_from_a_human_edit_source_win_every_field() -> None:
    records = [record(1, "salesforce", 0, city="München"), record(2, "web", 9, city="Munich")]
    assert golden(records, human_edit_sources=["salesforce"])[0]["city"] == "München"


def test_lists_are_unions_with_the_surviving_primary_first() -> None:
    records = [record(1, "a", 0, email="old@x.com", emails=["old@x.com"]), record(2, "b", 5, email="new@x.com")]
    g, _ = golden(records)
    assert g["email"] == "new@x.com"
    assert g["emails"] == ["new@x.com", "old@x.com"]


def test_consent_merges_per_channel_newest_first() -> None:
    records = [record(1, "a", 0, consent={"email_marketing": True, "sms": True}),
               record(2, "b", 5, consent={"email_marketing": False})]
    assert golden(records)[0]["consent"] == {"email_marketing": False, "sms": True}
