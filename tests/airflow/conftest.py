"""Airflow for the tests: one AIRFLOW_HOME (SQLite metadata, migrated once) per test session.

Airflow reads its configuration on first import, so the environment is set here, when pytest imports this file
(before any test module of this folder imports ``airflow``). ``dag.test()`` runs tasks in this process, so a
test's ``HUB_HOME`` / ``HUB_DATABASE_URL`` reach the tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers.airflow_standalone import AirflowStandalone

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PLUGINS = REPO / "plugins"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="crmhub-airflow-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
}
if "airflow" not in sys.modules:
    os.environ.update(AIRFLOW_ENV)
for path in (str(DAGS), str(PLUGINS)):
    if path not in sys.path:
        sys.path.insert(0, path)

SAMPLE_HUB = """\
version: 1
sources:
  - {name: web_forms, kind: form_files, mapping: m.yaml, schedule: 15m}
  - {name: mailbox, kind: imap, mapping: m.yaml, schedule: "*/5 * * * *"}
  - {name: calls, kind: cdr_files, mapping: m.yaml, schedule: "@hourly", enabled: false}
targets:
  - {name: salesforce, kind: salesforce, mapping: m.yaml, schedule: "@daily"}
  - {name: newsletter, kind: mailchimp, mapping: m.yaml, schedule: null}
"""


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def sample_config(text: str = SAMPLE_HUB) -> Any:
    """hub.yaml text parsed as the DAG file would (mapping paths relative to the fixtures folder)."""
    from crm_core.config import parse_config

    return parse_config(text, base_dir=FIXTURES)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for Airflow child processes: this worktree's code first on the path."""
    env = {**os.environ, **AIRFLOW_ENV, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(DAGS), str(PLUGINS), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the session's Airflow metadata database once."""
    assert os.environ.get("AIRFLOW_HOME") == str(_AIRFLOW_HOME), "airflow was imported before tests/airflow set up"
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=subprocess_env(), capture_output=True, text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return str(_AIRFLOW_HOME)


@pytest.fixture
def hub_home(make_hub: Callable[..., object], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """A hub home from hub.yaml text (mapping file ``m.yaml`` provided), exported as HUB_HOME for the DAGs."""

    def factory(config_text: str = SAMPLE_HUB, url: str | None = None) -> object:
        hub = make_hub(config_text, url=url, files={"m.yaml": "version: 1\n"})
        monkeypatch.setenv("HUB_HOME", str(hub.home))  # type: ignore[attr-defined]
        return hub

    yield factory


# ---------------------------------------------------------------------------------------------- a running Airflow

WEBHOOK_SOURCE = "site_webhook"
WEBHOOK_SECRET = "crm-sync-browser-test-signing-secret"


@dataclass
class DemoHub:
    """The hub home ``make run`` builds (``crmhub init`` from examples/hub.yaml, ``crmhub sync``), plus one signed
    webhook source so the intake can be exercised, and a way to open it."""

    home: Path
    url: str

    def open(self) -> Any:
        from crm_core.hub import Hub

        return Hub.open(self.home)


def _crmhub(home: Path, *argv: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"} | {"HUB_HOME": str(home)}
    done = subprocess.run([str(Path(sys.executable).parent / "crmhub"), *argv], env=env, capture_output=True,
                          text=True, timeout=960)
    assert done.returncode == 0, f"crmhub {' '.join(argv)}: {done.stdout[-1500:]}{done.stderr[-1500:]}"


@pytest.fixture(scope="session")
def demo_hub(tmp_path_factory: pytest.TempPathFactory) -> DemoHub:
    import yaml

    home = tmp_path_factory.mktemp("demo-hub")
    _crmhub(home, "init")
    config = yaml.safe_load((home / "hub.yaml").read_text(encoding="utf-8"))
    config["sources"].append({"name": WEBHOOK_SOURCE, "kind": "form_webhook", "mapping": "builtin:forms",
                              "connection_id": WEBHOOK_SOURCE, "schedule": None})
    (home / "hub.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    _crmhub(home, "sync")
    return DemoHub(home=home, url=f"sqlite:///{home / 'hub.db'}")


@pytest.fixture(scope="session")
def airflow_server(demo_hub: DemoHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStandalone]:
    """``airflow standalone`` with the hub's DAGs and plugin over ``demo_hub``, once per session (~1 GB, ~15 s)."""
    connection = json.dumps({"conn_type": "generic", "password": WEBHOOK_SECRET})
    server = AirflowStandalone(tmp_path_factory.mktemp("airflow-standalone"), demo_hub.home,
                               env={f"AIRFLOW_CONN_{WEBHOOK_SOURCE.upper()}": connection})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_run(airflow_server: AirflowStandalone) -> subprocess.CompletedProcess[str]:
    """``scripts/airflow.sh demo`` against the session's Airflow: every DAG unpaused and run once, waited for."""
    env = airflow_server.env | {"AIRFLOW_URL": airflow_server.url, "CRMHUB_DEMO_TIMEOUT": "900"}
    return subprocess.run([sys.executable, str(REPO / "scripts" / "airflow_demo.py")], env=env, capture_output=True,
                          text=True, timeout=960)
