"""The Salesforce destination against the fake's REST contract: paging, ids, errors, sessions, concurrency."""

from __future__ import annotations

import inspect

import pytest
import requests
import simple_salesforce.exceptions as sf_exceptions

from connectors.salesforce import SalesforceDestination, classify, http_date, select_soql
from crm_core.errors import ConnectorError, FatalError, RetriableError, SkippableError
from crm_core.records import OutboundItem, QuotaExceeded
from tests.fakes.salesforce import sf_id

from .conftest import SalesforceOrg


def test_ids_are_18_characters_with_the_case_checksum() -> None:
    assert sf_id("003", 1) == "003000000000001AAA"
    assert sf_id("003", 61) == "00300000000000zAAA"  # lower case: no checksum bit
    assert sf_id("003", 35)[-3:] == "AAQ"  # 'Z' is the 5th character of the last chunk: bit 4 → 16 → "Q"


def test_creates_go_in_collections_of_200_and_answer_created(destination: SalesforceDestination,
                                                            salesforce: SalesforceOrg) -> None:
    items = [OutboundItem(i, f"hub-{i}", {"LastName": f"N{i}"}) for i in range(1, 252)]
    results = destination.upsert(items)
    assert all(r.ok and r.created and len(r.external_id or "") == 18 for r in results)
    assert [c for c in salesforce.org.calls if c[0] == "PATCH"] == [
        ("PATCH", "/services/data/v59.0/composite/sobjects/Contact/Hub_Customer_Id__c")] * 2


def test_fetch_follows_next_records_url(destination: SalesforceDestination, salesforce: SalesforceOrg) -> None:
    salesforce.org.page_size = 3
    for i in range(7):
        salesforce.org.insert(LastName=f"N{i}", Hub_Customer_Id__c=f"hub-{i}")
    found = destination.fetch([f"hub-{i}" for i in range(9)])
    assert sorted(found) == [f"hub-{i}" for i in range(7)]
    assert [p for _m, p in salesforce.org.calls][1].startswith("/services/data/v59.0/query/01g")
    assert len(salesforce.org.calls) == 3


def test_changed_since_returns_what_changed_at_or_after_the_cursor(destination: SalesforceDestination,
                                                                  salesforce: SalesforceOrg) -> None:
    first = salesforce.org.insert(LastName="A")
    [batch] = list(destination.changed_since(None))
    assert [r.external_id for r in batch.records] == [first]
    second = salesforce.org.insert(LastName="B")
    [batch] = list(destination.changed_since(batch.cursor))
    assert [r.external_id for r in batch.records] == [first, second]  # ">=": the boundary record comes again
    [batch] = list(destination.changed_since(batch.cursor))
    assert [r.external_id for r in batch.records] == [second]


def test_a_stale_update_answers_412_and_is_not_applied(destination: SalesforceDestination,
                                                      salesforce: SalesforceOrg) -> None:
    rid = salesforce.org.insert(LastName="Schmidt", Hub_Customer_Id__c="hub-1", Title="A")
    remote = destination.fetch(["hub-1"])["hub-1"]
    salesforce.org.edit(rid, Title="B")
    [result] = destination.upsert([OutboundItem(1, "hub-1", {"Title": "C"}, rid, remote.version)])
    assert result.stale and not result.ok
    assert salesforce.org.records[rid]["Title"] == "B"


def test_per_record_errors_carry_the_vendor_code_and_fields(destination: SalesforceDestination) -> None:
    ok, bad = destination.upsert([OutboundItem(1, "hub-1", {"LastName": "A"}),
                                  OutboundItem(2, "hub-2", {"LastName": "B", "Email": "not-an-email"})])
    assert ok.ok and not bad.ok
    assert bad.error_class == "INVALID_EMAIL_ADDRESS" and "Email" in (bad.error_message or "")
    assert "not-an-email" not in (bad.error_message or "")


def test_several_records_with_one_external_id_fail_that_record_only(destination: SalesforceDestination,
                                                                   salesforce: SalesforceOrg) -> None:
    salesforce.org.insert(LastName="A", Hub_Customer_Id__c="hub-1")
    salesforce.org.insert(LastName="A", Hub_Customer_Id__c="hub-1")
    dup, fine = destination.upsert([OutboundItem(1, "hub-1", {"LastName": "A"}), OutboundItem(2, "hub-2",
                                                                                              {"LastName": "B"})])
    assert (dup.ok, dup.error_class, fine.ok) == (False, "DUPLICATE_EXTERNAL_ID", True)


def test_single_upsert_answers_201_then_204_and_300_for_duplicates(destination: SalesforceDestination,
                                                                   salesforce: SalesforceOrg) -> None:
    contact = destination.sf.Contact
    assert contact.upsert("Hub_Customer_Id__c/hub-9", {"LastName": "A"}) == 201
    assert contact.upsert("Hub_Customer_Id__c/hub-9", {"LastName": "B"}) == 204
    salesforce.org.insert(LastName="C", Hub_Customer_Id__c="hub-9")
    with pytest.raises(sf_exceptions.SalesforceMoreThanOneRecord) as raised:
        contact.upsert("Hub_Customer_Id__c/hub-9", {"LastName": "D"})
    assert isinstance(classify(raised.value), SkippableError)


def test_every_answer_reports_api_usage(destination: SalesforceDestination, salesforce: SalesforceOrg) -> None:
    destination.sf.query("SELECT Id FROM Contact")
    usage = destination.sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (len(salesforce.org.calls), salesforce.org.daily_limit)


def test_an_expired_session_is_renewed_with_client_credentials(destination: SalesforceDestination,
                                                               salesforce: SalesforceOrg) -> None:
    salesforce.org.expire_session()
    assert destination.fetch(["hub-1"]) == {}
    assert destination.sf.session_id != "token-0"


def test_an_expired_session_without_client_credentials_is_fatal(destination: SalesforceDestination,
                                                                salesforce: SalesforceOrg) -> None:
    destination.client_id = None
    salesforce.org.expire_session()
    with pytest.raises(FatalError, match="expired"):
        destination.fetch(["hub-1"])


def test_the_daily_limit_arrives_as_403_and_becomes_quota_exceeded(destination: SalesforceDestination,
                                                                   salesforce: SalesforceOrg) -> None:
    salesforce.org.daily_limit = 0
    with pytest.raises(QuotaExceeded) as raised:
        destination.fetch(["hub-1"])
    assert (raised.value.status, raised.value.vendor_code) == (403, "REQUEST_LIMIT_EXCEEDED")


def test_a_transient_failure_is_retried(destination: SalesforceDestination, salesforce: SalesforceOrg) -> None:
    salesforce.org.fail_next(503)
    [result] = destination.upsert([OutboundItem(1, "hub-1", {"LastName": "A"})])
    assert result.ok and len(salesforce.org.by_hub_key("hub-1")) == 1


def test_soql_values_are_quoted_and_names_checked() -> None:
    soql = select_soql("Contact", ["Id"], "Hub_Customer_Id__c IN {keys}", keys=["x' OR Name != '"])
    assert soql == "SELECT Id FROM Contact WHERE Hub_Customer_Id__c IN ('x\\' OR Name != \\'')"
    with pytest.raises(ValueError):
        select_soql("Contact; DELETE", ["Id"])


def test_if_unmodified_since_is_an_http_date() -> None:
    assert http_date("2026-01-05T09:00:01.000+0000") == "Mon, 05 Jan 2026 09:00:01 GMT"


VENDOR_ERRORS = [
    (sf_exceptions.SalesforceMoreThanOneRecord, 300, SkippableError),
    (sf_exceptions.SalesforceMalformedRequest, 400, SkippableError),
    (sf_exceptions.SalesforceExpiredSession, 401, FatalError),
    (sf_exceptions.SalesforceRefusedRequest, 403, FatalError),
    (sf_exceptions.SalesforceResourceNotFound, 404, SkippableError),
    (sf_exceptions.SalesforceGeneralError, 500, RetriableError),
    (sf_exceptions.SalesforceGeneralError, 503, RetriableError),
]


@pytest.mark.parametrize(("vendor", "status", "ours"), VENDOR_ERRORS, ids=[f"{v.__name__}-{s}" for v, s, _ in VENDOR_ERRORS])
def test_vendor_errors_map_to_our_classes(vendor: type, status: int, ours: type) -> None:
    exc = vendor("https://x/services/data/v59.0/query/?q=SELECT+Email", status, "query",
                 b'[{"errorCode": "X", "message": "li.na@example.cn"}]')
    mapped = classify(exc)
    assert isinstance(mapped, ours)
    assert "SELECT" not in str(mapped)  # the query string is redacted


def test_every_simple_salesforce_exception_maps_to_one_of_ours() -> None:
    vendor_classes = [c for _n, c in inspect.getmembers(sf_exceptions, inspect.isclass)
                      if issubclass(c, sf_exceptions.SalesforceError)]
    for cls in vendor_classes:
        exc = cls("auth", "failed") if cls is sf_exceptions.SalesforceAuthenticationFailed else cls(
            "https://x/y", 418, "res", b"[]")
        assert isinstance(classify(exc), ConnectorError), cls
    assert isinstance(classify(requests.ConnectionError("reset")), RetriableError)
    assert isinstance(classify(sf_exceptions.SalesforceBulkV2LoadError("x")), FatalError)
