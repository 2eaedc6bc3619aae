"""Faults around a running ingest, with real processes: a rival run, the database going away mid-run."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.db import make_engine, session_factory, upgrade
from crm_core.models import RunStat
from tests.servers import wait_until

from .conftest import backend, landed, run_worker, spawn_worker
from .private_postgres import PrivatePostgres

RECORDS, BATCH = 12, 4


def test_a_second_run_of_a_running_source_is_refused_and_lands_nothing(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, report_fault: Callable[..., None]
) -> None:
    gate = tmp_path / "gate"
    first = spawn_worker(db_url, "mail", RECORDS, BATCH, "--gate", str(gate))
    try:
        wait_until(lambda: landed(sessions, "mail").rows >= BATCH, 30, "the first run's first batch")
        rival = run_worker(db_url, "mail", RECORDS, BATCH)
        rows_while_refused = landed(sessions, "mail").rows
    finally:
        gate.touch()
        first.wait(60)
    assert rival.returncode == 3 and "already running" in rival.stderr
    assert rows_while_refused == BATCH  # the rival wrote nothing
    assert first.returncode == 0, first.stderr
    state = landed(sessions, "mail")
    report_fault(f"overlapping run of one source ({backend(db_url)})", 1, state.lost(RECORDS), state.duplicated)
    assert (state.lost(RECORDS), state.duplicated) == (0, 0)


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def private_pg_url(private_pg: PrivatePostgres) -> Iterator[str]:
    url = private_pg.create_database(f"crmhub_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    yield url


@pytest.mark.slow
def test_postgres_down_mid_run_fails_the_run_cleanly_and_the_next_run_completes(
    private_pg: PrivatePostgres, private_pg_url: str, tmp_path: Path, report_fault: Callable[..., None]
) -> None:
    engine = make_engine(private_pg_url)
    sessions = session_factory(engine)
    gate = tmp_path / "gate"
    worker = spawn_worker(private_pg_url, "mail", RECORDS, BATCH, "--gate", str(gate), "--ttl", "1")
    wait_until(lambda: landed(sessions, "mail").rows >= BATCH, 30, "the first batch")
    engine.dispose()
    private_pg.stop("immediate")  # the server dies between two batches of a run
    gate.touch()
    _out, err = worker.communicate(timeout=60)
    assert worker.returncode == 1 and "OperationalError" in err  # failed loudly, no hang, no partial batch
    private_pg.start()
    assert landed(sessions, "mail").rows == BATCH

    wait_until(lambda: run_worker(private_pg_url, "mail", RECORDS, BATCH).returncode == 0, 30, "the next run")
    state = landed(sessions, "mail")
    with sessions() as s:
        statuses = [r.status for r in s.scalars(select(RunStat).order_by(RunStat.id))]
    engine.dispose()
    report_fault("PostgreSQL stopped mid-run, next run", 1, state.lost(RECORDS), state.duplicated)
    assert (state.lost(RECORDS), state.duplicated, state.cursor) == (0, 0, {"offset": RECORDS})
    assert statuses[-1] == "success"


@pytest.mark.slow
def test_postgres_crash_restart_between_batches_is_ridden_out_by_the_same_run(
    private_pg: PrivatePostgres, private_pg_url: str, tmp_path: Path, report_fault: Callable[..., None]
) -> None:
    engine = make_engine(private_pg_url)
    sessions = session_factory(engine)
    gate = tmp_path / "gate"
    worker = spawn_worker(private_pg_url, "mail", RECORDS, BATCH, "--gate", str(gate), "--ttl", "1")
    wait_until(lambda: landed(sessions, "mail").rows >= BATCH, 30, "the first batch")
    private_pg.restart("immediate")  # crash + recovery while the worker holds pooled connections
    gate.touch()
    _out, err = worker.communicate(timeout=60)
    state = landed(sessions, "mail")
    engine.dispose()
    report_fault("PostgreSQL crash-restarted mid-run", 1, state.lost(RECORDS), state.duplicated)
    # the pool's pre-ping replaces the dead connections, so the same run finishes the work
    assert worker.returncode == 0, err[-2000:]
    assert (state.lost(RECORDS), state.duplicated, state.cursor) == (0, 0, {"offset": RECORDS})
