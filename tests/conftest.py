"""Shared fixtures: the store on both backends, and a hub home per test.

PostgreSQL: ``HUB_TEST_POSTGRES_URL`` names a server database we may create databases from (default the local
server's ``postgres`` database, trust auth). One fresh database per test session, migrated once, truncated between
tests. SQLite: a fresh migrated file per test. Tests that take ``db_url`` run on both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crm_core.db import make_engine, session_factory, upgrade
from crm_core.hub import Hub
from crm_core.models import Base

PG_ADMIN_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped afterwards)."""
    admin_url = make_url(PG_ADMIN_URL)
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"crmhub_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, not a test result
        pytest.fail(f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc} (make test starts one)")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    url = request.getfixturevalue("postgres_url")
    _truncate_all(url)
    return url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def make_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Hub]]:
    """Build a hub home in tmp_path from hub.yaml text on the given store (default: a fresh SQLite file)."""
    opened: list[Hub] = []

    def factory(config_text: str = "version: 1\n", url: str | None = None, files: dict[str, str] | None = None) -> Hub:
        home = tmp_path / f"home{len(opened)}"
        home.mkdir()
        for rel, content in (files or {}).items():
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).write_text(content, encoding="utf-8")
        (home / "hub.yaml").write_text(config_text, encoding="utf-8")
        db = url or f"sqlite:///{home / 'hub.db'}"
        monkeypatch.setenv("HUB_DATABASE_URL", db)
        upgrade(db)
        hub = Hub.open(home)
        opened.append(hub)
        return hub

    yield factory
    for hub in opened:
        hub.close()
