"""The audit trail: who did what, when, in which run. Callers pass the actor; nothing here commits."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from .models import AuditLog


def current_actor() -> str:
    """The person or process acting: ``HUB_ACTOR`` (set by Airflow tasks and the plugin), else the OS user."""
    try:
        return os.environ.get("HUB_ACTOR") or getpass.getuser()
    except Exception:  # no user database entry in some containers
        return "unknown"


def audit(
    session: Session,
    action: str,
    object_type: str,
    object_id: str | int | None,
    detail: Mapping[str, Any] | None = None,
    actor: str | None = None,
    run_id: str | None = None,
) -> AuditLog:
    entry = AuditLog(
        actor=actor or current_actor(),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        detail=dict(detail or {}),
        run_id=run_id,
    )
    session.add(entry)
    return entry
