"""Mailchimp audience members against a stateful fake of the documented API: upsert, tags, consent, erasure."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.marketing.mailchimp import MailchimpDestination, subscriber_hash
from crm_core.errors import FatalError
from crm_core.records import OutboundItem
from tests.fakes.mailchimp import MailchimpFake


def member(email: str, customer_id: int = 1, **fields: Any) -> OutboundItem:
    return OutboundItem(customer_id=customer_id, hub_key=f"hub-{customer_id}", fields={"email_address": email, **fields})


def sent_statuses(fake: MailchimpFake) -> list[Any]:
    return [(r.body or {}).get("status") for r in fake.requests if r.method == "PUT"]


def test_the_subscriber_hash_is_the_md5_of_the_lower_cased_address() -> None:
    assert subscriber_hash("Urist.McVankab@FreddiesJokes.com") == "62eeb292278cc15f5817cb78f7790b08"  # the docs example


def test_an_upsert_creates_then_updates_one_member(mailchimp: MailchimpDestination, mailchimp_fake: MailchimpFake) -> None:
    first = mailchimp.upsert([member("li.na@example.com", status="subscribed", FNAME="娜", LNAME="李")])[0]
    second = mailchimp.upsert([member("li.na@example.com", status="subscribed", FNAME="Na", LNAME="李")])[0]
    assert first.ok and first.created and second.ok and not second.created
    assert first.external_id == second.external_id == subscriber_hash("li.na@example.com")
    assert len(mailchimp_fake.lists["aud1"]) == 1
    assert mailchimp_fake.member("aud1", "li.na@example.com")["merge_fields"] == {"FNAME": "Na", "LNAME": "李"}


def test_the_same_upsert_twice_is_one_member_with_the_same_version(mailchimp: MailchimpDestination,
                                                                   mailchimp_fake: MailchimpFake) -> None:
    once = mailchimp.upsert([member("a@example.com", status="subscribed", tags=["vip"])])[0]
    twice = mailchimp.upsert([member("a@example.com", status="subscribed", tags=["vip"])])[0]
    assert len(mailchimp_fake.lists["aud1"]) == 1 and once.remote_version == twice.remote_version


def test_fetch_returns_what_was_written_with_a_version(mailchimp: MailchimpDestination) -> None:
    written = mailchimp.upsert([member("b@example.com", status="subscribed", FNAME="Bo", tags=["vip", "b2b"])])[0]
    remote = mailchimp.fetch([written.external_id or "", "hub-404"])
    assert set(remote) == {written.external_id}
    record = remote[written.external_id or ""]
    assert record.version == written.remote_version
    assert (record.fields["email_address"], record.fields["status"], record.fields["FNAME"], record.fields["tags"]) == (
        "b@example.com", "subscribed", "Bo", ["b2b", "vip"])


def test_tags_end_as_exactly_the_tags_given(mailchimp: MailchimpDestination, mailchimp_fake: MailchimpFake) -> None:
    mailchimp.upsert([member("c@example.com", tags=["vip", "beijing"])])
    mailchimp.upsert([member("c@example.com", tags=["vip", "shanghai"])])
    assert {t["name"] for t in mailchimp_fake.member("aud1", "c@example.com")["tags"]} == {"vip", "shanghai"}


def test_a_new_member_without_known_consent_is_not_subscribed(mailchimp: MailchimpDestination,
                                                             mailchimp_fake: MailchimpFake) -> None:
    mailchimp.upsert([member("unknown@example.com", FNAME="Unknown")])
    assert mailchimp_fake.member("aud1", "unknown@example.com")["status"] == "transactional"
    assert "subscribed" not in sent_statuses(mailchimp_fake)


def test_a_member_who_unsubscribed_at_mailchimp_is_never_resubscribed(
        mailchimp: MailchimpDestination, mailchimp_fake: MailchimpFake) -> None:
    mailchimp.upsert([member("d@example.com", status="subscribed")])
    mailchimp_fake.edit("aud1", "d@example.com", status="unsubscribed")  # the person clicked "unsubscribe"
    [result] = mailchimp.upsert([member("d@example.com", status="subscribed", FNAME="Dora")])
    assert result.ok and result.extra["consent_kept"] == "unsubscribed"
    stored = mailchimp_fake.member("aud1", "d@example.com")
    assert (stored["status"], stored["merge_fields"]["FNAME"]) == ("unsubscribed", "Dora")
    assert sent_statuses(mailchimp_fake) == [None, None]  # status never sent, only status_if_new on creation


def test_a_customer_who_withdrew_consent_is_unsubscribed(mailchimp: MailchimpDestination,
                                                        mailchimp_fake: MailchimpFake) -> None:
    mailchimp.upsert([member("e@example.com", status="subscribed")])
    mailchimp.upsert([member("e@example.com", status="unsubscribed")])
    assert mailchimp_fake.member("aud1", "e@example.com")["status"] == "unsubscribed"


def test_an_erased_member_is_gone_for_good(mailchimp: MailchimpDestination, mailchimp_fake: MailchimpFake) -> None:
    written = mailchimp.upsert([member("f@example.com", status="subscribed")])[0]
    assert [r.ok for r in mailchimp.delete([written.external_id or ""])] == [True]
    [again] = mailchimp.upsert([member("f@example.com", status="subscribed")])
    assert (again.ok, again.error_class, again.extra["vendor_code"]) == (False, "invalid", "Forgotten Email Not Subscribed")
    assert mailchimp_fake.member("aud1", "f@example.com") is None
    assert [r.ok for r in mailchimp.delete([written.external_id or ""])] == [True]  # erasing twice is fine


def test_an_edit_made_in_mailchimp_after_our_read_is_not_overwritten(
        mailchimp: MailchimpDestination, mailchimp_fake: MailchimpFake) -> None:
    written = mailchimp.upsert([member("g@example.com", FNAME="Gao")])[0]
    seen = mailchimp.fetch([written.external_id or ""])[written.external_id or ""]
    mailchimp_fake.edit("aud1", "g@example.com", merge_fields={"FNAME": "高"})
    [result] = mailchimp.upsert([OutboundItem(1, "hub-1", {"email_address": "g@example.com", "FNAME": "Gao Wei"},
                                              seen.external_id, seen.version)])
    assert (result.ok, result.error_class) == (False, "conflict")
    assert mailchimp_fake.member("aud1", "g@example.com")["merge_fields"]["FNAME"] == "高"


def test_an_email_change_moves_the_member_to_its_new_hash(mailchimp: MailchimpDestination,
                                                         mailchimp_fake: MailchimpFake) -> None:
    old = mailchimp.upsert([member("old@example.com", status="subscribed")])[0]
    [new] = mailchimp.upsert([OutboundItem(1, "hub-1", {"email_address": "new@example.com"}, old.external_id)])
    assert new.external_id == subscriber_hash("new@example.com") and len(mailchimp_fake.lists["aud1"]) == 1


def test_a_bad_record_fails_alone_with_mailchimps_title(mailchimp: MailchimpDestination) -> None:
    results = mailchimp.upsert([member("not-an-address", 1), member("h@example.com", 2)])
    assert [(r.ok, r.error_class) for r in results] == [(False, "invalid"), (True, None)]
    assert results[0].extra == {"vendor_code": "Invalid Resource", "status": 400}
    assert "not-an-address" not in (results[0].error_message or "")  # the detail names the person: dropped


def test_too_many_connections_are_retried(mailchimp: MailchimpDestination, mailchimp_fake: MailchimpFake) -> None:
    mailchimp_fake.faults += [(429, "Too Many Requests", {})] * 2
    assert mailchimp.upsert([member("i@example.com")])[0].ok


def test_a_wrong_api_key_stops_the_run(mailchimp_fake: MailchimpFake) -> None:
    destination = MailchimpDestination(mailchimp_fake.url, "wrong-us21", "aud1")
    with pytest.raises(FatalError, match="code=API Key Invalid"):
        destination.upsert([member("j@example.com")])


def test_changed_since_returns_members_edited_in_mailchimp(mailchimp: MailchimpDestination,
                                                          mailchimp_fake: MailchimpFake) -> None:
    mailchimp.upsert([member("k@example.com", status="subscribed"), member("l@example.com", 2)])
    batches = list(mailchimp.changed_since(None))
    assert {r.key for b in batches for r in b.records} == {subscriber_hash("k@example.com"),
                                                          subscriber_hash("l@example.com")}
    mailchimp_fake.edit("aud1", "k@example.com", status="unsubscribed")
    later = [r for b in mailchimp.changed_since(batches[-1].cursor) for r in b.records]
    assert subscriber_hash("k@example.com") in {r.key for r in later}
    assert next(r for r in later if r.key == subscriber_hash("k@example.com")).payload["status"] == "unsubscribed"
