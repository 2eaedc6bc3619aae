"""The "CRM sync" page in a real Airflow, seen through a real headless Chromium, as an operator uses it.

One ``airflow standalone`` per session (``airflow_server``) over the hub ``make run`` builds (``demo_hub``: the
bundled samples of all four channels, synced once). The tests add what the samples do not produce (a conflict, a
failed record) through the hub's own code, then compare what the page shows with what the database holds.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright; ``playwright install`` is never needed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from crm_core.config import load_config
from tests.servers import wait_until
from tests.servers.airflow_standalone import AirflowStandalone

from .conftest import WEBHOOK_SECRET, WEBHOOK_SOURCE, DemoHub

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGE_TIMEOUT_MS = 120_000  # a loaded 2-core machine renders Airflow's UI slowly
CARDS = {"Customers": "customers", "Contact records": "contact_records", "Interactions": "interactions",
         "Failed records": "failed_records", "Open conflicts": "open_conflicts",
         "Waiting for review": "review_queue"}


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def seeded(demo_hub: DemoHub) -> DemoHub:
    """What the samples lack, added through the hub's own code: a held field (conflict) and a failed record of
    ``web_forms`` (the samples' only failures are mail and calls ones), so every figure of the page is non-zero."""
    from crm_core.db import transaction
    from crm_core.dead_letter import send_to_dead_letter
    from crm_core.models import Customer
    from crm_core.outbound._conflicts import queue_conflict
    from crm_core.outbound._plan import Action, FieldPlan

    hub = demo_hub.open()
    try:
        with transaction(hub.sessions) as session:
            customer_id = session.scalars(select(Customer.id).order_by(Customer.id)).first()
            assert customer_id is not None, "the demo sync made no customer"
            plan = FieldPlan(field="phone", action=Action.HOLD, base="+8613800138000", ours="+8613800138001",
                             theirs="+8613800138002", conflict=True, policy="manual")
            queue_conflict(session, customer_id, "salesforce", plan)
            send_to_dead_letter(session, stage="map", name="web_forms", ref="browser-test-1",
                                payload={"fields": {"email": "not-an-address"}}, error_class="InvalidEmail",
                                error_message="email: 'not-an-address' is not an e-mail address")
    finally:
        hub.close()
    return demo_hub


def db_figures(demo_hub: DemoHub) -> dict[str, int]:
    """The page's six totals, counted straight from the tables (not through ``crm_core.status``)."""
    from crm_core.models import Conflict, ContactRecord, Customer, DeadLetter, Interaction, ReviewItem

    hub = demo_hub.open()
    try:
        with hub.sessions() as s:
            def count(model: Any, *where: Any) -> int:
                return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

            return {
                "customers": count(Customer, Customer.status == "active"),
                "contact_records": count(ContactRecord),
                "interactions": count(Interaction),
                "failed_records": count(DeadLetter, DeadLetter.status == "pending"),
                "open_conflicts": count(Conflict, Conflict.status == "open"),
                "review_queue": count(ReviewItem, ReviewItem.status == "open"),
            }
    finally:
        hub.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def signed_in(browser: Any, airflow_server: AirflowStandalone, demo_run: Any) -> Iterator[Any]:
    """A browser page signed in through Airflow's own login form (SimpleAuthManager, the generated password).

    Waits for ``demo_run`` first: the demo's runs are what ``make run`` leaves behind, and the page is compared with
    the database once they are done.
    """
    context = browser.new_context(base_url=airflow_server.url)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.goto("/")
    page.wait_for_url("**/auth/login**")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(airflow_server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    assert any(c["name"] == "_token" for c in context.cookies()), "the login did not leave the _token cookie"
    yield page
    context.close()


def open_crm_sync(page: Any) -> Any:
    """Open the page the way an operator does: Browse → CRM sync in Airflow's navigation; return its frame."""
    page.goto("/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="CRM sync").click()
    # Airflow copies the iframe's own path into the address once the frame has loaded (/plugin/crm-sync/crm-sync/,
    # replacing the entry): waiting for the bare route raced that, and lost on a slow machine
    page.wait_for_url(re.compile(r"/plugin/crm-sync(/|$)"))
    frame = page.frame_locator("iframe")
    frame.locator('[data-total="Customers"]').wait_for()
    return frame


def page_figures(frame: Any) -> dict[str, int]:
    return {key: int(frame.locator(f'[data-total="{label}"] b').inner_text()) for label, key in CARDS.items()}


# ---------------------------------------------------------------------------------------------- tests


def test_the_crm_sync_page_opens_from_the_nav_and_shows_what_the_hub_database_holds(
    signed_in: Any, seeded: DemoHub
) -> None:
    frame = open_crm_sync(signed_in)
    shown: dict[str, int] = {}
    expected: dict[str, int] = {}

    def agree() -> bool:  # a scheduled run may land more while we look: compare again after a reload
        nonlocal shown, expected
        expected = db_figures(seeded)
        frame.locator("body").evaluate("() => refresh()")  # the page's own loader; the promise is awaited
        shown = page_figures(frame)
        return shown == expected

    wait_until(agree, 120, "the page's figures to match the database", interval=2)
    assert all(shown.values()), shown  # samples + seeds: nothing on the page is zero
    # every source of hub.yaml has its row, the seeded failure its replay link
    flows = frame.locator("#flows tbody tr[data-flow]")
    assert flows.count() == len(load_config(seeded.home / "hub.yaml").sources)
    assert frame.locator('tr[data-flow="web_forms"] a.replay').count() == 1


def test_the_replay_link_triggers_replay_failed_with_the_prefilled_selection(
    signed_in: Any, seeded: DemoHub, airflow_server: AirflowStandalone
) -> None:
    frame = open_crm_sync(signed_in)
    frame.locator('tr[data-flow="web_forms"] a.replay', has_text="replay").first.click()
    frame.locator("#trigger").wait_for()
    assert frame.locator("#stage").input_value() == "map"
    assert frame.locator("#name").input_value() == "web_forms"
    assert frame.locator("#error_class").input_value() == "InvalidEmail"
    frame.locator("#items tr[data-id]").first.wait_for()  # the preview lists what the replay would re-send
    frame.locator("#trigger").click()
    started = frame.locator("#triggered b")
    started.wait_for()
    run_id = started.inner_text()

    run = airflow_server.get(f"/dags/replay_failed/dagRuns/{requests.utils.quote(run_id, safe='')}")
    assert run["conf"] == {"stage": "map", "name": "web_forms", "error_class": "InvalidEmail", "since": None,
                           "until": None, "ids": [], "limit": 500}
    assert run["note"] == "started from the CRM sync page"


@pytest.mark.parametrize("path", ["/crm-sync/api/status", "/crm-sync/api/failed?stage=map",
                                  "/crm-sync/customers/lookup?email=zhang.wei%40163.com"])
def test_the_data_routes_refuse_an_anonymous_request(airflow_server: AirflowStandalone, path: str) -> None:
    anonymous = requests.Session()
    anonymous.trust_env = False
    assert anonymous.get(f"{airflow_server.url}{path}", timeout=60).status_code in (401, 403)


def test_the_webhook_intake_takes_a_signed_post_without_an_airflow_login(
    airflow_server: AirflowStandalone, demo_hub: DemoHub
) -> None:
    from connectors.forms.webhook import sign
    from crm_core.models import LandingRecord

    body = json.dumps({"submission_id": "browser-test-0001", "form": "contact-us",
                       "submitted_at": "2025-09-01T10:00:00+08:00",
                       "fields": {"name": "Test Person", "email": "test.person@example.org"}}).encode()
    stamp = str(int(time.time()))
    anonymous = requests.Session()
    anonymous.trust_env = False
    answer = anonymous.post(f"{airflow_server.url}/crm-sync/intake/{WEBHOOK_SOURCE}", data=body, timeout=60,
                            headers={"Content-Type": "application/json", "X-Signature-Timestamp": stamp,
                                     "X-Signature": sign(WEBHOOK_SECRET, stamp, body)})
    assert answer.status_code == 200, answer.text
    hub = demo_hub.open()
    try:
        with hub.sessions() as s:
            keys = s.scalars(select(LandingRecord.source_key).where(LandingRecord.source == WEBHOOK_SOURCE)).all()
    finally:
        hub.close()
    assert any("browser-test-0001" in key for key in keys), keys
