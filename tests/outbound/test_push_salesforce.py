"""Pushing golden customers to Salesforce (the HTTPS fake) end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from crm_core.hub import Hub
from crm_core.models import Conflict, ContactRecord, DeadLetter, SyncState

from .conftest import SalesforceOrg, add_customer, change_golden, push

LI = {"full_name": "李娜", "family_name": "李", "given_name": "娜", "email": "li.na@example.cn", "phone": "+8613800138000"}
ANNA = {"given_name": "Anna", "family_name": "Schmidt", "email": "anna@example.de", "title": "Einkauf"}


def _one(org: SalesforceOrg, key: str) -> dict[str, object]:
    found = org.org.by_hub_key(key)
    assert len(found) == 1, f"{len(found)} records carry {key}"
    return found[0]


def test_new_customers_are_created_with_the_hub_key(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                    db_url: str) -> None:
    hub = sf_hub(db_url)
    li, anna = add_customer(hub, **LI), add_customer(hub, **ANNA)
    result = push(hub)
    assert (result.detail["created"], result.records_failed) == (2, 0)
    assert _one(salesforce, f"hub-{li}")["LastName"] == "李"
    assert _one(salesforce, f"hub-{anna}")["Title"] == "Einkauf"
    with hub.sessions() as session:
        states = session.scalars(select(SyncState)).all()
        assert {len(s.external_id or "") for s in states} == {18}


def test_a_run_with_nothing_changed_calls_nothing(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                  db_url: str) -> None:
    hub = sf_hub(db_url, pull_back=False)
    add_customer(hub, **ANNA)
    push(hub)
    before = salesforce.org.api_calls()
    result = push(hub)
    assert salesforce.org.api_calls() == before
    assert result.records_in == 0


def test_a_changed_field_is_pushed_and_nothing_else(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                    db_url: str) -> None:
    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    push(hub)
    change_golden(hub, cid, title="Leitung Einkauf")
    result = push(hub)
    assert result.detail["updated"] == 1
    assert _one(salesforce, f"hub-{cid}")["Title"] == "Leitung Einkauf"


def test_an_edit_in_salesforce_comes_back_as_a_contact_record_from_the_target(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    push(hub)
    record = _one(salesforce, f"hub-{cid}")
    salesforce.org.edit(str(record["Id"]), Title="Geschäftsführerin")
    result = push(hub)
    assert result.detail["pulled"] == 1 and result.records_out == 0
    with hub.sessions() as session:
        pulled = session.scalars(select(ContactRecord).where(ContactRecord.source == "sf")).one()
    assert pulled.source_key == record["Id"] and pulled.customer_id == cid
    assert pulled.normalized["title"] == "Geschäftsführerin" and pulled.resolved_version < pulled.version
    assert _one(salesforce, f"hub-{cid}")["Title"] == "Geschäftsführerin"  # not overwritten by the old golden


def test_a_full_round_trip_is_quiet_within_two_runs(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                    db_url: str) -> None:
    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    push(hub)  # run 1: create
    echo = push(hub)  # run 2: our own write comes back through the pull-back query and is recognised
    assert echo.detail["echoes"] == 1 and echo.records_in == 0
    salesforce.org.edit(str(_one(salesforce, f"hub-{cid}")["Id"]), Title="Geschäftsführerin")
    assert push(hub).detail["pulled"] == 1
    change_golden(hub, cid, title="Geschäftsführerin")  # resolution adopted the pulled value
    adopted = push(hub)
    assert adopted.detail["synced"] == 1 and adopted.records_out == 0
    writes_before = [c for c in salesforce.org.calls if c[0] != "GET"]
    quiet = push(hub)
    assert quiet.records_in == 0 and quiet.records_out == 0 and quiet.detail["pulled"] == 0
    assert [c for c in salesforce.org.calls if c[0] != "GET"] == writes_before


def test_an_edit_between_our_read_and_our_write_is_never_overwritten(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url, policy="manual")
    cid = add_customer(hub, **ANNA)
    push(hub)
    sf_id = str(_one(salesforce, f"hub-{cid}")["Id"])
    change_golden(hub, cid, title="Leitung Einkauf")
    salesforce.org.before_write = lambda: salesforce.org.edit(sf_id, Title="Vertrieb")
    result = push(hub)
    assert _one(salesforce, f"hub-{cid}")["Title"] == "Vertrieb"  # the person's edit survived
    assert result.detail["conflicts"] == 1  # re-planned: both changed, manual policy queues it
    with hub.sessions() as session:
        conflict = session.scalars(select(Conflict)).one()
    assert (conflict.field, conflict.ours, conflict.theirs) == ("title", "Leitung Einkauf", "Vertrieb")


def test_an_edit_of_another_field_between_read_and_write_is_kept_and_ours_still_lands(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    push(hub)
    sf_id = str(_one(salesforce, f"hub-{cid}")["Id"])
    change_golden(hub, cid, title="Leitung Einkauf")
    salesforce.org.before_write = lambda: salesforce.org.edit(sf_id, Phone="+49301234567")
    push(hub)
    record = _one(salesforce, f"hub-{cid}")
    assert (record["Title"], record["Phone"]) == ("Leitung Einkauf", "+49301234567")


def test_a_lost_response_after_commit_creates_no_duplicate(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                           db_url: str) -> None:
    hub = sf_hub(db_url)
    ids = [add_customer(hub, **{**ANNA, "email": f"anna{i}@example.de"}) for i in range(3)]
    salesforce.org.drop_responses_after_commit = 1
    push(hub)
    push(hub)
    assert len(salesforce.org.records) == 3
    assert all(len(salesforce.org.by_hub_key(f"hub-{i}")) == 1 for i in ids)


def test_a_rejected_record_goes_to_the_dead_letter_with_the_vendor_error_and_the_rest_are_written(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url)
    add_customer(hub, **ANNA)
    bad = add_customer(hub, given_name="Nameless")  # Salesforce requires LastName
    result = push(hub)
    assert (result.detail["created"], result.records_failed) == (1, 1)
    with hub.sessions() as session:
        item = session.scalars(select(DeadLetter)).one()
    assert (item.stage, item.name, item.ref, item.error_class) == ("push", "sf", str(bad), "REQUIRED_FIELD_MISSING")
    assert "LastName" in item.error_message and "Nameless" not in (item.payload or "")
    before = salesforce.org.api_calls()
    push(hub)  # a permanent failure is not retried every run: it waits for a change or a replay
    assert salesforce.org.api_calls() - before <= 1  # the pull-back query only


def test_a_replayed_push_item_is_sent_again_and_marked_replayed(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    from crm_core.outbound import replay_push

    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    salesforce.org.fail_next(400, "INVALID_CROSS_REFERENCE_KEY")
    assert push(hub).records_failed == 1
    with hub.sessions() as session:
        item_id = session.scalars(select(DeadLetter.id)).one()
    [result] = replay_push(hub, [item_id])
    assert result.detail["created"] == 1
    assert len(salesforce.org.by_hub_key(f"hub-{cid}")) == 1
    with hub.sessions() as session:
        assert session.get(DeadLetter, item_id).status == "replayed"  # type: ignore[union-attr]


def test_the_daily_quota_stops_the_run_cleanly_and_the_next_run_resumes(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url, pull_back=False)
    ids = [add_customer(hub, **{**ANNA, "email": f"anna{i}@example.de"}) for i in range(2)]
    salesforce.org.daily_limit = 0
    stopped = push(hub)
    assert stopped.detail["stopped"] == "REQUEST_LIMIT_EXCEEDED" and stopped.records_failed == 0
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0
    salesforce.org.daily_limit = 1000  # a new day
    assert push(hub).detail["created"] == 2
    assert all(len(salesforce.org.by_hub_key(f"hub-{i}")) == 1 for i in ids)


def test_a_record_deleted_in_salesforce_is_not_created_again(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                             db_url: str) -> None:
    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    push(hub)
    del salesforce.org.records[str(_one(salesforce, f"hub-{cid}")["Id"])]
    change_golden(hub, cid, title="Leitung")
    result = push(hub)
    assert result.detail["gone"] == 1 and not salesforce.org.records


def test_a_contact_made_in_salesforce_by_a_person_arrives_unlinked(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url)
    sf_id = salesforce.org.insert(FirstName="伟", LastName="张", Email="Zhang.Wei@Example.CN", Phone="(415) 555-0100")
    result = push(hub)
    assert result.detail["pulled_new"] == 1
    with hub.sessions() as session:
        record = session.scalars(select(ContactRecord)).one()
    assert (record.source, record.source_key, record.customer_id) == ("sf", sf_id, None)
    assert (record.email, record.phone) == ("zhang.wei@example.cn", "+14155550100")


def test_a_dry_run_shows_the_plan_and_writes_nothing(sf_hub: Callable[..., Hub], salesforce: SalesforceOrg,
                                                     db_url: str) -> None:
    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    result = push(hub, dry_run=True)
    assert result.detail["created"] == 1 and result.detail["dry_run"] is True
    assert result.detail["plan"][0]["action"] == "create" and "title" in result.detail["plan"][0]["push"]
    assert not salesforce.org.records and all(method == "GET" for method, _ in salesforce.org.calls)
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SyncState)) == 0
    assert push(hub).detail["created"] == 1 and _one(salesforce, f"hub-{cid}")
