"""Real servers going away under a running ingest: Dovecot restarted or stopped in the middle of a fetch.

The IMAP source reads 40 messages in chunks of 3 from a private Dovecot (its own temp dir and port, so stopping it
disturbs no other test). The read is wrapped so the server is restarted, or stopped, right after the first chunk was
landed and committed, while the connector still holds its connection: the next FETCH meets a dead socket.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from connectors.credentials import get_credentials
from connectors.email.imap import ImapSource, MailOptions
from crm_core.errors import RetriableError
from crm_core.landing import land_stream
from crm_core.records import Batch
from tests.connectors.conftest import mail
from tests.servers.dovecot import Dovecot, MailUser

from .conftest import backend, landed

MESSAGES, CHUNK = 40, 3  # more chunks than the reader process, builder thread and lander hold ahead


@pytest.fixture(scope="module")
def private_dovecot() -> Iterator[Dovecot]:
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-dovecot-faults-"))
    workdir.chmod(0o755)  # Dovecot's mail processes run as nobody
    server = Dovecot(workdir)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def imap_user(private_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> MailUser:
    """A fresh mailbox holding MESSAGES messages, reachable through the connection ``imap_faults``."""
    user = private_dovecot.new_user()
    private_dovecot.append(user, [mail(n) for n in range(1, MESSAGES + 1)])
    monkeypatch.setenv("AIRFLOW_CONN_IMAP_FAULTS", private_dovecot.connection_uri(user))
    return user


@pytest.fixture
def imap(imap_user: MailUser) -> Callable[..., ImapSource]:
    def source(**options: Any) -> ImapSource:
        return ImapSource("mail", get_credentials("imap_faults"), MailOptions(chunk_size=CHUNK, **options))  # type: ignore[arg-type]

    return source


def _after_first_chunk(source: ImapSource, act: Callable[[], None]) -> Callable[[Mapping[str, Any] | None], Iterator[Batch]]:
    def read(cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        for i, batch in enumerate(source.read(cursor)):
            yield batch  # land_stream commits it before asking for the next one
            if i == 0:
                act()

    return read


@pytest.mark.slow
def test_dovecot_restarted_mid_fetch_is_ridden_out_by_the_same_run(
    private_dovecot: Dovecot, imap: Callable[..., ImapSource], sessions: sessionmaker[Session], db_url: str,
    report_fault: Callable[..., None],
) -> None:
    result = land_stream(sessions, "mail", _after_first_chunk(imap(), private_dovecot.restart))
    state = landed(sessions, "mail")
    report_fault(f"Dovecot restarted mid-fetch, same run ({backend(db_url)})", 1, state.lost(MESSAGES), state.duplicated)
    assert result.landed == MESSAGES  # the connector reconnected, reselected the folder and went on
    assert (state.lost(MESSAGES), state.duplicated) == (0, 0)
    assert state.cursor["folders"]["INBOX"]["last_uid"] == MESSAGES  # type: ignore[index]


@pytest.mark.slow
def test_dovecot_down_mid_fetch_fails_the_run_cleanly_and_the_next_run_completes(
    private_dovecot: Dovecot, imap: Callable[..., ImapSource], sessions: sessionmaker[Session], db_url: str,
    report_fault: Callable[..., None],
) -> None:
    try:
        with pytest.raises(RetriableError, match="kept failing"):
            land_stream(sessions, "mail", _after_first_chunk(imap(attempts=2), private_dovecot.stop))
        rows = landed(sessions, "mail").rows
        # whole committed chunks stay (prefetch may have read one or two ahead before the server went), none half
        assert rows % CHUNK == 0 and CHUNK <= rows < MESSAGES
    finally:
        private_dovecot.start()
    land_stream(sessions, "mail", imap().read)  # the next run, from the stored cursor
    state = landed(sessions, "mail")
    report_fault(f"Dovecot down mid-fetch, next run ({backend(db_url)})", 1, state.lost(MESSAGES), state.duplicated)
    assert (state.lost(MESSAGES), state.duplicated) == (0, 0)
    assert state.cursor["folders"]["INBOX"]["last_uid"] == MESSAGES  # type: ignore[index]
