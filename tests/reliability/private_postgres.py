"""A private PostgreSQL cluster for tests that stop and restart the server (never the shared one on 5432).

initdb/pg_ctl from the Debian packages' directory, run as the ``postgres`` user when the tests run as root
(PostgreSQL refuses to run as root), in a fresh directory under /tmp (pytest's own tmp dirs are private to root),
on a free port, unix socket in the same directory. fsync is off: the tests exercise the client side of a restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import text

from crm_core.db import make_engine
from tests.servers import free_port

PG_BIN = Path(os.environ.get("HUB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="crmhub-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: object) -> None:
        subprocess.run([*self._as_postgres, *map(str, argv)], check=True, capture_output=True, timeout=120)

    def _ctl(self, *action: str) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.base / "server.log", "-o", opts, "-w", *action)

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def restart(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash as far as the server is concerned: it recovers from WAL on start."""
        self._ctl("-m", mode, "restart")

    def create_database(self, name: str) -> str:
        admin = make_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.base, ignore_errors=True)
