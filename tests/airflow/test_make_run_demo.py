"""``make run``'s promise: Airflow ends up showing the hub's DAGs, each with a succeeded demo run, and the CRM sync
page has numbers.

The session's Airflow (``airflow_server``) runs over the hub ``make run`` builds (``crmhub init`` + ``crmhub sync``
on the bundled samples); ``demo_run`` is ``scripts/airflow_demo.py`` (what ``scripts/airflow.sh demo`` calls) run
against it once.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.servers.airflow_standalone import AirflowStandalone

from .conftest import DemoHub

pytestmark = pytest.mark.slow


def test_every_hub_dag_has_a_succeeded_demo_run(
    airflow_server: AirflowStandalone, demo_run: subprocess.CompletedProcess[str], demo_hub: DemoHub
) -> None:
    assert demo_run.returncode == 0, demo_run.stdout + demo_run.stderr[-3000:]
    config = demo_hub.open().config
    expected = {f"ingest_{s.name}" for s in config.sources} | {"resolve_customers", "replay_failed"}
    expected |= {f"push_{t.name}" for t in config.targets}
    dags = {d["dag_id"] for d in airflow_server.get("/dags", tags="crmhub", limit=500)["dags"]}
    assert dags == expected
    for dag_id in sorted(dags):
        runs = airflow_server.get(f"/dags/{dag_id}/dagRuns", state="success", limit=1)["dag_runs"]
        assert runs, f"{dag_id} has no succeeded run"


def test_after_the_demo_the_status_api_has_numbers(
    airflow_server: AirflowStandalone, demo_run: subprocess.CompletedProcess[str]
) -> None:
    api = airflow_server.api()
    answer = api.get(f"{airflow_server.url}/crm-sync/api/status", timeout=60)
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    totals = status["totals"]
    assert all(totals[k] > 0 for k in ("customers", "contact_records", "interactions")), totals
    assert all(f["last_run"] and f["last_run"]["status"] == "success" for f in status["flows"]
               if f["kind"] == "source"), status["flows"]
