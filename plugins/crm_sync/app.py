"""FastAPI app behind the "CRM sync" page.

Routes (mounted at ``/crm-sync`` by the plugin):

- ``GET /``                 the page: a static shell; every number comes from the JSON API, so the shell holds no data
- ``GET /replay``           the pre-filled replay form; it triggers the ``replay_failed`` DAG through Airflow's own
                            REST API with the signed-in user's token, so Airflow's permissions decide
- ``GET /api/status``       ``crm_core.status.hub_status`` as JSON
- ``GET /api/failed``       dead-letter items matching a replay filter (what a replay would re-send)
- ``GET /customers/lookup`` ``?phone=`` or ``?email=``: the customer card and last interactions
- ``/intake/...``           the webhook intake of the form and social connectors (authenticated by signature)

Data routes depend on ``require_user``: inside Airflow that is the auth manager's check, outside a test's choice.
The hub is opened once per process and re-opened when ``hub.yaml`` changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from crm_core.errors import HubError
from crm_core.hub import Hub, hub_home
from crm_core.security import install_log_masking

log = logging.getLogger(__name__)

PAGE_PREFIX = "/crm-sync"
STATIC = Path(__file__).resolve().parent / "static"


class HubHolder:
    """One open hub per process, re-opened when hub.yaml is edited (new sources show up without a restart)."""

    def __init__(self, home: Path | None = None) -> None:
        self._home = home
        self._hub: Hub | None = None
        self._stamp: float | None = None
        self._lock = threading.Lock()

    def get(self) -> Hub:
        home = self._home or hub_home()
        stamp = (home / "hub.yaml").stat().st_mtime
        with self._lock:
            if self._hub is None or stamp != self._stamp:
                if self._hub is not None:
                    self._hub.close()
                self._hub = Hub.open(home, check_schema=False)
                self._stamp = stamp
            return self._hub


def _session(request: Request) -> Iterator[Any]:
    hub = request.app.state.hub_holder.get()
    with hub.sessions() as s:
        yield s


SessionDep = Annotated[Any, Depends(_session)]


class _LazyIntake:
    """The connectors' webhook intake, built from the hub on first use and rebuilt when hub.yaml changes.

    Built lazily so the API server starts (and the page works) even before hub.yaml exists. The intake
    authenticates every post by its signature, not by Airflow's login: senders are websites and Meta/WeChat.
    """

    def __init__(self, holder: HubHolder, factory: Callable[..., Any]) -> None:
        self._holder, self._factory = holder, factory
        self._hub: Hub | None = None
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        hub = self._holder.get()
        if hub is not self._hub:
            self._app, self._hub = self._factory(hub, prefix=""), hub
        await self._app(scope, receive, send)


def _mount_intake(app: FastAPI, holder: HubHolder) -> None:
    """Mount ``/intake/{source}`` when the forms/social connectors are installed."""
    try:
        from connectors.intake import create_hub_intake_app
    except ImportError:
        log.info("crm_sync: webhook intake not installed (connectors.intake); /intake not mounted")
        return
    app.mount("/intake", _LazyIntake(holder, create_hub_intake_app))


def build_app(require_user: Callable[..., Any] | None = None, home: Path | None = None) -> FastAPI:
    """The app; building it masks the process's logs (a mounted app's own start-up events never run)."""
    install_log_masking()
    holder = HubHolder(home)
    guard = [Depends(require_user)] if require_user is not None else []
    app = FastAPI(title="CRM sync", description="Status, lookup and intake of the CRM integration hub",
                  docs_url=None, redoc_url=None)
    app.state.hub_holder = holder

    def page(name: str) -> HTMLResponse:
        return HTMLResponse((STATIC / name).read_text(encoding="utf-8"),
                            headers={"Cache-Control": "no-store"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return page("page.html")

    @app.get("/replay", response_class=HTMLResponse, include_in_schema=False)
    def replay_form() -> HTMLResponse:
        return page("replay.html")

    @app.get("/api/status", dependencies=guard)
    def status(s: SessionDep) -> dict[str, Any]:
        from crm_core.status import hub_status

        return hub_status(s, holder.get().config)

    @app.get("/api/failed", dependencies=guard)
    def failed(
        s: SessionDep,
        stage: str | None = None,
        name: str | None = None,
        error_class: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        from crm_core.replay import ReplayFilter, list_failed

        try:
            selection = ReplayFilter(stage=stage, name=name, error_class=error_class, since=since, until=until,
                                     limit=limit)
        except HubError as exc:
            raise HTTPException(422, str(exc)) from None
        items = list_failed(s, selection)
        return {"items": [
            {"id": i.id, "stage": i.stage, "name": i.name, "error_class": i.error_class,
             "error_message": i.error_message[:300], "attempts": i.attempts, "failed_at": i.updated_at.isoformat()}
            for i in items
        ]}

    @app.get("/customers/lookup", dependencies=guard)
    def lookup(
        s: SessionDep,
        phone: str | None = None,
        email: str | None = None,
        interactions: int = Query(10, ge=0, le=100),
    ) -> dict[str, Any]:
        from crm_core.lookup import LookupError_, lookup_customer

        try:
            result = lookup_customer(s, phone=phone, email=email, interactions=interactions)
        except LookupError_ as exc:
            raise HTTPException(422, str(exc)) from None
        if result.customer is None:
            raise HTTPException(404, "no customer with that " + ("email" if email else "phone number"))
        return result.as_dict()

    _mount_intake(app, holder)
    return app
