"""Every DAG runs end to end with ``dag.test()`` on SQLite: real Airflow, real hub store, one metadata DB per session.

A permanent failure (here: the source's Airflow connection does not exist) fails the task on its first attempt
with the hub's own message, which names what to fix.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crm_core.models import DeadLetter, LandingRecord, RunStat
from tests.connectors.conftest import mail
from tests.servers.dovecot import Dovecot, dovecot  # noqa: F401 - the session's Dovecot

from .conftest import sample_config


def _dags(hub: Any) -> dict[str, Any]:
    import hub_factory

    return hub_factory.build_dags(sample_config((hub.home / "hub.yaml").read_text()))


def _task_instance(run: Any, task_id: str) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.run_id == run.run_id, TaskInstance.task_id == task_id)
        ).one()
        session.expunge(ti)
        return ti


def _xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = session.scalars(
            select(XComModel.value).where(XComModel.run_id == run.run_id, XComModel.task_id == task_id,
                                          XComModel.key == "return_value")
        ).one()
    return XComModel.deserialize_value(type("X", (), {"value": value})())


pytestmark = pytest.mark.usefixtures("airflow_db")

MISSING_CONNECTION_HUB = """\
version: 1
sources:
  - {name: web_forms, kind: form_rest, mapping: m.yaml, connection_id: crm_forms_api}
"""


def test_resolve_customers_maps_then_resolves_and_records_both_runs(hub_home: Any) -> None:
    hub = hub_home()
    run = _dags(hub)["resolve_customers"].test()
    assert run.state == "success"
    with hub.sessions() as session:
        stats = session.scalars(select(RunStat).order_by(RunStat.id)).all()
    assert [(s.stage, s.status) for s in stats] == [("map", "success"), ("resolve", "success")]
    assert all(s.run_id == f"resolve_customers/{run.run_id}" for s in stats)
    assert _xcom(run, "resolve")["stage"] == "resolve"


def test_a_permanent_failure_fails_at_once_with_the_hubs_message(
    hub_home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the form backend's connection was never created: no retry can fix that, a person must
    monkeypatch.delenv("AIRFLOW_CONN_CRM_FORMS_API", raising=False)
    hub = hub_home(MISSING_CONNECTION_HUB)
    run = _dags(hub)["ingest_web_forms"].test()
    assert run.state == "failed"
    ti = _task_instance(run, "ingest")
    assert ti.state == "failed" and ti.try_number == 1  # not retried
    with hub.sessions() as session:
        stat = session.scalars(select(RunStat)).one()
    assert (stat.stage, stat.name, stat.status) == ("ingest", "web_forms", "failed")
    # the operator reads what is missing and the two ways to provide it
    assert "connection 'crm_forms_api' not found" in (stat.message or "")
    assert "AIRFLOW_CONN_CRM_FORMS_API" in (stat.message or "")


IMAP_HUB = """\
version: 1
sources:
  - {name: mailbox, kind: imap, mapping: m.yaml, connection_id: dag_mailbox, options: {chunk_size: 3}}
"""


def test_a_mailbox_task_reads_dovecot_through_its_reader_process(
    hub_home: Any, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The reader process forks inside a real Airflow task and hands every chunk back to it."""
    user = dovecot.new_user()
    monkeypatch.setenv("AIRFLOW_CONN_DAG_MAILBOX", dovecot.connection_uri(user))
    dovecot.append(user, [mail(n) for n in range(1, 8)])
    hub = hub_home(IMAP_HUB)
    run = _dags(hub)["ingest_mailbox"].test()
    assert run.state == "success"
    with hub.sessions() as session:
        keys = session.scalars(select(LandingRecord.source_key)).all()
    assert sorted(keys) == sorted(f"<msg-{n}@example.cn>" for n in range(1, 8))
    assert _xcom(run, "ingest")["records_out"] == 7


def test_replay_failed_takes_its_selection_from_the_form(hub_home: Any) -> None:
    from crm_core.db import transaction

    hub = hub_home()
    with transaction(hub.sessions) as session:
        session.add(DeadLetter(stage="push", name="salesforce", ref="1", error_class="DuplicateValue",
                               error_message="duplicate external id"))
    run = _dags(hub)["replay_failed"].test(run_conf={"stage": "push", "name": "salesforce",
                                                     "error_class": "InvalidEmail", "limit": 10})
    assert run.state == "success"
    assert _xcom(run, "replay")["records_in"] == 0  # the DuplicateValue item was not selected
    with hub.sessions() as session:
        assert session.scalars(select(DeadLetter.status)).one() == "pending"
