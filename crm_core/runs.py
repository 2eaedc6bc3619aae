"""Run bookkeeping: leases so one source never runs twice at once, and ``run_stat`` rows for every stage run."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .db import transaction
from .errors import LeaseHeld
from .models import Lease, RunStat, utcnow


@dataclass
class StageResult:
    """What one stage run did; the CLI prints it, Airflow puts it in the run note and asset event."""

    stage: str
    name: str
    records_in: int = 0
    records_out: int = 0
    records_failed: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        extra = "".join(f", {k} {v}" for k, v in self.detail.items() if isinstance(v, int | float | str))
        return (
            f"{self.stage} {self.name}: {self.records_in} in, {self.records_out} out, "
            f"{self.records_failed} failed{extra}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "name": self.name,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "records_failed": self.records_failed,
            **{k: v for k, v in self.detail.items() if isinstance(v, int | float | str | bool)},
        }


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_dead(holder: str) -> bool:
    """True when the holder is a process on this host that no longer exists (it was killed, not just slow)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def lease(
    factory: sessionmaker[Session], name: str, ttl: timedelta = timedelta(hours=1), holder: str | None = None
) -> Iterator[None]:
    """Hold the named lease for the duration of the block, or raise ``LeaseHeld`` at once.

    An expired lease (its holder was killed) is taken over, so a SIGKILLed run never blocks the next one for longer
    than ``ttl``; a lease whose holder was a process on this host that no longer exists is taken over at once.
    """
    holder = holder or default_holder()
    now = utcnow()
    with transaction(factory) as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.expires_at < now))
        current = session.get(Lease, name)
        if current is not None and _holder_is_dead(current.holder):  # a SIGKILLed run on this machine
            session.execute(delete(Lease).where(Lease.name == name, Lease.holder == current.holder))
    try:
        with transaction(factory) as session:
            session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
    except IntegrityError:
        with factory() as session:
            current = session.get(Lease, name)
        who = f"{current.holder} until {current.expires_at:%Y-%m-%d %H:%M:%S} UTC" if current else "another run"
        raise LeaseHeld(f"{name} is already running ({who}); try again when it finishes") from None
    try:
        yield
    finally:
        with transaction(factory) as session:
            session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def extend_lease(factory: sessionmaker[Session], name: str, ttl: timedelta, holder: str | None = None) -> None:
    with transaction(factory) as session:
        session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == (holder or default_holder()))
            .values(expires_at=utcnow() + ttl)
        )


@contextmanager
def recorded_run(
    factory: sessionmaker[Session], stage: str, name: str, run_id: str | None = None
) -> Iterator[StageResult]:
    """Yield a ``StageResult`` to fill in; store it as a ``run_stat`` row whether the block succeeds or fails."""
    with transaction(factory) as session:
        row = RunStat(stage=stage, name=name, run_id=run_id, status="running")
        session.add(row)
        session.flush()
        row_id = row.id
    result = StageResult(stage=stage, name=name)
    status, message = "success", None
    try:
        yield result
    except BaseException as exc:
        status, message = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        if status == "success" and result.records_failed:
            status = "partial"
        with transaction(factory) as session:
            row = session.get(RunStat, row_id)
            assert row is not None
            row.status = status
            row.message = message
            row.finished_at = utcnow()
            row.records_in = result.records_in
            row.records_out = result.records_out
            row.records_failed = result.records_failed
            row.detail = {k: v for k, v in result.detail.items() if isinstance(v, int | float | str | bool)}
