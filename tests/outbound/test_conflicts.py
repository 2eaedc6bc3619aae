"""Conflict policies end to end and the conflict queue worked from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from crm_core.cli import main
from crm_core.hub import Hub
from crm_core.models import AuditLog, Conflict, ContactRecord

from .conftest import SalesforceOrg, add_customer, change_golden, push

ANNA = {"given_name": "Anna", "family_name": "Schmidt", "email": "anna@example.de", "title": "Einkauf"}


def _conflicting_edit(hub: Hub, salesforce: SalesforceOrg, ours: str = "Leitung", theirs: str = "Vertrieb") -> int:
    """Sync once, then change the title on both sides to different values."""
    cid = add_customer(hub, **ANNA)
    push(hub)
    [record] = salesforce.org.by_hub_key(f"hub-{cid}")
    salesforce.org.edit(str(record["Id"]), Title=theirs)
    change_golden(hub, cid, title=ours)
    return cid


def _title(salesforce: SalesforceOrg, cid: int) -> object:
    [record] = salesforce.org.by_hub_key(f"hub-{cid}")
    return record["Title"]


def _pulled_title(hub: Hub) -> object:
    with hub.sessions() as session:
        record = session.scalars(select(ContactRecord).where(ContactRecord.source == "sf")).first()
    return record.normalized.get("title") if record else None


@pytest.mark.parametrize(("policy", "title_in_salesforce", "pulled"), [
    ("hub_wins", "Leitung", None),
    ("target_wins", "Vertrieb", "Vertrieb"),
    ("newest_wins", "Leitung", None),  # the golden change came after the person's edit
])
def test_a_conflict_is_settled_by_the_configured_policy(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, sqlite_url: str, policy: str,
    title_in_salesforce: str, pulled: str | None,
) -> None:
    hub = sf_hub(sqlite_url, policy="manual", fields={"title": policy})
    cid = _conflicting_edit(hub, salesforce)
    push(hub)
    assert _title(salesforce, cid) == title_in_salesforce
    assert _pulled_title(hub) == pulled


def test_fill_if_empty_fills_a_field_the_person_cleared(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                        sqlite_url: str) -> None:
    hub = sf_hub(sqlite_url, fields={"title": "fill_if_empty"})
    cid = _conflicting_edit(hub, salesforce, theirs="")
    push(hub)
    assert _title(salesforce, cid) == "Leitung"


def test_manual_holds_the_field_queues_it_once_and_writes_the_other_fields(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url, policy="manual")
    cid = _conflicting_edit(hub, salesforce)
    change_golden(hub, cid, email="anna.schmidt@example.de")
    first = push(hub)
    change_golden(hub, cid, city="Berlin")
    push(hub)
    assert first.detail["conflicts"] == 1
    [record] = salesforce.org.by_hub_key(f"hub-{cid}")
    assert (record["Title"], record["Email"], record["MailingCity"]) == ("Vertrieb", "anna.schmidt@example.de", "Berlin")
    with hub.sessions() as session:
        assert len(session.scalars(select(Conflict)).all()) == 1  # refreshed, not duplicated


@pytest.mark.parametrize(("take", "value", "expected"), [
    ("ours", None, "Leitung"),
    ("theirs", None, "Vertrieb"),
    ("value", "Leitung Vertrieb", "Leitung Vertrieb"),
])
def test_a_conflict_resolved_on_the_command_line_is_carried_out_by_the_next_push(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, sqlite_url: str, capsys: pytest.CaptureFixture[str],
    take: str, value: str | None, expected: str,
) -> None:
    hub = sf_hub(sqlite_url, policy="manual")
    cid = _conflicting_edit(hub, salesforce)
    push(hub)
    home = str(hub.home)
    assert main(["--home", home, "conflicts", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["field"], listed["ours"], listed["theirs"]) == ("title", "Leitung", "Vertrieb")
    argv = ["--home", home, "conflicts", "resolve", str(listed["id"]), "--take", take]
    assert main(argv + (["--value", value] if value else [])) == 0
    push(hub)
    assert _title(salesforce, cid) == expected
    if take != "ours":
        assert _pulled_title(hub) == expected  # the hub is offered the decided value as a source record
    with hub.sessions() as session:
        conflict = session.scalars(select(Conflict)).one()
        assert conflict.status == "applied" and conflict.resolved_by
        assert session.scalars(select(AuditLog).where(AuditLog.action == "conflict_resolved")).one()
    after = push(hub)  # nothing bounces back while the golden record still says "Leitung"
    assert after.records_out == 0 and after.detail["conflicts"] == 0
    assert _title(salesforce, cid) == expected


def test_resolving_needs_a_value_when_taking_a_value(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                     sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    hub = sf_hub(sqlite_url, policy="manual")
    _conflicting_edit(hub, salesforce)
    push(hub)
    with hub.sessions() as session:
        conflict_id = session.scalars(select(Conflict.id)).one()
    assert main(["--home", str(hub.home), "conflicts", "resolve", str(conflict_id), "--take", "value"]) == 2
    assert "--value" in capsys.readouterr().err


def test_push_dry_run_on_the_command_line_prints_the_plan(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = sf_hub(sqlite_url, policy="manual")
    cid = _conflicting_edit(hub, salesforce)
    change_golden(hub, cid, city="Berlin")
    assert main(["--home", str(hub.home), "push", "sf", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"update    hub-{cid}" in out and "push city" in out and "conflicts title (manual)" in out
    assert "nothing was written" in out and "Berlin" not in out
    [record] = salesforce.org.by_hub_key(f"hub-{cid}")
    assert record.get("MailingCity") is None
