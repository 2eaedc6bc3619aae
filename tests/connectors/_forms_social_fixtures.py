"""Shared helpers for the forms and social connector tests: a real uvicorn server, a hub store, signed posts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import uvicorn
from sqlalchemy import func, select

from connectors.forms.webhook import sign
from crm_core.config import parse_config
from crm_core.db import upgrade
from crm_core.hub import Hub
from crm_core.models import LandingRecord
from tests.servers import free_port, wait_until


class UvicornThread:
    """An ASGI app served by uvicorn on a free 127.0.0.1 port, in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        wait_until(lambda: self.server.started, 15, "uvicorn intake")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def open_hub(home: Path, url: str | None = None) -> Hub:
    """A hub on a fresh migrated store (SQLite in ``home`` unless ``url`` is given), without sources."""
    home.mkdir(parents=True, exist_ok=True)
    url = url or f"sqlite:///{home / 'hub.db'}"
    upgrade(url)
    return Hub(home=home, config=parse_config("version: 1\n"), url=url)


def landed_rows(hub: Hub, source: str | None = None) -> list[LandingRecord]:
    with hub.sessions() as session:
        stmt = select(LandingRecord).order_by(LandingRecord.id)
        if source is not None:
            stmt = stmt.where(LandingRecord.source == source)
        return list(session.scalars(stmt))


def count_rows(hub: Hub) -> int:
    with hub.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(LandingRecord)) or 0)


def signed_post(
    url: str,
    secret: str,
    body: bytes | Iterator[bytes],
    content_type: str = "application/json",
    *,
    timestamp: int | None = None,
    signed_body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST ``body`` signed the way form senders sign (``signed_body`` when the body is a generator)."""
    ts = int(time.time()) if timestamp is None else timestamp
    to_sign = signed_body if signed_body is not None else body
    assert isinstance(to_sign, bytes)
    all_headers = {
        "Content-Type": content_type,
        "X-Signature-Timestamp": str(ts),
        "X-Signature": sign(secret, ts, to_sign),
        **(headers or {}),
    }
    return requests.post(url, data=body, headers=all_headers, timeout=30)


CRASH_SCRIPT = """
import os, sys
from sqlalchemy import event
from connectors import build_source
from crm_core.hub import Hub
from crm_core.landing import land_stream

hub = Hub.open(sys.argv[1], check_schema=False)
source, kill_at = sys.argv[2], int(sys.argv[3])
commits = [0]

@event.listens_for(hub.sessions, "before_commit")
def die_before_commit(session):
    # the batch's rows and cursor are written and flushed, the commit has not happened: the worst moment
    commits[0] += 1
    if commits[0] == kill_at:
        os._exit(9)

land_stream(hub.sessions, source, build_source(hub.config.source(source), hub).read)
"""


def hub_with_sources(home: Path, sources_yaml: str, url: str | None = None) -> Hub:
    """A hub home whose hub.yaml lists ``sources_yaml`` (mapping files are stubs: no mapping runs here)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "stub-mapping.yaml").write_text("{}\n", encoding="utf-8")
    (home / "hub.yaml").write_text(f"version: 1\nsources:\n{sources_yaml}", encoding="utf-8")
    url = url or f"sqlite:///{home / 'hub.db'}"
    upgrade(url)
    hub = Hub.open(home, check_schema=False)
    hub.url = url
    return hub


def ingest_killed_at_commit(hub: Hub, source: str, kill_at: int) -> int:
    """Run one ingest of ``source`` in a child process killed just before its ``kill_at``-th commit."""
    import os
    import subprocess
    import sys

    from tests.servers import REPO

    env = {**os.environ, "HUB_DATABASE_URL": hub.url, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(hub.home), source, str(kill_at)],
        env=env, cwd=REPO, capture_output=True, timeout=120,
    )
    return proc.returncode


Answer = tuple[int, dict[str, str], Any]


class FakeVendor:
    """A stateful vendor API on 127.0.0.1 speaking HTTP: ``routes`` maps a path to ``handler(query) -> answer``;
    answers queued in ``script`` are served first, whatever the path (429s, 5xx, 401s)."""

    def __init__(self, routes: dict[str, Any]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        self.routes = routes
        self.script: list[Answer] = []
        self.seen: list[tuple[str, dict[str, str], dict[str, str]]] = []
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                vendor.seen.append((parts.path, query, dict(self.headers)))
                if vendor.script:
                    status, headers, body = vendor.script.pop(0)
                elif parts.path in vendor.routes:
                    status, headers, body = vendor.routes[parts.path](query)
                else:
                    status, headers, body = 404, {}, {"error": "no such path"}
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVendor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

