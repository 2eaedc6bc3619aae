"""A real Dovecot IMAP server for tests: standalone config, unprivileged, 127.0.0.1, a free port.

One server per test session (start takes ~0.1 s); every test gets its own mailbox user from ``new_user()``, so tests
never see one another's mail. Helpers speak IMAP (APPEND, EXPUNGE) or ``doveadm`` (force a UIDVALIDITY change) to
the real server instead of faking its behaviour. See ``/work/shared/peers/README.md`` for what was learned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from . import ServerProcess, free_port, port_open, wait_until

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
PASSWORD = "imap-test-secret"
USERS = 500  # mailboxes per server; each test takes a fresh one

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
default_internal_user = {user}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={base}/home/%u
}}
"""


@dataclass(frozen=True)
class MailUser:
    login: str
    password: str


class Dovecot:
    def __init__(self, workdir: Path) -> None:
        self.base = workdir
        for sub in ("run", "state", "home"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        # users exist from the start: Dovecot notices a changed passwd-file by its mtime, to the second only
        self._logins = [f"u{i}-{uuid.uuid4().hex[:6]}@example.test" for i in range(1, USERS + 1)]
        (self.base / "passwd").write_text("".join(f"{login}:{{PLAIN}}{PASSWORD}\n" for login in self._logins))
        self.port = free_port()
        self.config = self.base / "dovecot.conf"
        as_root = os.geteuid() == 0
        user, group = ("nobody", "nogroup") if as_root else (_name(os.getuid()), _group(os.getgid()))
        self.config.write_text(_CONFIG.format(base=self.base, port=self.port, user=user, group=group))
        if as_root:  # Dovecot drops to nobody for mail access: it must own the home directories
            shutil.chown(self.base / "home", "nobody", "nogroup")
        self._ids = iter(self._logins)
        self.start()

    def start(self) -> None:
        """Start the server (again, after ``stop``: same port, config and mailboxes) and wait until it answers."""
        self.process = ServerProcess([DOVECOT, "-F", "-c", str(self.config)], log=self.base / "stdout.log")

        def ready() -> bool:
            if not self.process.alive():
                raise RuntimeError(f"dovecot exited: {self.process.log_tail()} {self.log_tail()}")
            return port_open(self.port)

        wait_until(ready, 20, "dovecot")

    def restart(self) -> None:
        """Stop and start again, as an upgrade or a crash-restart would: every open IMAP connection is cut."""
        self.stop()
        self.start()

    def log_tail_full(self) -> str:
        log = self.base / "dovecot.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def log_tail(self) -> str:
        log = self.base / "dovecot.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def new_user(self) -> MailUser:
        """A fresh, empty mailbox of its own."""
        return MailUser(next(self._ids), PASSWORD)

    def client(self, user: MailUser) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(user.login, user.password)
        return client

    def append(self, user: MailUser, messages: Iterable[bytes], folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            if folder != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw, flags=(), msg_time=None)
        finally:
            client.logout()

    def deliver_files(self, user: MailUser, messages: Iterable[bytes]) -> int:
        """Drop messages straight into the INBOX Maildir (fast set-up for benchmarks); Dovecot indexes them."""
        new = self.base / "home" / user.login / "Maildir" / "new"
        for sub in ("new", "cur", "tmp"):
            (new.parent / sub).mkdir(parents=True, exist_ok=True)
        count = 0
        stamp = int(time.time())
        for count, raw in enumerate(messages, 1):
            (new / f"{stamp}.M{count}P{os.getpid()}.bench").write_bytes(raw)
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "nobody:nogroup", str(self.base / "home" / user.login)], check=True)
        return count

    def expunge(self, user: MailUser, uids: Iterable[int], folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            client.select_folder(folder)
            client.delete_messages(list(uids))
            client.expunge()
        finally:
            client.logout()

    def set_uidvalidity(self, user: MailUser, value: int, folder: str = "INBOX") -> None:
        """Force a UIDVALIDITY change, as a server restore or mailbox rebuild would."""
        subprocess.run(
            [DOVEADM, "-c", str(self.config), "mailbox", "update", "-u", user.login, "--uid-validity", str(value),
             folder],
            check=True, capture_output=True, timeout=30,
        )

    def connection_uri(self, user: MailUser) -> str:
        """The ``AIRFLOW_CONN_*`` value for this mailbox."""
        from urllib.parse import quote

        return f"imap://{quote(user.login, safe='')}:{quote(user.password, safe='')}@127.0.0.1:{self.port}?ssl=false"

    def stop(self) -> None:
        self.process.stop()


def _name(uid: int) -> str:
    import pwd

    return pwd.getpwuid(uid).pw_name


def _group(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot per test session, in its own temp dir (outside pytest's shared, pruned basetemp)."""
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-dovecot-"))
    os.chmod(workdir, 0o755)  # Dovecot's mail processes run as nobody
    server = Dovecot(workdir)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
