"""Every kind hub.yaml accepts has a connector factory, and credentials come from AIRFLOW_CONN_* variables."""

from __future__ import annotations

import pytest

from connectors import DESTINATION_FACTORIES, SOURCE_FACTORIES
from connectors.credentials import get_credentials
from crm_core.config import SOURCE_KINDS, TARGET_KINDS
from crm_core.errors import ConfigError, ConnectorError


def test_every_configurable_kind_has_a_factory() -> None:
    assert set(SOURCE_FACTORIES) == set(SOURCE_KINDS)
    assert set(DESTINATION_FACTORIES) == set(TARGET_KINDS)


def test_credentials_from_a_uri_connection_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CRM_IMAP", "imap://crm%40example.test:s3cr%2Ft@127.0.0.1:1143/INBOX?ssl=false")
    creds = get_credentials("crm_imap")
    assert (creds.login, creds.password, creds.host, creds.port, creds.schema) == (
        "crm@example.test", "s3cr/t", "127.0.0.1", 1143, "INBOX")
    assert creds.extra == {"ssl": "false"}
    assert "s3cr" not in repr(creds)


def test_credentials_from_a_json_connection_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SF", '{"conn_type": "salesforce", "password": "tok", "extra": {"base_url": "https://127.0.0.1:8443/"}}')
    creds = get_credentials("sf")
    assert creds.password == "tok" and creds.base_url() == "https://127.0.0.1:8443"


def test_a_missing_connection_says_how_to_define_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_NOPE") as caught:
        get_credentials("nope")
    assert not isinstance(caught.value, ConnectorError)  # labelled "needs a fix", not "vendor refused"
