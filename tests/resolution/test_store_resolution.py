"""The resolution stage against the store (SQLite and PostgreSQL): links, keys, protection, incrementality."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.config import ResolutionConfig
from crm_core.db import transaction
from crm_core.models import ContactRecord, Customer, CustomerVersion, Interaction, ReviewItem, utcnow

from .helpers import add_contact, customer_of, resolve


def test_same_email_in_different_case_links_one_customer(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        a = add_contact(s, full_name="Ann Lee", email="ann.lee@example.com").id
        b = add_contact(s, source="mail", email="ANN.LEE@Example.com").id  # a mail sender: address only
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) == customer_of(s, b) is not None
        assert s.get(ContactRecord, b).link_evidence["rule"] == "deterministic:email"


def test_same_phone_in_different_formats_links_one_customer(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        a = add_contact(s, full_name="王小明", phone="+8613800138000").id
        b = add_contact(s, source="calls", phone="013800138000").id  # a call log: number only, trunk prefix
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) == customer_of(s, b)


def test_role_address_never_merges_people(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        a = add_contact(s, full_name="Ann Lee", email="info@acme.com").id
        b = add_contact(s, full_name="Bob Marsh", email="info@acme.com").id
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) != customer_of(s, b)


def test_shared_switchboard_number_is_detected_and_never_merges_people(sessions: sessionmaker[Session]) -> None:
    names = ["Ann Lee", "Bob Marsh", "Carla Diaz", "Dev Patel", "Eve Stone"]
    with transaction(sessions) as s:
        ids = [add_contact(s, full_name=n, phone="+4930123456", company="ACME").id for n in names]
    resolve(sessions)
    with sessions() as s:
        assert len({customer_of(s, i) for i in ids}) == len(names)  # five people behind one switchboard


def test_same_person_through_switchboard_still_matches_on_other_evidence(sessions: sessionmaker[Session]) -> None:
    names = ["Ann Lee", "Bob Marsh", "Carla Diaz", "Dev Patel"]
    with transaction(sessions) as s:
        for n in names:
            add_contact(s, full_name=n, phone="+4930123456")
        a = add_contact(s, full_name="Eve Stone", phone="+4930123456", email="eve@stone.org").id
        b = add_contact(s, full_name="Eve Stone", email="eve@stone.org").id
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) == customer_of(s, b)


def test_two_different_verified_emails_never_auto_merge(sessions: sessionmaker[Session]) -> None:
    config = ResolutionConfig(verified_email_sources=["shop"])
    with transaction(sessions) as s:
        a = add_contact(s, source="shop", full_name="Wei Zhang", email="wei@a.cn", phone="+8613900000001").id
        b = add_contact(s, source="shop", full_name="Wei Zhang", email="wei@b.cn", phone="+8613900000001").id
    resolve(sessions, config)
    with sessions() as s:
        assert customer_of(s, a) != customer_of(s, b)
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 1  # a person decides instead


def test_conflicting_national_ids_never_auto_merge(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        a = add_contact(s, full_name="Li Na", birth_date="1990-03-07", national_id="110101199003077777").id
        b = add_contact(s, full_name="Li Na", birth_date="1990-03-07", national_id="320102198811224444").id
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) != customer_of(s, b)


def test_household_members_sharing_phone_and_address_go_to_review_not_one_customer(
    sessions: sessionmaker[Session],
) -> None:
    home = {"family_name": "Lee", "phone": "+441632960001", "street": "Mill Lane", "street_number": "7",
            "postcode": "LS1 4AB", "city": "Leeds"}
    with transaction(sessions) as s:
        a = add_contact(s, given_name="Ann", birth_date="1961-02-03", **home).id
        b = add_contact(s, given_name="Tom", birth_date="1994-09-12", **home).id  # her son: other name, other year
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) != customer_of(s, b)
        item = s.scalars(select(ReviewItem)).one()  # they score high: a person decides
        assert item.evidence["held"] == "different given name and birth date"


def test_chinese_name_in_characters_and_pinyin_with_same_birth_date_links(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        a = add_contact(s, full_name="欧阳娜娜", birth_date="1995-06-15", city="北京市").id
        b = add_contact(s, given_name="Nana", family_name="Ouyang", birth_date="1995-06-15", city="Beijing").id
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) == customer_of(s, b)


def test_every_link_stores_its_evidence(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        add_contact(s, full_name="Robert Miller", birth_date="1980-05-04", postcode="10115", street="Main Street",
                    street_number="5")
        b = add_contact(s, full_name="Bob Miller", birth_date="1980-05-04", postcode="10115", street="main st",
                        street_number="5").id
    resolve(sessions)
    with sessions() as s:
        evidence = s.get(ContactRecord, b).link_evidence
    assert evidence["rule"] == "probabilistic"
    assert evidence["comparisons"]["given_name"]["level"] == "nickname"
    assert evidence["score"] >= 0.92


def test_running_resolution_twice_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        add_contact(s, full_name="Ann Lee", email="ann@x.com")
        add_contact(s, full_name="Ann Lee", email="ann@x.com", phone="+4915112345678")
        add_contact(s, full_name="Bob Marsh", phone="+4915112345679")
    resolve(sessions)
    with sessions() as s:
        before = [(r.id, r.customer_id, r.link_evidence) for r in s.scalars(select(ContactRecord).order_by(ContactRecord.id))]
        versions = s.scalar(select(func.count()).select_from(CustomerVersion))
    second = resolve(sessions)
    with sessions() as s:
        after = [(r.id, r.customer_id, r.link_evidence) for r in s.scalars(select(ContactRecord).order_by(ContactRecord.id))]
        assert after == before
        assert s.scalar(select(func.count()).select_from(CustomerVersion)) == versions
    assert second.records_in == 0


def test_new_record_bridging_two_customers_merges_them_reversibly(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        a = add_contact(s, full_name="Ann Lee", email="ann@x.com").id
        b = add_contact(s, full_name="Ann Lee", phone="+4915112345678").id
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) != customer_of(s, b)  # nothing tied them yet
    with transaction(sessions) as s:
        c = add_contact(s, full_name="Ann Lee", email="ann@x.com", phone="+4915112345678").id
    resolve(sessions)
    with sessions() as s:
        assert customer_of(s, a) == customer_of(s, b) == customer_of(s, c)
        merged = s.scalars(select(Customer).where(Customer.status == "merged")).one()
        assert merged.merged_into == customer_of(s, a)


def test_interactions_follow_their_record_when_it_links(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        add_contact(s, full_name="Ann Lee", email="ann@x.com")
        b = add_contact(s, source="mail", email="ann@x.com")
        s.add(Interaction(source="mail", external_ref="<m1@x>", contact_record_id=b.id, channel="email",
                          occurred_at=utcnow()))
    resolve(sessions)
    with sessions() as s:
        interaction = s.scalars(select(Interaction)).one()
        assert interaction.customer_id == customer_of(s, interaction.contact_record_id) is not None


def test_changed_record_is_resolved_again_and_its_golden_record_follows(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        a = add_contact(s, full_name="Ann Lee", email="ann@x.com").id
    resolve(sessions)
    with transaction(sessions) as s:
        record = s.get(ContactRecord, a)
        record.normalized = {**record.normalized, "city": "Berlin"}
        record.version += 1
    resolve(sessions)
    with sessions() as s:
        customer = s.get(Customer, customer_of(s, a))
        assert customer.golden["city"] == "Berlin"
        assert customer.version == 2
