"""A person's edit landing between the planner's read and our write is never overwritten blindly, whatever the policy.

Every policy × every three-way case of the field ``title`` (as the planner read it), with a person typing
"Injected" into Salesforce just before our write is applied (the fake's ``before_write``). Another field (city)
changes in the hub, so every case writes. The write carries ``If-Unmodified-Since``, Salesforce answers 412, the hub
reads again and plans again with the person's value as *theirs*. So the end state is what the policy decides *having
seen* the edit: only ``hub_wins`` with a golden change replaces it; every other cell keeps the person's value, and
the city still lands. A second run changes nothing (no late overwrite either).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from crm_core.hub import Hub
from crm_core.models import utcnow

from .conftest import SalesforceOrg, add_customer, change_golden, push

ANNA = {"given_name": "Anna", "family_name": "Schmidt", "email": "anna@example.de", "title": "Einkauf"}
POLICIES = ("hub_wins", "target_wins", "newest_wins", "fill_if_empty", "manual")
# case: (golden title at the read, Salesforce title at the read); None = unchanged since the last sync ("Einkauf")
CASES = {
    "neither changed": (None, None),
    "ours changed": ("Leitung", None),
    "theirs changed": (None, "Vertrieb"),
    "both changed alike": ("Leitung", "Leitung"),
    "both changed apart": ("Leitung", "Vertrieb"),
}


def expected_title(policy: str, ours: str | None) -> str:
    """Having seen "Injected" as theirs: hub_wins pushes a changed golden value; everything else keeps the edit
    (target_wins pulls it, newest_wins pulls the newer edit, fill_if_empty and manual hold a field both sides fill,
    and with no golden change there is nothing to push)."""
    return "Leitung" if policy == "hub_wins" and ours is not None else "Injected"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("policy", POLICIES)
def test_an_edit_between_read_and_write_is_seen_before_anything_is_written(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, sqlite_url: str, policy: str, case: str
) -> None:
    ours, theirs = CASES[case]
    hub = sf_hub(sqlite_url, policy=policy)
    org = salesforce.org
    org.set_clock(utcnow() + timedelta(hours=1))  # the person's edits are newer than the hub's (newest_wins)
    cid = add_customer(hub, **ANNA)
    push(hub)
    [record] = org.by_hub_key(f"hub-{cid}")
    sf_id = str(record["Id"])
    if theirs is not None:
        org.edit(sf_id, Title=theirs)
    change_golden(hub, cid, city="Berlin", **({"title": ours} if ours is not None else {}))
    org.before_write = lambda: org.edit(sf_id, Title="Injected")

    result = push(hub)
    push(hub)  # and nothing overwrites it later either

    [record] = org.by_hub_key(f"hub-{cid}")
    assert record["Title"] == expected_title(policy, ours)
    assert record["MailingCity"] == "Berlin"  # our own change still lands
    assert result.records_failed == 0 and result.detail["stale"] == 0  # re-planned within the run
