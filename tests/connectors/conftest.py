"""Fixtures for connector tests: the real Dovecot, sample data, and a subprocess ingest for crash tests.

Crash tests run ``crmhub ingest`` in a child process with ``HUB_FAULT_POINT`` set (see ``crm_core/faults.py``), so
the child is SIGKILLed at an exact point between landing a batch and committing its cursor, then run again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from email.header import Header
from pathlib import Path

import pytest

from tests.servers import REPO
from tests.servers.dovecot import Dovecot, MailUser, dovecot  # noqa: F401 - re-exported session fixture

EXAMPLES = REPO / "examples"


def mail(
    n: int,
    subject: str | None = None,
    sender: str = "Zhang San <zhang.san@example.cn>",
    body: str = "Hello",
    message_id: str | None = "default",
) -> bytes:
    """A small, valid message; ``message_id=None`` leaves the Message-ID header out."""
    mid = f"<msg-{n}@example.cn>" if message_id == "default" else message_id
    lines = [
        f"From: {sender}",
        "To: sales@crmhub.example",
        f"Subject: {subject if subject is not None else Header(f'询价 {n}', 'utf-8').encode()}",
        f"Date: Sat, 23 Aug 2025 09:{n % 60:02d}:00 +0800",
    ]
    if mid:
        lines.append(f"Message-ID: {mid}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""]
    return ("\r\n".join(lines) + f"\r\n{body} {n}\r\n").encode("utf-8")


@pytest.fixture
def mailbox(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MailUser, str]]:  # noqa: F811
    """A fresh Dovecot user and the connection id (``AIRFLOW_CONN_*`` set) that reaches it."""
    user = dovecot.new_user()
    conn_id = f"imap_{user.login.split('@')[0].replace('-', '_')}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", dovecot.connection_uri(user))
    yield user, conn_id


def run_ingest(home: Path, source: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``crmhub ingest SOURCE`` in a child process (its own interpreter, as Airflow's task runner would)."""
    full_env = {**os.environ, "HUB_HOME": str(home), "PYTHONPATH": str(REPO), **(env or {})}
    for key in ("HUB_FAULT_POINT", "HUB_FAULT_AFTER"):
        if env is None or key not in env:
            full_env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "crm_core.cli", "ingest", source], env=full_env, cwd=REPO,
        capture_output=True, text=True, timeout=120,
    )


RunIngest = Callable[..., subprocess.CompletedProcess[str]]


def landed(hub: object, source: str) -> list[tuple[str, str]]:
    """(source_key, content_hash) of every landing row of ``source``, in landing order."""
    from sqlalchemy import select

    from crm_core.models import LandingRecord

    with hub.sessions() as session:  # type: ignore[attr-defined]
        rows = session.execute(
            select(LandingRecord.source_key, LandingRecord.content_hash)
            .where(LandingRecord.source == source)
            .order_by(LandingRecord.id)
        ).all()
    return [(k, h) for k, h in rows]


def stored_cursor(hub: object, source: str) -> dict | None:
    from crm_core.landing import read_cursor

    with hub.sessions() as session:  # type: ignore[attr-defined]
        return read_cursor(session, source)



def kill_twice_then_finish(hub: object, source: str, batch_size: int, total: int) -> list[str]:
    """The common crash scenario; returns the landed keys after the final, clean run.

    1. killed with its second batch's rows inserted but the cursor not written: that batch rolls back whole;
    2. killed right after the next batch committed, before the run knew: rows and cursor are both there;
    3. a clean run (in this process, as a scheduler's retry would) lands exactly the rest.
    """
    from crm_core.jobs import ingest

    killed = run_ingest(hub.home, source, {"HUB_FAULT_POINT": "landing.after_rows", "HUB_FAULT_AFTER": "1"})  # type: ignore[attr-defined]
    assert killed.returncode == -9, killed.stderr
    assert len(landed(hub, source)) == batch_size
    killed = run_ingest(hub.home, source, {"HUB_FAULT_POINT": "landing.after_commit", "HUB_FAULT_AFTER": "0"})  # type: ignore[attr-defined]
    assert killed.returncode == -9, killed.stderr
    assert len(landed(hub, source)) == 2 * batch_size
    finished = ingest(hub, source)  # type: ignore[arg-type]
    rest = total - 2 * batch_size
    assert (finished.records_in, finished.records_out) == (rest, rest)
    return [key for key, _ in landed(hub, source)]
