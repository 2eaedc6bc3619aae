"""Dead-letter replay of push items from the command line: ``crmhub failed list`` / ``crmhub failed replay``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from crm_core.cli import main
from crm_core.hub import Hub
from crm_core.models import DeadLetter

from .conftest import SalesforceOrg, add_customer, change_golden, push

ANNA = {"given_name": "Anna", "family_name": "Schmidt", "email": "anna@example.de", "title": "Einkauf"}


def test_a_failed_push_is_listed_and_replayed_from_the_command_line_once(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = sf_hub(db_url)
    cid = add_customer(hub, **ANNA)
    salesforce.org.fail_next(400, "INVALID_CROSS_REFERENCE_KEY")
    assert push(hub).records_failed == 1
    home = str(hub.home)
    assert main(["--home", home, "failed", "list", "--stage", "push", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["error_class"]) == ("sf", "INVALID_CROSS_REFERENCE_KEY")
    change_golden(hub, cid, title="Leitung")  # the replay sends the golden record as it is now, not the old one

    assert main(["--home", home, "failed", "replay", "--stage", "push", "--target", "sf"]) == 0

    [record] = salesforce.org.by_hub_key(f"hub-{cid}")
    assert record["Title"] == "Leitung"
    with hub.sessions() as session:
        assert session.get(DeadLetter, listed["id"]).status == "replayed"  # type: ignore[union-attr]
        assert session.scalars(select(DeadLetter).where(DeadLetter.status == "pending")).all() == []
    writes = [c for c in salesforce.org.calls if c[0] != "GET"]
    capsys.readouterr()
    assert main(["--home", home, "failed", "replay", "--stage", "push"]) == 0  # nothing pending: nothing sent
    assert [c for c in salesforce.org.calls if c[0] != "GET"] == writes
    assert push(hub).records_out == 0  # and the next scheduled push has nothing left to do
