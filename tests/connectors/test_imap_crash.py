"""Crash test: an IMAP ingest SIGKILLed between landing and cursor commit loses and duplicates nothing on re-run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crm_core.hub import Hub
from tests.servers.dovecot import Dovecot, MailUser

from .conftest import kill_twice_then_finish, mail, stored_cursor

HUB_YAML = """\
version: 1
sources:
  - name: mail
    kind: imap
    mapping: map.yaml
    connection_id: {conn}
    options: {{chunk_size: 3}}
"""


@pytest.mark.slow
def test_a_killed_imap_ingest_resumes_with_nothing_lost_or_duplicated(
    db_url: str, dovecot: Dovecot, mailbox: tuple[MailUser, str], make_hub: Callable[..., Hub]
) -> None:
    user, conn_id = mailbox
    dovecot.append(user, [mail(n) for n in range(1, 11)])
    hub = make_hub(HUB_YAML.format(conn=conn_id), url=db_url, files={"map.yaml": "{}\n"})

    keys = kill_twice_then_finish(hub, "mail", batch_size=3, total=10)
    assert sorted(keys) == sorted(f"<msg-{n}@example.cn>" for n in range(1, 11))  # 0 lost, 0 duplicated
    assert stored_cursor(hub, "mail")["folders"]["INBOX"]["last_uid"] == 10  # type: ignore[index]
