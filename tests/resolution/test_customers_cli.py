"""``crmhub customers``, ``review``, ``merge`` and ``unmerge`` on a small hub (SQLite and PostgreSQL).

The records are written straight to the store (no mapping stage) and resolved by ``crmhub resolve``; every check
then goes through the command line the way a person would use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.cli import main
from crm_core.db import transaction
from crm_core.hub import Hub
from crm_core.models import ContactRecord, Customer, MergeEvent, ReviewItem

from .helpers import add_contact, customer_of


def _run(hub: Hub, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["--home", str(hub.home), *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture
def small_hub(make_hub: Callable[..., Hub], db_url: str) -> Hub:
    """Two people: Ann (web form + mail, one customer by e-mail) and 王小明 (web form + call log, one by phone)."""
    hub = make_hub("version: 1\n", url=db_url)
    with transaction(hub.sessions) as s:
        add_contact(s, full_name="Ann Lee", email="ann.lee@example.com", city="Berlin")
        add_contact(s, source="mail", observed_days=1, email="ANN.LEE@example.com")  # same address, other case
        add_contact(s, full_name="王小明", phone="+8613800138000", birth_date="1990-01-02")
        add_contact(s, source="calls", phone="013800138000")  # a call log: the number only, trunk prefix
    assert main(["--home", str(hub.home), "resolve"]) == 0
    return hub


def _customer_ids(hub: Hub) -> list[int]:
    with hub.sessions() as s:
        return list(s.scalars(select(Customer.id).where(Customer.status == "active").order_by(Customer.id)))


def test_customers_list_shows_each_active_customer_with_its_record_count(
    small_hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = _run(small_hub, capsys, "customers", "list")
    lines = out.strip().splitlines()
    assert len(lines) == 2  # four records, two people
    ann = next(line for line in lines if "Ann Lee" in line)
    wang = next(line for line in lines if "王小明" in line)
    assert "ann.lee@example.com" in ann.lower() and ann.endswith("2 records")
    assert wang.endswith("2 records")


def test_customers_list_honours_the_limit(small_hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert len(_run(small_hub, capsys, "customers", "list", "--limit", "1").strip().splitlines()) == 1


def test_customers_show_prints_the_golden_record(small_hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    ann = _customer_ids(small_hub)[0]
    capsys.readouterr()
    out = _run(small_hub, capsys, "customers", "show", str(ann))
    assert out.startswith(f"customer {ann} (active, version ")
    assert "Ann Lee" in out and "Berlin" in out
    assert "<-" not in out and "linked records" not in out  # provenance only with --why


def test_customers_show_why_explains_values_and_links(small_hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    ann = _customer_ids(small_hub)[0]
    capsys.readouterr()
    out = _run(small_hub, capsys, "customers", "show", str(ann), "--why")
    city = next(line for line in out.splitlines() if line.strip().startswith("city"))
    assert "<- record" in city and "(web)" in city and "most_recent" in city
    assert "linked records:" in out
    assert "deterministic:email" in out  # the mail record links by its address


def test_customers_show_why_as_json(small_hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    wang = _customer_ids(small_hub)[1]
    capsys.readouterr()
    info = json.loads(_run(small_hub, capsys, "customers", "show", str(wang), "--why", "--json"))
    assert info["golden"]["full_name"] == "王小明"
    assert info["provenance"]["birth_date"]["rule"] == "most_recent"
    assert {r["source"] for r in info["records"]} == {"web", "calls"}


def test_customers_show_of_an_unknown_customer_is_one_line(
    small_hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--home", str(small_hub.home), "customers", "show", "9999"]) == 2
    assert capsys.readouterr().err.strip() == "crmhub: error: no customer 9999"


def _review_hub(make_hub: Callable[..., Hub], db_url: str) -> tuple[Hub, int, int]:
    """Two records scored between the thresholds: the same name and nothing else to compare (e-mail vs phone)."""
    hub = make_hub("version: 1\n", url=db_url)
    with transaction(hub.sessions) as s:
        a = add_contact(s, full_name="Carla Diaz", email="carla@diaz.es").id
        b = add_contact(s, source="calls", full_name="Carla Diaz", phone="+34600111222").id
    assert main(["--home", str(hub.home), "resolve"]) == 0
    return hub, a, b


def _open_items(hub: Hub) -> list[ReviewItem]:
    with hub.sessions() as s:
        return list(s.scalars(select(ReviewItem).where(ReviewItem.status == "open")))


def test_review_list_then_accept_merges_the_pair(
    make_hub: Callable[..., Hub], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hub, a, b = _review_hub(make_hub, db_url)
    [item] = _open_items(hub)
    capsys.readouterr()
    listing = _run(hub, capsys, "review", "list")
    assert listing.split()[0] == str(item.id) and f"score {item.score:.3f}" in listing
    assert _run(hub, capsys, "review", "accept", str(item.id)).strip() == f"review item {item.id} accepted"
    with hub.sessions() as s:
        assert customer_of(s, a) == customer_of(s, b)
    assert _run(hub, capsys, "review", "list").strip() == "the review queue is empty"


def test_review_reject_keeps_the_pair_apart_on_the_next_resolution(
    make_hub: Callable[..., Hub], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hub, a, b = _review_hub(make_hub, db_url)
    [item] = _open_items(hub)
    capsys.readouterr()
    assert _run(hub, capsys, "review", "reject", str(item.id)).strip() == f"review item {item.id} rejected"
    with transaction(hub.sessions) as s:  # the record changes, so resolution looks at it again
        record = s.get(ContactRecord, b)
        assert record is not None
        record.normalized = {**record.normalized, "city": "Madrid"}
        record.version += 1
    _run(hub, capsys, "resolve")
    with hub.sessions() as s:
        assert customer_of(s, a) != customer_of(s, b)
    assert _open_items(hub) == []


def test_deciding_a_decided_review_item_is_one_line(
    make_hub: Callable[..., Hub], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hub, _, _ = _review_hub(make_hub, db_url)
    [item] = _open_items(hub)
    _run(hub, capsys, "review", "reject", str(item.id))
    assert main(["--home", str(hub.home), "review", "accept", str(item.id)]) == 2
    assert capsys.readouterr().err.strip() == f"crmhub: error: review item {item.id} is already rejected"


def test_merge_then_unmerge_from_the_command_line_restores_both_customers(
    make_hub: Callable[..., Hub], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = make_hub("version: 1\n", url=db_url)
    with transaction(hub.sessions) as s:
        a = add_contact(s, full_name="Ann Lee", email="ann@lee.org", city="Berlin").id
        b = add_contact(s, source="shop", full_name="Bob Marsh", email="bob@marsh.org", city="Leeds").id
    _run(hub, capsys, "resolve")
    with hub.sessions() as s:
        ann, bob = customer_of(s, a), customer_of(s, b)
        assert ann is not None and bob is not None and ann != bob
        before: dict[str, Any] = dict(s.get(Customer, bob).golden)  # type: ignore[union-attr]
    out = _run(hub, capsys, "merge", str(ann), str(bob))
    assert f"customer {bob} merged into {ann}" in out
    listing = _run(hub, capsys, "customers", "list")
    assert len(listing.strip().splitlines()) == 1 and listing.strip().endswith("2 records")

    out = _run(hub, capsys, "unmerge", str(ann), str(b))
    assert out.strip() == f"records [{b}] moved from customer {ann} to {bob}"
    with hub.sessions() as s:
        assert customer_of(s, a) == ann and customer_of(s, b) == bob
        restored = s.get(Customer, bob)
        assert restored is not None and restored.status == "active" and restored.golden == before
        merge = s.scalars(select(MergeEvent).where(MergeEvent.kind == "merge")).one()
        assert merge.undone_by is not None
    why = _run(hub, capsys, "customers", "show", str(ann), "--why")
    assert f"merge {bob} -> {ann} by cli, undone by" in why
    assert len(_run(hub, capsys, "customers", "list").strip().splitlines()) == 2


def test_unmerge_of_a_record_that_is_not_there_is_one_line(
    small_hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, wang = _customer_ids(small_hub)
    with small_hub.sessions() as s:
        wang_record = s.scalars(select(ContactRecord.id).where(ContactRecord.customer_id == wang)).first()
    capsys.readouterr()
    assert main(["--home", str(small_hub.home), "unmerge", str(ann), str(wang_record)]) == 2
    assert f"record {wang_record} is not linked to customer {ann}" in capsys.readouterr().err
