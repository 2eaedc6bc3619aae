"""The IMAP source against a real Dovecot: cursors, the `UID n:*` trap, UIDVALIDITY resets, expunges, big mail."""

from __future__ import annotations

import logging
import re
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.credentials import get_credentials
from connectors.email.imap import ImapSource, MailOptions
from connectors.email.maildir import MaildirSource
from crm_core.errors import FatalError, RetriableError
from crm_core.landing import land_stream
from crm_core.models import LandingRecord
from tests.servers import free_port, wait_until
from tests.servers.dovecot import Dovecot, MailUser

from .conftest import EXAMPLES, mail


def source(conn_id: str, **options: object) -> ImapSource:
    return ImapSource("mail", get_credentials(conn_id), MailOptions(**options))  # type: ignore[arg-type]


def keys(batches: list) -> list[str]:
    return [r.key for b in batches for r in b.records]


def test_reads_each_message_once_in_chunks_with_the_cursor_at_the_chunks_highest_uid(
    dovecot: Dovecot, mailbox: tuple[MailUser, str]
) -> None:
    user, conn_id = mailbox
    dovecot.append(user, [mail(n) for n in range(1, 6)])
    batches = list(source(conn_id, chunk_size=2).read(None))
    assert [len(b.records) for b in batches] == [2, 2, 1]
    assert [b.cursor["folders"]["INBOX"]["last_uid"] for b in batches] == [2, 4, 5]
    assert keys(batches) == [f"<msg-{n}@example.cn>" for n in range(1, 6)]
    assert list(source(conn_id).read(batches[-1].cursor)) == []


def test_the_uid_range_trap_does_not_return_the_last_message_again(
    dovecot: Dovecot, mailbox: tuple[MailUser, str]
) -> None:
    user, conn_id = mailbox
    dovecot.append(user, [mail(1), mail(2)])
    cursor = list(source(conn_id).read(None))[-1].cursor
    client = dovecot.client(user)
    client.select_folder("INBOX", readonly=True)
    assert client.search(["UID", "3:*"]) == [2]  # what every server does: `*` is the last message
    client.logout()
    assert list(source(conn_id).read(cursor)) == []
    dovecot.append(user, [mail(3)])
    assert keys(list(source(conn_id).read(cursor))) == ["<msg-3@example.cn>"]


def test_a_uidvalidity_change_rescans_the_folder_without_landing_anything_twice(
    dovecot: Dovecot, mailbox: tuple[MailUser, str], sessions: sessionmaker[Session]
) -> None:
    user, conn_id = mailbox
    dovecot.append(user, [mail(n) for n in range(1, 4)])
    first = land_stream(sessions, "mail", source(conn_id).read)
    dovecot.set_uidvalidity(user, 4242)
    dovecot.append(user, [mail(4)])
    second = land_stream(sessions, "mail", source(conn_id).read)
    assert (first.landed, second.received, second.landed) == (3, 4, 1)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(LandingRecord)) == 4
        assert session.scalar(select(func.count(func.distinct(LandingRecord.source_key)))) == 4


def test_a_message_expunged_between_search_and_fetch_is_skipped_and_passed(
    dovecot: Dovecot, mailbox: tuple[MailUser, str]
) -> None:
    user, conn_id = mailbox
    dovecot.append(user, [mail(n) for n in range(1, 5)])
    stream = source(conn_id, chunk_size=1, prefetch=0).read(None)  # no read-ahead: the test decides when FETCH runs
    batches = [next(stream)]  # SEARCH has run and listed UIDs 1-4
    dovecot.expunge(user, [3])
    batches += list(stream)
    assert keys(batches) == ["<msg-1@example.cn>", "<msg-2@example.cn>", "<msg-4@example.cn>"]
    assert batches[-1].cursor["folders"]["INBOX"]["last_uid"] == 4


def _logged_out_bytes(dovecot: Dovecot, user: MailUser) -> int | None:
    match = re.search(rf"imap\({re.escape(user.login)}\).*Logged out in=\d+ out=(\d+)", dovecot.log_tail_full())
    return int(match.group(1)) if match else None


def test_a_huge_attachment_is_listed_but_never_downloaded(dovecot: Dovecot, mailbox: tuple[MailUser, str]) -> None:
    user, conn_id = mailbox
    attachment = ("A" * 76 + "\r\n") * 60_000  # ~4.6 MB of base64
    raw = (
        "From: Li Na <li.na@example.cn>\r\nSubject: contract\r\nMessage-ID: <big@example.cn>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
        "合同见附件\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="contract.pdf"\r\n\r\n' + attachment + "--b--\r\n"
    ).encode()
    dovecot.append(user, [raw])
    [record] = [r for b in source(conn_id).read(None) for r in b.records]
    assert record.payload["summary"] == "合同见附件"
    assert record.payload["attachments"] == [
        {"filename": "contract.pdf", "content_type": "application/pdf", "size": len(attachment) - 2}
    ]  # the CRLF before a boundary belongs to the boundary
    assert record.payload["size"] > 4_000_000
    wait_until(lambda: _logged_out_bytes(dovecot, user) is not None, 10, "dovecot logout line")
    assert _logged_out_bytes(dovecot, user) < 100_000  # the server sent headers, structure and the text only


def test_a_refused_login_fails_fast_without_the_password_in_the_message(
    dovecot: Dovecot, mailbox: tuple[MailUser, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, conn_id = mailbox
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", dovecot.connection_uri(user).replace(user.password, "wrong-pw"))
    started = time.monotonic()
    with pytest.raises(FatalError, match="IMAP login refused") as caught:
        list(source(conn_id).read(None))
    assert time.monotonic() - started < 5
    assert "wrong-pw" not in str(caught.value) and user.login not in str(caught.value)


def test_an_unreachable_server_is_a_retriable_error_after_a_few_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_IMAP_NOWHERE", f"imap://u:p@127.0.0.1:{free_port()}?ssl=false")
    with pytest.raises(RetriableError, match="kept failing"):
        list(source("imap_nowhere", attempts=2).read(None))


def test_a_missing_folder_is_a_fatal_error_naming_it(mailbox: tuple[MailUser, str]) -> None:
    _, conn_id = mailbox
    with pytest.raises(FatalError, match="'Archive/2019'"):
        list(source(conn_id, folders=["Archive/2019"]).read(None))


def test_imap_and_a_local_maildir_give_the_same_records_for_the_same_mail(
    dovecot: Dovecot, mailbox: tuple[MailUser, str]
) -> None:
    user, conn_id = mailbox
    files = sorted((EXAMPLES / "mail").glob("*.eml"))
    dovecot.append(user, [f.read_bytes() for f in files])
    over_imap = [r for b in source(conn_id).read(None) for r in b.records]
    local = MaildirSource("mail", EXAMPLES / "mail", MailOptions(folders=("INBOX",)))
    from_files = [r for b in local.read(None) for r in b.records if r.payload["folder"] == "INBOX"]

    def comparable(payload: dict) -> dict:  # sizes differ: IMAP counts CRLF and encoded octets
        return {k: v for k, v in payload.items() if k not in ("size", "attachments")} | {
            "attachments": [a["filename"] for a in payload["attachments"]]
        }

    assert [r.key for r in over_imap] == [r.key for r in from_files]
    assert [comparable(dict(r.payload)) for r in over_imap] == [comparable(dict(r.payload)) for r in from_files]




def test_mail_content_never_reaches_a_debug_log(
    dovecot: Dovecot, mailbox: tuple[MailUser, str], caplog: pytest.LogCaptureFixture
) -> None:
    """imapclient turns on imaplib's protocol trace (every answer line, literals included) for its debug logger."""
    user, conn_id = mailbox
    dovecot.append(user, [mail(1, subject="Quote for Wang Fang", sender="Wang Fang <wang.fang.7781@example.cn>",
                               body="call me on 13800138000")])
    with caplog.at_level(logging.DEBUG):
        records = [r for b in source(conn_id, reader_process=False).read(None) for r in b.records]
    assert records[0].payload["subject"] == "Quote for Wang Fang"
    assert any(r.name.startswith("imapclient") for r in caplog.records)  # the trace was there to leak into
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for personal in ("Wang Fang", "wang.fang.7781", "13800138000", user.password):
        assert personal not in logged
