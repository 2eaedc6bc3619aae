"""Source history rewritten under the hub: an explicit alert and resync, never silent loss or duplication.

- IMAP UIDVALIDITY changes (a mailbox restored or rebuilt): every UID is new; the folder is rescanned with a
  warning, and the landing's keys turn the rescan into no-ops.
- A target restored from a backup: records we had written vanish. The next push that touches them records a
  ``GONE_AT_TARGET`` dead-letter item per record (the alert, listed on the status page and by ``crmhub failed
  list``) and creates nothing behind anyone's back; replaying those items is the resync.

(CDR files truncated or rotated: ``tests/connectors/test_cdr_files.py``, which checks the warning and the counts.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.hub import Hub
from crm_core.landing import land_stream
from crm_core.models import DeadLetter
from crm_core.replay import ReplayFilter, replay_failed
from tests.connectors.conftest import mail
from tests.outbound.conftest import (  # noqa: F401 - fixtures re-exported for this module
    SalesforceOrg,
    add_customer,
    change_golden,
    push,
    salesforce,
    sf_hub,
)
from tests.servers.dovecot import Dovecot, MailUser

from .conftest import backend, landed
from .test_server_faults import MESSAGES, imap, imap_user, private_dovecot  # noqa: F401 - fixtures re-exported

ANNA = {"given_name": "Anna", "family_name": "Schmidt", "title": "Einkauf"}


@pytest.mark.slow
def test_a_uidvalidity_change_is_announced_and_the_rescan_lands_only_what_is_new(
    private_dovecot: Dovecot, imap: Callable[..., object], imap_user: MailUser, sessions: sessionmaker[Session],  # noqa: F811
    db_url: str, caplog: pytest.LogCaptureFixture, report_fault: Callable[..., None],
) -> None:
    source = imap()
    land_stream(sessions, "mail", source.read)  # type: ignore[attr-defined]
    private_dovecot.set_uidvalidity(imap_user, 4242)
    total = MESSAGES + 1
    private_dovecot.append(imap_user, [mail(total)])
    with caplog.at_level(logging.WARNING):
        again = land_stream(sessions, "mail", source.read)  # type: ignore[attr-defined]
    state = landed(sessions, "mail")
    report_fault(f"IMAP UIDVALIDITY changed, rescan ({backend(db_url)})", 1, state.lost(total), state.duplicated)
    assert "UIDVALIDITY changed" in caplog.text  # the alert
    assert (again.received, again.landed) == (total, 1)  # all rescanned, only the new message landed
    assert (state.lost(total), state.duplicated) == (0, 0)
    assert state.cursor["folders"]["INBOX"]["uidvalidity"] == 4242  # type: ignore[index]


def test_a_target_restored_from_a_backup_is_alerted_and_a_replay_resyncs_without_duplicates(
    sf_hub: Callable[..., Hub], salesforce: SalesforceOrg, db_url: str,  # noqa: F811
    report_fault: Callable[..., None],
) -> None:
    hub = sf_hub(db_url, pull_back=False)
    ids = [add_customer(hub, **{**ANNA, "email": f"anna{i}@example.de"}) for i in range(4)]
    assert push(hub).detail["created"] == 4
    vanished = ids[2:]
    for cid in vanished:  # the backup predates these two writes
        del salesforce.org.records[str(salesforce.org.by_hub_key(f"hub-{cid}")[0]["Id"])]
    for cid in ids:
        change_golden(hub, cid, title="Leitung Einkauf")

    after_restore = push(hub)

    assert (after_restore.detail["updated"], after_restore.detail["gone"], after_restore.detail["created"]) == (2, 2, 0)
    with hub.sessions() as s:
        alerts = s.scalars(select(DeadLetter).where(DeadLetter.error_class == "GONE_AT_TARGET")).all()
        assert sorted(int(a.ref or 0) for a in alerts) == vanished
        assert all("restored from a backup" in a.error_message for a in alerts)
    assert not any(salesforce.org.by_hub_key(f"hub-{cid}") for cid in vanished)  # nothing re-created silently

    resync = replay_failed(hub, ReplayFilter(stage="push", name="sf", error_class="GONE_AT_TARGET"))

    assert (resync.records_in, resync.records_out, resync.records_failed) == (2, 2, 0)
    copies = {cid: salesforce.org.by_hub_key(f"hub-{cid}") for cid in ids}
    lost = sum(1 for found in copies.values() if not found)
    duplicated = sum(len(found) - 1 for found in copies.values() if found)
    report_fault(f"target restored from backup, resync by replay ({backend(db_url)})",
                 len(vanished), lost, duplicated)
    assert (lost, duplicated) == (0, 0)
    assert {found[0]["Title"] for found in copies.values()} == {"Leitung Einkauf"}  # today's values everywhere
    assert push(hub).records_in == 0  # settled: the next run has nothing to do
