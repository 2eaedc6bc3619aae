"""The status page's numbers come straight from the hub database: runs, dead letter, conflicts, review, channels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_core.db import transaction
from crm_core.models import Conflict, ContactRecord, Customer, DeadLetter, ReviewItem, RunStat, utcnow
from crm_core.status import expected_every, hub_status, is_stale

from .conftest import sample_config

NOW = utcnow()


def _run(stage: str, name: str, ago: timedelta, status: str = "success", n_in: int = 0, n_out: int = 0,
         failed: int = 0) -> RunStat:
    return RunStat(stage=stage, name=name, status=status, started_at=NOW - ago, finished_at=NOW - ago,
                   records_in=n_in, records_out=n_out, records_failed=failed)


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as s:
        s.add_all([
            _run("ingest", "web_forms", timedelta(minutes=5), n_in=10, n_out=8),
            _run("ingest", "web_forms", timedelta(days=3), n_in=100, n_out=90),
            _run("ingest", "web_forms", timedelta(days=9), n_in=1000, n_out=1000),  # outside 7 days
            _run("ingest", "mailbox", timedelta(hours=2), n_in=4, n_out=4),  # every 5 min: overdue
            _run("ingest", "mailbox", timedelta(minutes=1), status="failed"),
            _run("push", "salesforce", timedelta(hours=1), n_in=7, n_out=6, failed=1, status="partial"),
        ])
        s.add_all([
            DeadLetter(stage="map", name="web_forms", error_class="InvalidEmail", error_message="x"),
            DeadLetter(stage="map", name="web_forms", error_class="InvalidEmail", error_message="y"),
            DeadLetter(stage="map", name="web_forms", error_class="BadDate", error_message="z"),
            DeadLetter(stage="map", name="web_forms", error_class="BadDate", error_message="z", status="resolved"),
            DeadLetter(stage="push", name="salesforce", error_class="DUPLICATE_VALUE", error_message="d"),
        ])
        alice, bob = Customer(golden={}), Customer(golden={})
        s.add_all([alice, bob])
        s.flush()
        s.add_all([
            ContactRecord(source="web_forms", source_key="1", customer_id=alice.id),
            ContactRecord(source="mailbox", source_key="2", customer_id=alice.id),  # matched alice
            ContactRecord(source="web_forms", source_key="3", customer_id=bob.id),
            ContactRecord(source="web_forms", source_key="4"),  # not resolved yet
        ])
        s.add(Conflict(customer_id=alice.id, target="salesforce", field="phone", policy="manual"))
        s.add(Conflict(customer_id=bob.id, target="salesforce", field="city", policy="manual", status="resolved"))
        s.flush()
        record = s.query(ContactRecord).filter_by(source_key="4").one()
        s.add(ReviewItem(contact_record_id=record.id, candidate_customer_id=bob.id, score=0.8))
    return sessions


def _flow(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in status["flows"] if f["name"] == name)


def test_every_configured_source_and_target_is_listed_even_before_its_first_run(filled: Any) -> None:
    with filled() as s:
        status = hub_status(s, sample_config(), now=NOW)
    assert [f["name"] for f in status["flows"]] == ["web_forms", "mailbox", "calls", "salesforce", "newsletter"]
    assert _flow(status, "newsletter")["last_run"] is None


def test_in_and_out_over_24_hours_and_7_days(filled: Any) -> None:
    with filled() as s:
        forms = _flow(hub_status(s, sample_config(), now=NOW), "web_forms")
    assert (forms["in_24h"], forms["out_24h"], forms["in_7d"], forms["out_7d"]) == (10, 8, 110, 98)
    assert len(forms["daily"]) == 7 and sum(d["in"] for d in forms["daily"]) == 110


def test_freshness_is_the_last_success_and_red_when_past_the_schedule(filled: Any) -> None:
    with filled() as s:
        status = hub_status(s, sample_config(), now=NOW)
    forms, mailbox, calls = _flow(status, "web_forms"), _flow(status, "mailbox"), _flow(status, "calls")
    assert (forms["age_seconds"], forms["stale"]) == (300, False)  # 5 minutes, every 15
    assert mailbox["last_run"]["status"] == "failed"  # the last run failed ...
    assert (mailbox["age_seconds"], mailbox["stale"]) == (7200, True)  # ... and the last success is 2 h old
    assert calls["stale"] is False  # disabled sources are never overdue


def test_failed_records_by_error_class_count_only_pending_items(filled: Any) -> None:
    with filled() as s:
        status = hub_status(s, sample_config(), now=NOW)
    assert _flow(status, "web_forms")["failed_by_class"] == {"InvalidEmail": 2, "BadDate": 1}
    assert _flow(status, "salesforce")["failed_total"] == 1
    assert status["totals"]["failed_records"] == 4


def test_open_conflicts_review_queue_and_totals(filled: Any) -> None:
    with filled() as s:
        status = hub_status(s, sample_config(), now=NOW)
    assert _flow(status, "salesforce")["open_conflicts"] == 1
    assert status["totals"] | {} == {"customers": 2, "contact_records": 4, "interactions": 0, "failed_records": 4,
                                     "open_conflicts": 1, "review_queue": 1}


def test_channel_effectiveness_counts_contacts_and_the_share_that_matched(filled: Any) -> None:
    with filled() as s:
        channels = hub_status(s, sample_config(), now=NOW)["channels"]
    assert channels["contacts"] == [
        {"source": "mailbox", "connector": "imap", "records": 1, "linked": 1},
        {"source": "web_forms", "connector": "form_files", "records": 3, "linked": 2},
    ]
    today = {r["source"]: (r["records"], r["matched"]) for r in channels["match_rate"]}
    assert today == {"mailbox": (1, 1), "web_forms": (3, 1)}  # alice matched across two channels; bob did not


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [("15m", 900), ("1h", 3600), ("@daily", 86400), ("*/5 * * * *", 300), ("0 9 * * 1-5", 86400), (None, None),
     ("@once", None)],
)
def test_expected_period_of_a_schedule(schedule: str | None, seconds: int | None) -> None:
    assert expected_every(schedule) == seconds


def test_never_succeeded_is_overdue_but_a_manual_flow_never_is() -> None:
    assert is_stale(None, 900) is True
    assert is_stale(None, None) is False
    assert is_stale(950, 900) is False  # within the grace
