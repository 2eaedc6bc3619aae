"""The circuit breaker: a record whose fields keep flipping direction is held and reported, not bounced."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from crm_core.hub import Hub
from crm_core.models import AuditLog, ContactRecord, SyncState

from .conftest import SalesforceOrg, add_customer, change_golden, push

ANNA = {"given_name": "Anna", "family_name": "Schmidt", "email": "anna@example.de", "title": "Einkauf"}


def test_a_record_flipping_more_than_allowed_in_a_day_is_held_and_reported(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str
) -> None:
    hub = sf_hub(db_url, policy="hub_wins", flips=1)
    cid = add_customer(hub, **ANNA)
    push(hub)
    [record] = salesforce.org.by_hub_key(f"hub-{cid}")
    sf_id = str(record["Id"])
    salesforce.org.edit(sf_id, Title="Vertrieb")
    assert push(hub).detail["pulled"] == 1  # target → hub
    change_golden(hub, cid, title="Leitung")
    assert push(hub).detail["updated"] == 1  # hub → target: the first flip, allowed
    salesforce.org.edit(sf_id, Title="Vertrieb")
    held = push(hub)  # target → hub again: a second flip in one day
    assert held.detail["held"] == 1 and held.detail["pulled"] == 0
    with hub.sessions() as session:
        assert session.scalars(select(SyncState)).one().status == "held"
        assert session.scalars(select(AuditLog).where(AuditLog.action == "circuit_breaker")).one().object_id == str(cid)
        assert session.scalars(select(ContactRecord)).one().normalized["title"] == "Vertrieb"  # the first pull
    change_golden(hub, cid, title="Leitung 2")
    writes = [c for c in salesforce.org.calls if c[0] != "GET"]
    again = push(hub)
    assert again.detail["held"] == 1 and [c for c in salesforce.org.calls if c[0] != "GET"] == writes
    assert salesforce.org.records[sf_id]["Title"] == "Vertrieb"
