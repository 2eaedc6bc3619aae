"""A real Tryton server (``trytond`` + ``trytond_party``) on SQLite, on a free 127.0.0.1 port.

The database is created once per test session (``trytond-admin``, about 12 s) and the server starts in about a
second. Tests share it, so each test uses its own hub keys.

One deviation from a stock server, and why: Tryton checks e-mail contact mechanisms with ``email_validator``
*including a DNS deliverability lookup*, and this machine has no DNS. The server is launched with Tryton's own
test flag (``Pool.test = True``), which makes ``email_validator`` skip DNS and accept test domains; everything
else the hub relies on (JSON-RPC, ``_timestamp`` checks, unique codes, validation) is unchanged.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from . import ServerProcess, free_port, wait_until

ADMIN_PASSWORD = "tryton-admin-secret"
DATABASE = "hub"
COUNTRIES = {"CN": "China", "US": "United States", "DE": "Germany", "GB": "United Kingdom"}

_LAUNCH = (
    "import sys\n"
    "from trytond.pool import Pool\n"
    "Pool.test = True\n"
    "from trytond.cli import main\n"
    "sys.argv = ['trytond', *sys.argv[1:]]\n"
    "main()\n"
)


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class TrytonServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = workdir / "trytond.conf"
        conf.write_text(
            f"[database]\nuri = sqlite://\npath = {workdir}\n\n[web]\nlisten = 127.0.0.1:{self.port}\n"
            "\n[session]\nmax_attempt = 1000\n"
        )
        (workdir / f"{DATABASE}.sqlite").touch()
        passfile = workdir / "admin-password"
        passfile.write_text(ADMIN_PASSWORD)
        # the admin step asks for the admin's e-mail on stdin: answer "none"
        admin = subprocess.run(
            [_bin("trytond-admin"), "-c", str(conf), "-d", DATABASE, "-u", "party", "--activate-dependencies",
             "--all"], input="\n", capture_output=True, text=True, timeout=300,
            env={**os.environ, "TRYTONPASSFILE": str(passfile)},
        )
        if admin.returncode != 0:
            raise RuntimeError(f"trytond-admin failed: {admin.stderr[-2000:]}")
        self.process = ServerProcess([sys.executable, "-c", _LAUNCH, "-c", str(conf), "-d", DATABASE],
                                     log=workdir / "trytond.log")

        def ready() -> bool:
            if not self.process.alive():
                raise RuntimeError(f"trytond exited: {self.process.log_tail()}")
            try:
                requests.post(f"{self.url}/{DATABASE}/rpc/", json={}, timeout=1)
                return True
            except requests.ConnectionError:
                return False

        wait_until(ready, 30, "trytond")
        self._session: requests.Session | None = None
        self.call("model.country.country.create", [{"code": c, "name": n} for c, n in COUNTRIES.items()], {})

    def connection_uri(self) -> str:
        """An ``AIRFLOW_CONN_*`` value for this server (JSON form)."""
        import json

        return json.dumps({"conn_type": "tryton", "host": "127.0.0.1", "port": self.port, "login": "admin",
                           "password": ADMIN_PASSWORD, "schema": DATABASE, "extra": {"scheme": "http"}})

    def call(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call as the admin, the way a person's Tryton client edits data behind the hub's back."""
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False
            login = self._session.post(f"{self.url}/{DATABASE}/rpc/", json={
                "id": 0, "method": "common.db.login", "params": ["admin", {"password": ADMIN_PASSWORD}, "en"]})
            user_id, token = login.json()["result"][:2]
            auth = base64.b64encode(f"admin:{user_id}:{token}".encode()).decode()
            self._session.headers["Authorization"] = f"Session {auth}"
        body = self._session.post(f"{self.url}/{DATABASE}/rpc/",
                                  json={"id": 1, "method": method, "params": list(params)}).json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error'][:1]}")
        return body["result"]

    def stop(self) -> None:
        self.process.stop()
