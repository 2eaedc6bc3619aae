"""SIGKILL at every landing step, in a real worker process: after the re-run nothing is lost and nothing doubled.

The worker lands 12 records in batches of 4 (3 batches). Each kill point is tried on the first, second and third
batch. The killed run's lease is short (1 s) so the re-run takes it over, as it would after the TTL in production.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.servers import wait_until

from .conftest import backend, landed, run_worker

RECORDS, BATCH = 12, 4
KILL_POINTS = ("landing.before_batch", "landing.after_rows", "landing.before_commit", "landing.after_commit")


def _kill_then_rerun(db_url: str, sessions: sessionmaker[Session], source: str, point: str, after: int) -> None:
    killed = run_worker(db_url, source, RECORDS, BATCH, "--ttl", "1",
                        env={"HUB_FAULT_POINT": point, "HUB_FAULT_AFTER": str(after)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    def rerun_completes() -> bool:
        outcome = run_worker(db_url, source, RECORDS, BATCH)
        assert outcome.returncode in (0, 3), outcome.stderr[-2000:]  # 3: the dead run's lease has not expired yet
        return outcome.returncode == 0

    wait_until(rerun_completes, timeout=30, what="re-run after the kill")


def test_a_kill_between_rows_and_cursor_on_the_second_batch_loses_and_duplicates_nothing(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    _kill_then_rerun(db_url, sessions, "mail", "landing.after_rows", after=1)
    state = landed(sessions, "mail")
    assert (state.lost(RECORDS), state.duplicated, state.cursor) == (0, 0, {"offset": RECORDS})


@pytest.mark.slow
def test_every_kill_point_on_every_batch_loses_and_duplicates_nothing(
    db_url: str, sessions: sessionmaker[Session], report_fault: Callable[..., None]
) -> None:
    tries = lost = duplicated = 0
    for point in KILL_POINTS:
        for after in range(RECORDS // BATCH):
            source = f"mail_{point.split('.')[1]}_{after}"
            _kill_then_rerun(db_url, sessions, source, point, after)
            state = landed(sessions, source)
            tries += 1
            lost += state.lost(RECORDS)
            duplicated += state.duplicated
            assert state.cursor == {"offset": RECORDS}
    report_fault(f"SIGKILL at landing steps, worker process ({backend(db_url)})", tries, lost, duplicated,
                 points=len(KILL_POINTS))
    assert (tries, lost, duplicated) == (len(KILL_POINTS) * 3, 0, 0)
