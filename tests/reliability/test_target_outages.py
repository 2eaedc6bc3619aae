"""A target that misbehaves for a while (5xx, 429, stalls past the timeout), on the Salesforce fake over HTTPS.

Short trouble is ridden out by the connector's retries inside the run; trouble longer than the retry budget fails
the run cleanly (recorded as failed, nothing half-recorded) and the next run completes the work. Either way every
customer ends in the target exactly once. (The daily quota and the lost response after a commit:
``tests/outbound/test_push_salesforce.py``; a kill after the POST: ``test_pipeline_kill_points.py``.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from crm_core.errors import RetriableError
from crm_core.hub import Hub
from crm_core.models import DeadLetter, RunStat, SyncState
from tests.outbound.conftest import SalesforceOrg, add_customer, push, salesforce, sf_hub  # noqa: F401
from tests.reliability.conftest import backend

CUSTOMERS = 3


def _customers(hub: Hub) -> list[int]:
    return [add_customer(hub, given_name="Anna", family_name=f"Schmidt{i}", email=f"anna{i}@example.de")
            for i in range(CUSTOMERS)]


def _copies(org: SalesforceOrg, ids: list[int]) -> tuple[int, int]:
    """(lost, duplicated) in the target."""
    found = [len(org.org.by_hub_key(f"hub-{cid}")) for cid in ids]
    return sum(1 for n in found if n == 0), sum(n - 1 for n in found if n > 1)


def _stall(org: SalesforceOrg, seconds: float, times: int) -> None:
    """The next ``times`` writes hang for ``seconds`` before Salesforce applies them (the client gives up first)."""
    left = [times]

    def hang() -> None:
        time.sleep(seconds)
        left[0] -= 1
        if left[0] > 0:
            org.org.before_write = hang

    org.org.before_write = hang


@pytest.mark.parametrize(
    "trouble",
    ["503", "429", "503+429", "stall"],
)
def test_trouble_shorter_than_the_retry_budget_is_ridden_out_by_the_same_run(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str, trouble: str,  # noqa: F811
    report_fault: Callable[..., None],
) -> None:
    hub = sf_hub(db_url, pull_back=False, options={"timeout": 0.5})
    ids = _customers(hub)
    if trouble == "stall":
        _stall(salesforce, 1.5, times=1)  # applied after the client timed out: the retry must not double it
    for status in trouble.split("+") if trouble != "stall" else ():
        salesforce.org.fail_next(int(status), "SERVER_UNAVAILABLE" if status == "503" else "TOO_MANY_REQUESTS")
    result = push(hub)
    lost, duplicated = _copies(salesforce, ids)
    report_fault(f"target {trouble} for a while, same run ({backend(db_url)})", 1, lost, duplicated, kind="target")
    assert (result.records_out, result.records_failed, lost, duplicated) == (CUSTOMERS, 0, 0, 0)


@pytest.mark.parametrize("trouble", ["503", "stall"])
def test_trouble_longer_than_the_retry_budget_fails_the_run_cleanly_and_the_next_run_completes(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str, trouble: str,  # noqa: F811
    report_fault: Callable[..., None],
) -> None:
    hub = sf_hub(db_url, pull_back=False, options={"timeout": 0.3})
    ids = _customers(hub)
    if trouble == "stall":
        _stall(salesforce, 0.6, times=8)
    else:
        salesforce.org.fail_next(503, times=8)
    started = time.monotonic()
    with pytest.raises(RetriableError):
        push(hub)
    assert time.monotonic() - started < 60  # gave up, did not hang
    with hub.sessions() as s:
        assert s.scalars(select(RunStat.status).order_by(RunStat.id.desc())).first() == "failed"
        assert s.scalars(select(SyncState)).all() == []  # nothing recorded as synced
        assert s.scalars(select(DeadLetter)).all() == []  # a run failure, not a record failure
    salesforce.org.before_write = None
    salesforce.org._failures.clear()  # the outage is over
    if trouble == "stall":
        time.sleep(0.7)  # a stalled write still in flight lands first

    result = push(hub)

    lost, duplicated = _copies(salesforce, ids)
    report_fault(f"target {trouble} longer than the retries, next run ({backend(db_url)})", 1, lost, duplicated, kind="target")
    assert (lost, duplicated) == (0, 0)
    assert result.records_failed == 0
    assert len(salesforce.org.records) == CUSTOMERS
