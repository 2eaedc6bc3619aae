"""Meta Lead Ads (``meta_leads``) against a stateful Graph API fake on 127.0.0.1 that pages, filters and fails as
Meta documents it: cursor paging over several pages and forms, the time_created window with its overlap (a re-run
lands nothing twice), a new lead after the cursor, an expired token, throttling, and the builtin mapping spec."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from connectors import build_source
from connectors.social.meta_leads import MetaLeadsOptions, MetaLeadsSource, bearer_session, build, parse_leads
from crm_core.config import BUILTIN_SPECS, SourceConfig
from crm_core.errors import ConfigError, FatalError, RetriableError
from crm_core.hub import Hub
from crm_core.jobs import ingest
from crm_core.security import mask_text
from mapping import apply, load_spec
from tests.fakes.meta_graph import MetaGraphFake

from .conftest import landed, stored_cursor

FORM_A, FORM_B = "1402938475610001", "1402938475610002"
T0 = int(datetime(2025, 8, 23, 9, 0, tzinfo=UTC).timestamp())
SINCE = "2025-08-01T00:00:00Z"
MINUTE = 60


def person(n: int) -> dict[str, str]:
    if n % 2:
        return {"full_name": f"张伟{n}", "phone_number": f"+86138001380{n:02d}", "email": f"zhang.wei{n}@example.cn",
                "city": "上海"}
    return {"first_name": "Oliver", "last_name": f"Smith{n}", "email": f"oliver{n}@example.co.uk", "city": "London"}


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetaGraphFake]:
    fake = MetaGraphFake().start()
    conn = {"conn_type": "http", "password": fake.token, "extra": {"base_url": fake.url}}
    monkeypatch.setenv("AIRFLOW_CONN_META_LEADS", json.dumps(conn))
    yield fake
    fake.stop()


def fill(graph: MetaGraphFake, form: str, count: int, start: int = T0, step: int = 10 * MINUTE) -> None:
    for n in range(count):
        graph.add_lead(form, start + n * step, person(n))


def source(graph: MetaGraphFake, forms: tuple[str, ...] = (FORM_A,), attempts: int = 3, **opts: object) -> MetaLeadsSource:
    options = MetaLeadsOptions(forms=forms, page_size=3, since=SINCE, overlap_minutes=30, attempts=attempts,
                               **opts)  # type: ignore[arg-type]
    return MetaLeadsSource(name="leads", base_url=graph.url, session=bearer_session(graph.token), options=options,
                           secret=graph.token)


HUB_YAML = f"""\
version: 1
sources:
  - name: leads
    kind: meta_leads
    mapping: builtin:meta_leads
    connection_id: meta_leads
    options: {{forms: ["{FORM_A}", "{FORM_B}"], page_size: 3, since: "{SINCE}", overlap_minutes: 30}}
"""


def test_a_first_run_pages_through_every_lead_of_every_form(graph: MetaGraphFake) -> None:
    fill(graph, FORM_A, 7)
    fill(graph, FORM_B, 4)
    batches = list(source(graph, (FORM_A, FORM_B)).read(None))
    keys = [r.key for b in batches for r in b.records]
    expected = {f"lead:{lead['id']}" for leads in graph.forms.values() for lead in leads}
    assert len(keys) == 11 and set(keys) == expected
    sent = graph.lead_requests()
    assert [r.path.split("/")[2] for r in sent] == [FORM_A] * 3 + [FORM_B] * 2  # 3 + 3 + 1, then 3 + 1
    assert [r.query.get("after") is not None for r in sent] == [False, True, True, False, True]
    since = int(datetime(2025, 8, 1, tzinfo=UTC).timestamp())
    assert all(json.loads(r.query["filtering"]) == [{"field": "time_created", "operator": "GREATER_THAN",
                                                     "value": since}] for r in sent)
    assert all("field_data" in r.query["fields"].split(",") and r.query["limit"] == "3" for r in sent)
    assert all(r.headers["Authorization"] == f"Bearer {graph.token}" and "access_token" not in r.query for r in sent)


def test_field_data_becomes_fields_a_spec_reads(graph: MetaGraphFake) -> None:
    lead = graph.add_lead(FORM_A, T0, {"full_name": "陈静", "phone_number": "+8613900139000", "意向区域": ["浦东新区", "徐汇区"],
                                       "email": ""})
    [record] = [r for b in source(graph).read(None) for r in b.records]
    assert record.key == f"lead:{lead['id']}"
    assert record.occurred_at == datetime(2025, 8, 23, 9, 0, tzinfo=UTC)
    assert record.payload["created_time"] == "2025-08-23T09:00:00+00:00"
    assert record.payload["fields"] == {"full_name": "陈静", "phone_number": "+8613900139000",
                                        "意向区域": ["浦东新区", "徐汇区"], "email": None}
    assert (record.payload["form_id"], record.payload["ad_id"], record.payload["platform"]) == (
        FORM_A, "120210000000000001", "fb")


def test_only_the_last_page_of_a_form_moves_its_window(graph: MetaGraphFake) -> None:
    fill(graph, FORM_A, 7)
    fill(graph, FORM_B, 2)
    start = {"forms": {}}
    batches = list(source(graph, (FORM_A, FORM_B)).read(start))
    newest_a = T0 + 6 * 10 * MINUTE
    moved_a = {FORM_A: {"time_created_after": newest_a - 30 * MINUTE}}
    assert [b.cursor for b in batches] == [
        {"forms": {}}, {"forms": {}}, {"forms": moved_a},  # form A: three pages, only the last moves it
        {"forms": {**moved_a, FORM_B: {"time_created_after": T0 + 10 * MINUTE - 30 * MINUTE}}},
    ]


def test_a_rerun_reads_the_overlap_again_and_lands_nothing_twice(
    graph: MetaGraphFake, make_hub: Callable[..., Hub]
) -> None:
    fill(graph, FORM_A, 7)
    fill(graph, FORM_B, 4)
    hub = make_hub(HUB_YAML)
    first = ingest(hub, "leads")
    assert (first.records_in, first.records_out) == (11, 11)
    cursor = stored_cursor(hub, "leads")
    assert cursor == {"forms": {FORM_A: {"time_created_after": T0 + 60 * MINUTE - 30 * MINUTE},
                                FORM_B: {"time_created_after": T0 + 30 * MINUTE - 30 * MINUTE}}}

    graph.requests.clear()
    again = ingest(hub, "leads")
    # after the 30 minutes before each form's newest lead are read again: A's leads at 40, 50, 60 min, B's at 10,
    # 20, 30 min; all of them already landed
    assert (again.records_in, again.records_out) == (6, 0)
    windows = [json.loads(r.query["filtering"])[0]["value"] for r in graph.lead_requests()]
    assert windows == [cursor["forms"][FORM_A]["time_created_after"], cursor["forms"][FORM_B]["time_created_after"]]
    keys = [k for k, _ in landed(hub, "leads")]
    assert len(keys) == len(set(keys)) == 11
    assert stored_cursor(hub, "leads") == cursor


def test_a_lead_created_after_the_cursor_lands_on_the_next_run(
    graph: MetaGraphFake, make_hub: Callable[..., Hub]
) -> None:
    fill(graph, FORM_A, 3)
    fill(graph, FORM_B, 1)
    hub = make_hub(HUB_YAML)
    ingest(hub, "leads")
    new = graph.add_lead(FORM_B, T0 + 2 * 60 * MINUTE, {"full_name": "王芳", "phone_number": "13700137000"})
    later = ingest(hub, "leads")
    assert later.records_out == 1
    assert landed(hub, "leads")[-1][0] == f"lead:{new['id']}"
    assert stored_cursor(hub, "leads")["forms"][FORM_B] == {"time_created_after": T0 + 90 * MINUTE}


def test_an_expired_token_fails_fast_with_metas_message_and_without_the_token(
    graph: MetaGraphFake, caplog: pytest.LogCaptureFixture
) -> None:
    fill(graph, FORM_A, 2)
    graph.expired = True
    with caplog.at_level(logging.DEBUG), pytest.raises(FatalError) as raised:
        list(source(graph, attempts=5).read(None))
    assert len(graph.requests) == 1  # no retry: a person must renew the token
    message = str(raised.value)
    assert "Session has expired" in message and "OAuthException" in message and "code=190/463" in message
    assert "fbtrace_id" in message
    assert graph.token not in message and graph.token not in caplog.text


def test_a_token_echoed_in_metas_message_is_scrubbed(graph: MetaGraphFake) -> None:
    graph.fault(400, 190, f"Invalid OAuth access token: {graph.token}")
    with pytest.raises(FatalError) as raised:
        list(source(graph).read(None))
    assert graph.token not in str(raised.value) and "***" in str(raised.value)


@pytest.mark.parametrize(("status", "code", "text"), [
    (403, 4, "(#4) Application request limit reached"),
    (400, 17, "(#17) User request limit reached"),
    (400, 32, "(#32) Page request limit reached"),
    (400, 613, "(#613) Calls to this api have exceeded the rate limit."),
    (500, 2, "An unexpected error has occurred. Please retry your request later."),
])
def test_throttling_and_temporary_errors_are_retried_then_the_run_goes_on(
    graph: MetaGraphFake, status: int, code: int, text: str
) -> None:
    fill(graph, FORM_A, 4)
    graph.fault(status, code, text, type_="OAuthException")
    graph.fault(status, code, text, type_="OAuthException")
    batches = list(source(graph, attempts=3).read(None))
    assert sum(len(b.records) for b in batches) == 4
    assert len(graph.requests) == 2 + 2  # two throttled answers, then both pages


def test_throttling_beyond_the_attempts_gives_up_as_retriable_with_metas_wait(graph: MetaGraphFake) -> None:
    fill(graph, FORM_A, 1)
    usage = json.dumps({"1402938475": [{"type": "pages", "call_count": 100, "total_cputime": 20, "total_time": 30,
                                        "estimated_time_to_regain_access": 7}]})
    graph.fault(400, 80001, "There have been too many calls to this Page account.", subcode=2446079,
                headers={"X-Business-Use-Case-Usage": usage})
    with pytest.raises(RetriableError) as raised:
        list(source(graph, attempts=1).read(None))
    assert raised.value.retry_after == 7 * 60 and raised.value.vendor_code == "80001/2446079"
    assert len(graph.requests) == 1  # attempts=1 honoured: the task's own retry takes it from here


def test_an_unknown_form_is_fatal_with_metas_message(graph: MetaGraphFake) -> None:
    with pytest.raises(FatalError, match="does not exist") as raised:
        list(source(graph, ("999999999",)).read(None))
    assert raised.value.vendor_code == "100/33" and len(graph.requests) == 1


def test_a_repeated_after_cursor_is_an_error_not_an_endless_loop() -> None:
    from connectors.social.meta_leads import GraphCursorPaginator

    paging = GraphCursorPaginator()
    page = {"data": [], "paging": {"cursors": {"after": "QVFIUk"}, "next": "https://graph.facebook.com/x?after=QVFIUk"}}
    paging.update(page)
    assert paging.params() == {"after": "QVFIUk"}
    with pytest.raises(FatalError, match="twice"):
        paging.update(page)
    last = GraphCursorPaginator()
    last.update({"data": [], "paging": {"cursors": {"after": "QVFIUk"}}})  # an after cursor but no next: the end
    assert not last.has_next


def test_odd_items_in_a_page_are_skipped_not_raised() -> None:
    body = {"data": [{"id": "1", "created_time": "not a time", "field_data": [{"name": "email"}, "junk", {}]},
                     {"created_time": "2025-08-23T09:00:00+0000"}, "junk"]}
    [record] = parse_leads(body)
    assert record.key == "lead:1" and record.occurred_at is None and record.payload["fields"] == {"email": None}
    assert parse_leads({"error": "nope"}) == [] and parse_leads(None) == []


def test_the_builtin_spec_maps_chinese_and_english_leads(graph: MetaGraphFake) -> None:
    graph.add_lead(FORM_A, T0, {"full_name": "张伟", "phone_number": "+8613800138000", "email": "Zhang.Wei@Example.CN",
                                "city": "上海", "购房预算": "300万", "意向区域": "浦东新区"})
    graph.add_lead(FORM_A, T0 + MINUTE, {"first_name": "Oliver", "last_name": "Smith", "phone_number": "+447400123456",
                                         "job_title": "Buyer", "message": "Viewing on Saturday?"})
    graph.add_lead(FORM_A, T0 + 2 * MINUTE, {"姓名": "李娜", "手机号": "13900139000", "城市": "杭州"})
    spec = load_spec(BUILTIN_SPECS / "meta_leads.yaml")
    records = sorted((r for b in source(graph).read(None) for r in b.records), key=lambda r: r.payload["created_time"])
    mapped = [apply(spec, r.payload, r.key) for r in records]
    assert all(m.errors == [] and len(m.contacts) == 1 and m.interactions[0].channel == "social" for m in mapped)
    zhang, oliver, li = (m.contacts[0].contact for m in mapped)
    assert (zhang.full_name, zhang.family_name, zhang.email, zhang.phone, zhang.city) == (
        "张伟", "张", "zhang.wei@example.cn", "+8613800138000", "上海")
    assert zhang.attributes["购房预算"] == 3000000 and zhang.attributes["meta_form_id"] == FORM_A
    assert (oliver.full_name, oliver.phone, oliver.title) == ("Oliver Smith", "+447400123456", "Buyer")
    assert (li.full_name, li.phone, li.city) == ("李娜", "+8613900139000", "杭州")
    assert mapped[0].interactions[0].occurred_at == "2025-08-23T09:00:00+00:00"
    assert mapped[1].interactions[0].summary == "Viewing on Saturday?"
    assert mapped[0].interactions[0].external_ref == records[0].payload["id"]


def test_a_lead_nobody_can_reach_is_rejected_by_the_spec() -> None:
    spec = load_spec(BUILTIN_SPECS / "meta_leads.yaml")
    payload = {"channel": "meta_leads", "id": "1", "created_time": "2025-08-23T09:00:00+00:00",
               "fields": {"full_name": "张伟", "city": "上海"}}
    assert apply(spec, payload, "lead:1").errors


def test_build_reads_the_token_from_the_connection_and_checks_the_options(graph: MetaGraphFake) -> None:
    fill(graph, FORM_A, 2)
    config = SourceConfig(name="leads", kind="meta_leads", mapping="builtin:meta_leads", connection_id="meta_leads",
                          options={"forms": [FORM_A], "since": SINCE})
    built = build_source(config, None)
    assert isinstance(built, MetaLeadsSource) and built.ordered is False
    assert graph.token not in repr(built)
    assert sum(len(b.records) for b in built.read(None)) == 2
    assert graph.requests[0].path == f"/v22.0/{FORM_A}/leads"
    for bad in ({}, {"forms": []}, {"forms": ["lead form"]}, {"forms": [FORM_A], "colour": "red"},
                {"forms": [FORM_A], "since": "last tuesday"}):
        with pytest.raises(ConfigError):
            build(config.model_copy(update={"options": bad}), None)
    with pytest.raises(ConfigError, match="connection_id"):
        build(config.model_copy(update={"connection_id": None}), None)


# ---------------------------------------------------------------------------------------------- appsecret_proof

APP_SECRET = "c0ffee0ddba11app5ecret"
# `printf %s TOKEN | openssl dgst -sha256 -hmac APP_SECRET`, with the fake's token
PROOF_OF_FAKE_TOKEN = "bdaf8e881f778035724cfebea322d4db787cecd67a288b875e0989ce3dd7f097"


def _built(graph: MetaGraphFake, monkeypatch: pytest.MonkeyPatch, app_secret: str | None) -> MetaLeadsSource:
    extra = {"base_url": graph.url} | ({"app_secret": app_secret} if app_secret is not None else {})
    monkeypatch.setenv("AIRFLOW_CONN_META_LEADS", json.dumps({"conn_type": "http", "password": graph.token,
                                                              "extra": extra}))
    config = SourceConfig(name="leads", kind="meta_leads", mapping="builtin:meta_leads", connection_id="meta_leads",
                          options={"forms": [FORM_A], "since": SINCE, "page_size": 2})
    built = build(config, None)
    assert APP_SECRET not in repr(built) and PROOF_OF_FAKE_TOKEN not in repr(built)
    return built


def test_with_the_app_secret_every_call_carries_the_proof_meta_requires(
    graph: MetaGraphFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph.app_secret = APP_SECRET  # the app's "Require App Secret" setting is on
    fill(graph, FORM_A, 5)
    assert sum(len(b.records) for b in _built(graph, monkeypatch, APP_SECRET).read(None)) == 5
    assert len(graph.lead_requests()) == 3
    assert {r.query.get("appsecret_proof") for r in graph.lead_requests()} == {PROOF_OF_FAKE_TOKEN}
    assert all("access_token" not in r.query for r in graph.requests)  # the token itself stays in the header


@pytest.mark.parametrize(("app_secret", "said"), [
    (None, "require an appsecret_proof argument"),
    ("not-the-app-secret", "Invalid appsecret_proof"),
])
def test_a_missing_or_wrong_proof_fails_fast_with_metas_message(
    graph: MetaGraphFake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, app_secret: str | None,
    said: str,
) -> None:
    graph.app_secret = APP_SECRET
    fill(graph, FORM_A, 2)
    with caplog.at_level(logging.DEBUG), pytest.raises(FatalError, match=said) as raised:
        list(_built(graph, monkeypatch, app_secret).read(None))
    assert len(graph.requests) == 1  # no retry: a person must fix the connection
    sent_proof = graph.requests[0].query.get("appsecret_proof")
    logged = mask_text(caplog.text)  # what every entry point's log masking writes (urllib3 prints the query)
    for secret in (graph.token, app_secret, sent_proof):
        assert not secret or (secret not in str(raised.value) and secret not in logged)


def test_an_empty_app_secret_is_a_configuration_error(graph: MetaGraphFake, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="app_secret"):
        _built(graph, monkeypatch, "")
