"""Airflow for the tests: one AIRFLOW_HOME (SQLite metadata, migrated once) per test session.

Airflow reads its configuration on first import, so the environment is set here, when pytest imports this file
(before any test module of this folder imports ``airflow``). ``dag.test()`` runs tasks in this process, so a
test's ``HUB_HOME`` / ``HUB_DATABASE_URL`` reach the tasks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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
