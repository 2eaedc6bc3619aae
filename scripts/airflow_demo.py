"""After `airflow standalone` is up: unpause the hub's DAGs, run each once, wait until the runs finish.

Ingest DAGs are triggered; resolution and push follow through their assets (as in production). With no sources,
``resolve_customers`` is triggered directly. ``replay_failed`` runs once with its defaults. Talks to Airflow's REST
API with the generated admin password (SimpleAuthManager, as `airflow standalone` configures it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx

URL = os.environ.get("AIRFLOW_URL", "http://127.0.0.1:8080")
HOME = Path(os.environ["AIRFLOW_HOME"])
DEADLINE_S = float(os.environ.get("CRMHUB_DEMO_TIMEOUT", "900"))  # generous: a busy laptop runs tasks slowly


def client() -> httpx.Client:
    password = json.loads((HOME / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    token = httpx.post(f"{URL}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    token.raise_for_status()
    return httpx.Client(base_url=f"{URL}/api/v2", timeout=90,
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"})


def main() -> int:
    api = client()
    deadline = time.monotonic() + DEADLINE_S
    dags: list[str] = []
    while time.monotonic() < deadline:
        dags = [d["dag_id"] for d in api.get("/dags", params={"tags": "crmhub", "limit": 500}).json()["dags"]]
        if "resolve_customers" in dags and "replay_failed" in dags:
            break
        time.sleep(2)
    else:
        print("the hub's DAGs did not show up; check the DAG processor log and import errors", file=sys.stderr)
        return 1
    for dag_id in dags:
        api.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    ingest = [d for d in dags if d.startswith("ingest_")]
    for dag_id in (ingest or ["resolve_customers"]) + ["replay_failed"]:
        api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "note": "demo run from make run"})
    expected = set(dags)
    states: dict[str, str] = {}
    settled = 0
    while time.monotonic() < deadline and settled < 2:
        try:
            states = latest_states(api, expected)
            busy = api.get("/dags/~/dagRuns", params={"state": ["queued", "running"], "limit": 1}).json()
            busy = busy["total_entries"]
        except (httpx.TransportError, KeyError, ValueError):  # a busy machine: ask again on the next round
            time.sleep(3)
            continue
        # done when every DAG has a finished run and nothing is queued or running, twice in a row: an ingest
        # run's asset event starts resolve_customers a moment after the ingest run itself finished
        done = len(states) == len(expected) and all(s in ("success", "failed") for s in states.values())
        settled = settled + 1 if done and not busy else 0
        time.sleep(3)
    for dag_id in sorted(expected):
        print(f"  {dag_id:<28} {states.get(dag_id, 'not run')}")
    return 0 if states and all(states.get(d) == "success" for d in expected) else 1


def latest_states(api: httpx.Client, dag_ids: set[str]) -> dict[str, str]:
    """The state of each DAG's most recent run (by run_after), for the DAGs that have one."""
    states = {}
    for dag_id in dag_ids:
        runs = api.get(f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 1}).json()
        if runs["dag_runs"]:
            states[dag_id] = runs["dag_runs"][0]["state"]
    return states


if __name__ == "__main__":
    raise SystemExit(main())
