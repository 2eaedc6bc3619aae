"""A real, running Airflow for tests: ``airflow standalone`` on free ports with this checkout's DAGs and plugin.

``airflow standalone`` runs the API server (UI, REST API, the plugin's FastAPI app), the scheduler with the
LocalExecutor, the DAG processor and the triggerer: the same shape as ``make run``. One per test session is plenty:
it is healthy after ~10 s but holds ~1 GB, so start it once and share it.

Surprising on purpose:

* every port is free-picked, including the two log-server ports (8793, 8794 by default), so two sessions (or a
  session and ``make run``) on one machine do not collide;
* the task processes talk back to the API server's execution API, whose URL must follow the picked port;
* parallelism is 2: the machine has two cores and each task is a fresh Python process;
* the environment is built from scratch for Airflow's own keys (``AIRFLOW__*``), so the in-process Airflow of the
  test session (``tests/airflow/conftest.py``) does not leak its home or settings into the server.

Log in like the UI does: ``POST /auth/token`` with the admin password SimpleAuthManager generated in
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``; the UI keeps the token in the ``_token`` cookie.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests

from . import REPO, ServerProcess, free_port, wait_until

VENV_BIN = Path(sys.executable).parent
ADMIN = "admin"


def standalone_env(home: Path, port: int, hub_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the Airflow processes: this checkout's code, a 2-core sizing, the hub's home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k not in ("HUB_DATABASE_URL",)}
    url = f"http://127.0.0.1:{port}"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # a task's supervisor gives the execution API 5 s by default: too little on a loaded machine, where the
        # task then dies before it starts ("finished with state failed, but the task instance's state is queued")
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        # the SQLite metadata file: wait for a lock instead of a component dying after sqlite3's 5 s
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "airflow_sqlite.CONNECT_ARGS",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": "airflow_sqlite.CONNECT_ARGS",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # parsing imports the hub's packages: on a busy machine that exceeds the 30 s import timeout, the parse
        # counts as an error and the DAGs are deactivated as stale; re-parse rarely, allow slow parses
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "360",
        "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "900",
        "HUB_HOME": str(hub_home),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "dags"), str(REPO / "plugins")]),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    env.update(extra or {})
    return env


class AirflowStandalone:
    """``airflow standalone`` in its own process group (``setsid``); ``stop()`` ends the whole group."""

    def __init__(self, workdir: Path, hub_home: Path, env: Mapping[str, str] | None = None,
                 timeout: float = 600) -> None:
        self.home = workdir / "airflow-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = standalone_env(self.home, self.port, hub_home, env)
        self._token: str | None = None
        self.process = _Process([str(VENV_BIN / "airflow"), "standalone"], workdir / "airflow-standalone.log",
                                self.env, REPO)
        try:
            wait_until(self._healthy, timeout, "airflow standalone", interval=0.5)
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"airflow standalone exited:\n{self.process.log_tail(4000)}")
        try:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).json()
        except (requests.RequestException, ValueError):
            return False
        return all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))

    @property
    def password(self) -> str:
        generated = self.home / "simple_auth_manager_passwords.json.generated"
        return str(json.loads(generated.read_text())[ADMIN])

    def token(self) -> str:
        """A JWT for the admin, as the UI's login form gets it."""
        if self._token is None:
            answer = requests.post(f"{self.url}/auth/token", json={"username": ADMIN, "password": self.password},
                                   timeout=30)
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def api(self) -> requests.Session:
        """A session on the REST API (``/api/v2``) signed in as the admin."""
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {self.token()}"
        return session

    def get(self, path: str, **params: Any) -> Any:
        answer = self.api().get(f"{self.url}/api/v2{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180) -> None:
        """Poll until the DAG processor has serialised every DAG in ``dag_ids``."""
        wanted = set(dag_ids)

        def parsed() -> bool:
            listed = {d["dag_id"] for d in self.get("/dags", limit=500)["dags"]}
            return wanted <= listed

        wait_until(parsed, timeout, f"DAGs {sorted(wanted)}", interval=1)

    def stop(self) -> None:
        self.process.stop(timeout=30)


class _Process(ServerProcess):
    """``ServerProcess`` with an environment given whole (not merged into ours): no AIRFLOW_* of the tests leaks."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        import subprocess

        self.log = log
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(argv, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=cwd, start_new_session=True)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the leader, then make sure the group is gone: the API server drains after ``standalone`` exits."""
        group = self.proc.pid
        super().stop(timeout)

        def group_gone() -> bool:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return True
            return False

        try:
            wait_until(group_gone, timeout, "airflow's process group to exit", interval=0.5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
