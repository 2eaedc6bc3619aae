"""What keeps a batch against a large base fast without losing matches: capped name blocks, the ``nc:`` key, and
bulk writes that still record evidence, provenance, versions and review items."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.config import ResolutionConfig, load_config
from crm_core.db import make_engine, session_factory, transaction, upgrade
from crm_core.models import ContactRecord, Customer, CustomerVersion, ReviewItem
from crm_core.resolution import Matcher, MatchModel, MatchRecord, Thresholds, build_profile
from crm_core.resolution._blocking import KeyPolicy, blocking_keys, is_name_key, key_too_big
from crm_core.resolution._engine import classify_keys
from crm_core.resolution._store import key_policy

from .helpers import add_contact, customer_of, partition, resolve
from .test_incremental import people

# four John Smiths in four cities: neither birth date nor postcode, so only nm: and nc: keys to meet on
SMITHS = [
    {"given_name": "John", "family_name": "Smith", "city": city, "street": street, "company": company}
    for city, street, company in [("York", "High Street", "Bakers"), ("Leeds", "Mill Lane", "Acme Ltd"),
                                  ("Hull", "Dock Road", "Fishers"), ("Bath", "Abbey Green", "Spa Co")]
]
NEW_SMITH = {"given_name": "John", "family_name": "Smith", "city": "Leeds", "street": "Mill Lane", "company": "ACME"}


def test_name_keys_are_every_key_but_identity_keys() -> None:
    assert [is_name_key(k) for k in ("e:a@x.com", "p:151123", "h:x:ann", "n:123", "nm:ann|lee", "nc:ann|lee|york",
                                     "fd:lee|1980-01-02")] == [False, False, False, False, True, True, True]


def test_name_block_cap_is_separate_from_the_identity_block_cap() -> None:
    policy = KeyPolicy(max_block=200, max_identity_block=2000, max_name_block=20)
    assert key_too_big("nm:john|smith", 21, policy)  # a common name: capped at 20
    assert not key_too_big("p:151123", 21, policy)  # a shared phone: identity blocks go to 2,000
    assert not key_too_big("nm:john|smith", 200, KeyPolicy())  # no name cap set: max_block (dedupe's policy)
    assert key_too_big("nm:john|smith", 201, KeyPolicy())


def test_store_policy_takes_the_name_block_cap_from_config(tmp_path: Path) -> None:
    assert key_policy(ResolutionConfig()).max_name_block == 20  # the default
    (tmp_path / "hub.yaml").write_text("version: 1\nresolution:\n  max_name_block_size: 7\n", encoding="utf-8")
    assert key_policy(load_config(tmp_path / "hub.yaml").resolution).max_name_block == 7


def test_name_and_city_key_pairs_a_person_whose_name_block_is_capped() -> None:
    records = [MatchRecord(i, build_profile(c), cluster=f"c{i}", new=False) for i, c in enumerate(SMITHS)]
    records.append(MatchRecord(9, build_profile(NEW_SMITH)))
    policy = KeyPolicy(max_name_block=2)
    keys = {r.id: blocking_keys(r.profile) for r in records}
    hub, big = classify_keys(records, policy, keys)
    assert big == {"nm:john|smith"}  # five holders, cap 2
    assert Matcher.candidate_pairs(records, keys, hub | big) == [(1, 9)]  # only the Leeds Smith, through nc:
    outcome = Matcher(MatchModel(), Thresholds(), policy).run(records, keys=keys)
    assert next(clusters for clusters, members in outcome.groups if 9 in members) == ["c1"]


def test_store_honours_the_configured_name_block_cap(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        smiths = [add_contact(s, **c).id for c in SMITHS]
    resolve(sessions)
    with transaction(sessions) as s:
        new = add_contact(s, **NEW_SMITH).id
    capped = resolve(sessions, ResolutionConfig(max_name_block_size=2))
    assert capped.detail["pairs_scored"] == 1  # nm:john|smith (5 holders) capped; nc:john|smith|leeds pairs one
    with sessions() as s:
        assert customer_of(s, new) == customer_of(s, smiths[1])  # the Leeds John Smith
    with transaction(sessions) as s:
        s.get(ContactRecord, new).version += 1  # resolve it again, now with the default cap of 20
    uncapped = resolve(sessions)
    assert uncapped.detail["pairs_scored"] == 4  # every John Smith in the store


def test_bulk_writes_keep_evidence_golden_provenance_and_versions(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        first = add_contact(s, full_name="Ann Lee", email="ann@x.com").id
        lone = add_contact(s, full_name="Bob Marsh", phone="+4915112345679").id
    resolve(sessions)
    with sessions() as s:
        ann = customer_of(s, first)
        assert s.get(Customer, ann).version == 1
        assert s.scalars(select(CustomerVersion).where(CustomerVersion.customer_id == ann)).one().golden["email"] == "ann@x.com"
        assert s.get(Customer, customer_of(s, lone)).provenance["phone"]["record"] == lone
    with transaction(sessions) as s:
        second = add_contact(s, observed_days=1, full_name="Ann Lee", email="ann@x.com", city="Berlin").id
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, second) == ann
        record = s.get(ContactRecord, second)
        assert record.link_evidence["rule"] == "deterministic:email"
        assert record.link_evidence["with_record"] == first
        assert record.resolved_version == record.version
        customer = s.get(Customer, ann)
        assert (customer.version, customer.golden["city"]) == (2, "Berlin")
        assert customer.provenance["city"] == {"record": second, "source": "web", "rule": "most_recent"}
        versions = s.scalars(select(CustomerVersion.version).where(CustomerVersion.customer_id == ann)).all()
        assert sorted(versions) == [1, 2]


def test_bulk_writes_open_each_review_item_once(sessions: sessionmaker[Session]) -> None:
    home = {"family_name": "Lee", "phone": "+441632960001", "street": "Mill Lane", "street_number": "7",
            "postcode": "LS1 4AB", "city": "Leeds"}
    with transaction(sessions) as s:
        add_contact(s, given_name="Ann", birth_date="1961-02-03", **home)
    resolve(sessions)
    with transaction(sessions) as s:
        son = add_contact(s, given_name="Tom", birth_date="1994-09-12", **home).id  # other name, other year
    resolve(sessions)
    with transaction(sessions) as s:
        s.get(ContactRecord, son).version += 1  # resolved again: the same question is not asked twice
    resolve(sessions)
    with sessions() as s:
        item = s.scalars(select(ReviewItem)).one()
        assert item.contact_record_id == son
        assert item.evidence["held"] == "different given name and birth date"
        assert item.evidence["with_record"] != son


def test_incremental_equals_full_run_when_name_blocks_are_capped(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = people(seed=11, n=200)  # 100 name pairs for 200 people: many nm: blocks above a cap of 3
    config = ResolutionConfig(max_name_block_size=3)
    for start in range(0, len(rows), 60):
        with transaction(sessions) as s:
            for i, row in enumerate(rows[start : start + 60], start=start):
                add_contact(s, **row).source_key = f"row{i}"
        resolve(sessions, config)
    full_url = f"sqlite:///{tmp_path / 'full.db'}"
    upgrade(full_url)
    engine = make_engine(full_url)
    full = session_factory(engine)
    with transaction(full) as s:
        for i, row in enumerate(rows):
            add_contact(s, **row).source_key = f"row{i}"
    resolve(full, config)
    with sessions() as incremental_session, full() as full_session:
        groups = partition(incremental_session)
        assert groups == partition(full_session)
        assert any(len(g) > 1 for g in groups)  # copies did link
    name_holders = Counter(k for row in rows for k in blocking_keys(build_profile(row)) if k.startswith("nm:"))
    assert max(name_holders.values()) > 3  # the cap did bite
    engine.dispose()
