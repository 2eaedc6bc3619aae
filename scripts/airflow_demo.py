"""After `airflow standalone` is up: unpause the hub's DAGs, run each once, wait until the runs finish.

Ingest DAGs are triggered; resolution and push follow through their assets (as in production). With no sources,
``resolve_customers`` is triggered directly. ``replay_failed`` runs once with its defaults. Talks to Airflow's REST
API with the generated admin password (SimpleAuthManager, as `airflow standalone` configures it).

A freshly started API server on a busy machine can take tens of seconds for its first answers, so every call is
retried until the overall deadline (``CRMHUB_DEMO_TIMEOUT`` seconds, default 900) instead of failing the demo.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

URL = os.environ.get("AIRFLOW_URL", "http://127.0.0.1:8080")
HOME = Path(os.environ["AIRFLOW_HOME"])
DEADLINE_S = float(os.environ.get("CRMHUB_DEMO_TIMEOUT", "900"))
T = TypeVar("T")


class Demo:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + DEADLINE_S
        self.api = self.patiently(self._client)

    def patiently(self, call: Callable[[], T]) -> T:
        """``call()``, again after a pause while the API server is too busy to answer, until the deadline."""
        while True:
            try:
                return call()
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
                if (status is not None and status < 500) or time.monotonic() > self.deadline:
                    raise
                time.sleep(3)

    def _client(self) -> httpx.Client:
        password = json.loads((HOME / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        token = httpx.post(f"{URL}/auth/token", json={"username": "admin", "password": password}, timeout=90)
        token.raise_for_status()
        return httpx.Client(base_url=f"{URL}/api/v2", timeout=90,
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def get(self, path: str, **params: Any) -> Any:
        def call() -> Any:
            answer = self.api.get(path, params=params)
            answer.raise_for_status()
            return answer.json()

        return self.patiently(call)

    def send(self, method: str, path: str, body: dict[str, Any]) -> None:
        self.patiently(lambda: self.api.request(method, path, json=body).raise_for_status())

    def hub_dags(self) -> list[str]:
        while time.monotonic() < self.deadline:
            dags = [d["dag_id"] for d in self.get("/dags", tags="crmhub", limit=500)["dags"]]
            if "resolve_customers" in dags and "replay_failed" in dags:
                return dags
            time.sleep(2)
        return []

    def latest_states(self, dag_ids: set[str]) -> dict[str, str]:
        """The state of each DAG's most recent run (by run_after), for the DAGs that have one."""
        states = {}
        for dag_id in dag_ids:
            runs = self.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=1)["dag_runs"]
            if runs:
                states[dag_id] = runs[0]["state"]
        return states

    def busy(self) -> int:
        return int(self.get("/dags/~/dagRuns", state=["queued", "running"], limit=1)["total_entries"])


def main() -> int:
    demo = Demo()
    dags = demo.hub_dags()
    if not dags:
        print("the hub's DAGs did not show up; check the DAG processor log and import errors", file=sys.stderr)
        return 1
    for dag_id in dags:
        demo.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    ingest = [d for d in dags if d.startswith("ingest_")]
    for dag_id in (ingest or ["resolve_customers"]) + ["replay_failed"]:
        demo.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "note": "demo run from make run"})
    expected = set(dags)
    states: dict[str, str] = {}
    settled = 0
    # done when every DAG has a finished run and nothing is queued or running, twice in a row: an ingest run's
    # asset event starts resolve_customers a moment after the ingest run itself finished
    while time.monotonic() < demo.deadline and settled < 2:
        states = demo.latest_states(expected)
        done = len(states) == len(expected) and all(s in ("success", "failed") for s in states.values())
        settled = settled + 1 if done and not demo.busy() else 0
        time.sleep(3)
    for dag_id in sorted(expected):
        print(f"  {dag_id:<28} {states.get(dag_id, 'not run')}")
    return 0 if all(states.get(d) == "success" for d in expected) else 1


if __name__ == "__main__":
    raise SystemExit(main())
