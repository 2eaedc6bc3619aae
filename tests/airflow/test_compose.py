"""docker-compose.yml describes the production shape; no Docker engine runs here, so its structure is checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"]
LONG_RUNNING = AIRFLOW_SERVICES + ["postgres", "redis"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())  # merge keys (<<) resolved


def test_every_part_of_the_production_shape_is_a_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(LONG_RUNNING) | {"airflow-init"}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_health_checks_and_restart(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    check = service["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1
    assert {"interval", "timeout", "retries"} <= set(check)
    assert service["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_share_celery_postgres_and_redis(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    env = service["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379" in env[
        "AIRFLOW__CELERY__BROKER_URL"]
    assert "@postgres:5432/crmhub" in env["HUB_DATABASE_URL"]
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/crmhub/dags"
    assert service["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "airflow-init": {"condition": "service_completed_successfully"},
    }
    mounts = {v.split(":")[1] for v in service["volumes"]}
    assert {"/opt/crmhub/dags", "/opt/crmhub/plugins", "/opt/crmhub/home"} <= mounts


def test_the_init_job_migrates_both_databases_once(compose: dict[str, Any]) -> None:
    init = compose["services"]["airflow-init"]
    assert "airflow db migrate" in init["command"][-1] and "crmhub db upgrade" in init["command"][-1]
    assert init["restart"] == "no" and "airflow-init" not in init["depends_on"]


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    used = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])
            if not v.startswith((".", "/"))}
    assert used == set(compose["volumes"])


def test_no_secret_is_written_in_the_file_and_every_variable_is_documented() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert not re.search(r"(PASSWORD|SECRET|KEY)\w*:\s*['\"]?(?!\$\{)[A-Za-z0-9]", text), "a literal secret"
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "HUB_DB_PASSWORD", "AIRFLOW_JWT_SECRET"} <= required
    deploy = (REPO / "docs" / "deploy.md").read_text()
    assert all(var in deploy for var in required), sorted(v for v in required if v not in deploy)
