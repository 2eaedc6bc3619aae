"""The distributed production shape on 127.0.0.1: what ``docker-compose.yml`` runs, as plain processes.

One :class:`CeleryCluster` is a real Airflow api-server, scheduler, dag-processor and Celery worker, with Redis as
the broker and PostgreSQL holding Airflow's metadata, Celery's results and the hub's store (two fresh databases on
the server ``HUB_TEST_POSTGRES_URL`` names, dropped afterwards). Every process runs in its own session
(``setsid``), so :meth:`CeleryCluster.stop` kills each whole process group, task processes included.

What the compose file sets and the processes here share: one JWT secret (tasks on the worker call the api-server's
execution API with tokens the scheduler signed), one API secret key and Fernet key, the execution API URL, the
broker and result backend. Tasks go to a queue of their own (``default_queue``) that only this worker consumes:
a task that succeeded on it can only have run on the Celery worker.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_core.db import make_engine
from tests.servers import REPO, ServerProcess, free_port, wait_until

DAGS = REPO / "dags"
PLUGINS = REPO / "plugins"
PG_ADMIN_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
QUEUE = "crmhub_cluster"
START_TIMEOUT_S = 300  # a 2-core machine shared with other suites: four services importing at once take minutes


def _admin_url() -> Any:
    url = make_url(PG_ADMIN_URL)
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


class PostgresDatabases:
    """Fresh databases on the test server, dropped (connections and all) by :meth:`drop`."""

    def __init__(self) -> None:
        self.admin = make_engine(_admin_url().render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, stem: str) -> str:
        name = f"crmhub_{stem}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return _admin_url().set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


class RedisServer:
    """A private ``redis-server`` on a free port with persistence off; never the machine's own 6379."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = ServerProcess(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)], log=workdir / "redis.log")

    def wait(self) -> None:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)

        def ready() -> bool:
            if not self.process.alive():
                raise RuntimeError(f"redis-server exited: {self.process.log_tail()}")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(ready, 30, "redis-server")
        client.close()

    def commands_processed(self) -> int:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=5)
        try:
            return int(client.info("stats")["total_commands_processed"])
        finally:
            client.close()


@dataclass
class CeleryCluster:
    """Airflow's services in the production shape; ``env`` is what every one of them (and the tasks) sees."""

    workdir: Path
    metadata_url: str
    broker_url: str
    hub_home: Path
    hub_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServerProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.airflow_home = self.workdir / "airflow"
        self.airflow_home.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        passwords = self.airflow_home / "passwords.json"
        passwords.write_text(json.dumps({"admin": self.password}))
        metadata = make_url(self.metadata_url)
        result_backend = metadata.set(drivername="db+postgresql+psycopg").render_as_string(hide_password=False)
        from cryptography.fernet import Fernet

        venv_bin = str(Path(sys.executable).parent)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUB_"))}
        self.env = {
            **inherited,
            "PATH": f"{venv_bin}{os.pathsep}{inherited.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(DAGS), str(PLUGINS)]),
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata.render_as_string(hide_password=False),
            # psycopg 3 serves the async engine too; Airflow's default guess for PostgreSQL is asyncpg
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata.render_as_string(hide_password=False),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # HS512 wants 64 bytes or more
            # a task's calls to the execution API wait up to 5 s by default: too short on a busy 2-core machine,
            # where a timed-out start is retried as a whole (and counted as a failed attempt)
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "HUB_HOME": str(self.hub_home),
            "HUB_DATABASE_URL": self.hub_url,
            **self.extra_env,
        }

    # ------------------------------------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        done = subprocess.run(["airflow", "db", "migrate"], env=self.env, capture_output=True, text=True,
                              timeout=300, cwd=self.workdir)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {done.stderr[-3000:]}")

    def _start(self, name: str, *argv: str, level: str = "WARNING") -> None:
        env = {**self.env, "AIRFLOW__LOGGING__LOGGING_LEVEL": level}
        self.processes[name] = ServerProcess(["airflow", *argv], log=self.workdir / f"{name}.log", env=env,
                                             cwd=self.workdir)

    def start(self) -> None:
        """Start the four services; the worker logs at INFO so its log names every workload it executed."""
        self._start("api-server", "api-server", "--port", str(self.port))
        self._start("scheduler", "scheduler")
        self._start("dag-processor", "dag-processor")
        self._start("worker", "celery", "worker", "--queues", QUEUE, "--concurrency", "2",
                    "--celery-hostname", f"crmhub-worker-{self.port}@%h", "--skip-serve-logs",
                    "--without-gossip", "--without-mingle", level="INFO")

    def wait_healthy(self) -> None:
        def ready() -> bool:
            self.check_alive()
            try:
                health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                return False
            components = ("metadatabase", "scheduler", "dag_processor")
            return all(health.get(c, {}).get("status") == "healthy" for c in components)

        wait_until(ready, START_TIMEOUT_S, "Airflow api-server, scheduler and dag-processor", interval=1)
        # the first call to the execution API builds its versioned routes: make it now, not in a task's start
        httpx.get(f"{self.url}/execution/health", timeout=60).raise_for_status()
        wait_until(lambda: self.check_alive() or "ready." in self.log("worker"), START_TIMEOUT_S,
                   "the Celery worker", interval=0.5)

    def check_alive(self) -> bool:
        for name, process in self.processes.items():
            if not process.alive():
                raise RuntimeError(f"{name} exited:\n{process.log_tail(4000)}")
        return False

    def log(self, name: str) -> str:
        return self.processes[name].log.read_text(errors="replace")

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM every process group at once, SIGKILL what is left after ``grace_s``.

        Groups, not pids: the worker's pool processes, their task supervisors and task processes, and the
        api-server's uvicorn children all share their service's group, so none of them outlives the test.
        """
        groups = [p.proc.pid for p in self.processes.values()]
        for group in groups:
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in self.processes.values():
            try:
                process.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for group in groups:  # the leader may be gone while its children linger: signal the group regardless
            _signal_group(group, signal.SIGKILL)
        for process in self.processes.values():
            process.stop(timeout=5)  # reaps the leader and closes the log file
        wait_until(lambda: not any(_group_alive(g) for g in groups), 10, "every Airflow process group gone")

    # ------------------------------------------------------------------------------------------ REST API

    def api(self) -> httpx.Client:
        token = httpx.post(f"{self.url}/auth/token", json={"username": "admin", "password": self.password},
                           timeout=30)
        token.raise_for_status()
        return httpx.Client(base_url=f"{self.url}/api/v2", timeout=60,
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"})


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy (and return that), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f}s")
        time.sleep(interval)

