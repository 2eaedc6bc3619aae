"""Fixtures for the outbound tests: the Salesforce fake over HTTPS, a destination on it, hubs with a target."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from connectors.salesforce import SalesforceDestination
from crm_core.hub import Hub
from mapping.target import TargetMap, load_target_map
from tests.fakes.salesforce import FakeSalesforce, serve

SPEC = Path(__file__).resolve().parents[2] / "mapping" / "specs" / "targets" / "salesforce_contact.yaml"


@dataclass
class SalesforceOrg:
    org: FakeSalesforce
    url: str
    ca: str

    def connection(self) -> str:
        return json.dumps({"conn_type": "salesforce", "password": "token-0", "login": "hub-client",
                           "extra": {"base_url": self.url, "client_secret": "hub-secret", "ca_bundle": self.ca}})


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[SalesforceOrg]:
    org = FakeSalesforce()
    with serve(org, tmp_path) as (url, ca):
        yield SalesforceOrg(org, url, ca)


@pytest.fixture
def contact_map() -> TargetMap:
    return load_target_map(SPEC)


@pytest.fixture
def destination(salesforce: SalesforceOrg, contact_map: TargetMap) -> SalesforceDestination:
    session = requests.Session()
    session.trust_env = False
    session.verify = salesforce.ca
    return SalesforceDestination(
        name="sf", sobject=contact_map.object, external_id_field=contact_map.external_id_field,
        fields=contact_map.target_fields, instance_url=salesforce.url, access_token="token-0", session=session,
        client_id="hub-client", client_secret="hub-secret",
    )


HUB_YAML = """\
version: 1
targets:
  - name: sf
    kind: salesforce
    mapping: builtin:targets/salesforce_contact
    connection_id: sf_test
    conflict_policy:
      default: {default}
{fields}
    max_flips_per_day: {flips}
    pull_back: {pull_back}
    options: {options}
"""


@pytest.fixture
def sf_hub(
    make_hub: Callable[..., Hub], salesforce: SalesforceOrg, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Hub]:
    """A hub whose target ``sf`` is the fake org; ``policy``/``fields`` set the conflict policies."""

    def factory(url: str | None = None, policy: str = "manual", fields: dict[str, str] | None = None,
                flips: int = 4, options: dict[str, object] | None = None, pull_back: bool = True) -> Hub:
        monkeypatch.setenv("AIRFLOW_CONN_SF_TEST", salesforce.connection())
        field_lines = ""
        if fields:
            field_lines = "      fields:\n" + "".join(f"        {k}: {v}\n" for k, v in fields.items())
        text = HUB_YAML.format(default=policy, fields=field_lines, flips=flips, options=json.dumps(options or {}),
                                  pull_back=str(pull_back).lower())
        return make_hub(text, url=url)

    return factory


def add_customer(hub: Hub, **golden: object) -> int:
    """A golden customer as resolution would leave it (resolution is another area: made directly here)."""
    from crm_core.db import transaction
    from crm_core.models import Customer

    with transaction(hub.sessions) as session:
        customer = Customer(golden=dict(golden))
        session.add(customer)
        session.flush()
        return customer.id


def change_golden(hub: Hub, customer_id: int, **changes: object) -> None:
    from crm_core.db import transaction
    from crm_core.models import Customer

    with transaction(hub.sessions) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.golden = {**customer.golden, **changes}
        customer.version += 1


def push(hub: Hub, dry_run: bool = False):  # type: ignore[no-untyped-def]
    from crm_core.jobs import push as push_job

    return push_job(hub, "sf", dry_run=dry_run)
