"""The DAG factory: what hub.yaml says is what Airflow gets, task by task and edge by edge, parsed without I/O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .conftest import DAGS, sample_config


def _factory() -> Any:
    import hub_factory

    return hub_factory


def structure(dag: Any) -> dict[str, list[str]]:
    return {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}


def test_sample_config_gives_one_dag_per_source_and_target_plus_resolve_and_replay() -> None:
    dags = _factory().build_dags(sample_config())
    assert {d: structure(dag) for d, dag in dags.items()} == {
        "ingest_web_forms": {"ingest": []},
        "ingest_mailbox": {"ingest": []},
        "ingest_calls": {"ingest": []},
        "resolve_customers": {"map_landed": ["resolve"], "resolve": []},
        "push_salesforce": {"push": []},
        "push_newsletter": {"push": []},
        "replay_failed": {"replay": []},
    }


def test_every_dag_allows_one_run_at_a_time_and_never_catches_up() -> None:
    for dag in _factory().build_dags(sample_config()).values():
        assert (dag.max_active_runs, dag.catchup) == (1, False), dag.dag_id
        assert "crmhub" in dag.tags


def test_ingest_schedules_follow_hub_yaml() -> None:
    dags = _factory().build_dags(sample_config())
    assert dags["ingest_web_forms"].timetable.delta == timedelta(minutes=15)  # "15m"
    assert dags["ingest_mailbox"].timetable.expression == "*/5 * * * *"
    assert dags["ingest_calls"].is_paused_upon_creation is True  # enabled: false


def test_ingest_tasks_update_their_landing_asset_and_retry_with_backoff() -> None:
    task = _factory().build_dags(sample_config())["ingest_mailbox"].get_task("ingest")
    assert [o.uri for o in task.outlets] == ["crmhub://landing/mailbox"]
    assert task.retries == 3 and task.retry_exponential_backoff


def test_resolve_runs_when_any_enabled_source_lands() -> None:
    dag = _factory().build_dags(sample_config())["resolve_customers"]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"
    assert sorted(a.uri for a in condition.objects) == ["crmhub://landing/mailbox", "crmhub://landing/web_forms"]
    assert [o.uri for o in dag.get_task("resolve").outlets] == ["crmhub://customers/"]


def test_push_runs_on_customer_changes_and_on_its_fallback_schedule() -> None:
    dags = _factory().build_dags(sample_config())
    salesforce = dags["push_salesforce"].timetable
    assert type(salesforce).__name__ == "AssetOrTimeSchedule"
    assert salesforce.asset_condition.uri == "crmhub://customers/"
    assert salesforce.timetable.expression == "0 0 * * *"  # @daily
    newsletter = dags["push_newsletter"].timetable  # schedule: null -> customer changes only
    assert type(newsletter).__name__ == "AssetTriggeredTimetable"


def test_replay_dag_is_manual_with_a_typed_form() -> None:
    dag = _factory().build_dags(sample_config())["replay_failed"]
    assert type(dag.timetable).__name__ == "NullTimetable"
    params = dag.params
    assert set(params.keys()) == {"stage", "name", "error_class", "since", "until", "ids", "limit"}
    assert params.get_param("name").schema["enum"] == [None, "web_forms", "mailbox", "calls", "salesforce",
                                                       "newsletter"]
    assert params.get_param("since").schema["format"] == "date-time"
    assert params.get_param("ids").schema["items"] == {"type": "integer"}
    assert params.get_param("limit").value == 500


def test_a_hub_without_sources_still_has_resolve_and_replay() -> None:
    dags = _factory().build_dags(sample_config("version: 1\n"))
    assert sorted(dags) == ["replay_failed", "resolve_customers"]
    assert type(dags["resolve_customers"].timetable).__name__ == "NullTimetable"


@pytest.fixture
def dagbag_env(hub_home: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    hub = hub_home()
    # An unreachable database: parsing must not need it (no I/O at parse time beyond hub.yaml).
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    return hub


def _dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dag_folder_imports_cleanly_without_touching_the_database(dagbag_env: Any) -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == sorted(
        ["ingest_web_forms", "ingest_mailbox", "ingest_calls", "resolve_customers", "push_salesforce",
         "push_newsletter", "replay_failed"]
    )
    # hub_factory.py is a helper, kept out of DAG discovery by .airflowignore
    assert all(not path.endswith("hub_factory.py") for path in bag.file_last_changed)


def test_a_broken_hub_yaml_is_an_import_error_naming_the_line(dagbag_env: Any) -> None:
    (dagbag_env.home / "hub.yaml").write_text("version: 1\nsources:\n  - {name: x, kind: fax, mapping: m.yaml}\n")
    errors = _dagbag().import_errors
    assert len(errors) == 1
    message = next(iter(errors.values()))
    assert "line 3" in message and "fax" in message
