"""Helpers for the fault tests: run the worker as a real process, count what the store holds, report figures.

Set ``HUB_FAULT_REPORT=FILE`` to have every fault test append one JSON line (fault, tries, lost, duplicated) to
FILE; ``python -m tests.reliability.report FILE`` turns it into the table in docs/reliability.md, and
``python -m tests.reliability.report --run`` runs the suite's reliability tests to produce it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.landing import read_cursor
from crm_core.models import LandingRecord

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def run_worker(url: str, source: str, records: int, batch: int, *extra: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> Outcome:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability._worker", url, source, str(records), str(batch), *extra],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def spawn_worker(url: str, source: str, records: int, batch: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._worker", url, source, str(records), str(batch), *extra],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Landed:
    rows: int
    distinct_keys: int
    cursor: dict[str, object] | None

    def lost(self, expected: int) -> int:
        return expected - self.distinct_keys

    @property
    def duplicated(self) -> int:
        return self.rows - self.distinct_keys


def landed(sessions: sessionmaker[Session], source: str) -> Landed:
    with sessions() as s:
        rows = s.scalar(select(func.count()).select_from(LandingRecord).where(LandingRecord.source == source))
        keys = s.scalar(select(func.count(func.distinct(LandingRecord.source_key))).where(LandingRecord.source == source))
        return Landed(int(rows or 0), int(keys or 0), read_cursor(s, source))


def backend(url: str) -> str:
    """``sqlite`` or ``postgresql``: the label of a store URL in the figures."""
    return url.split(":", 1)[0].split("+", 1)[0]


@pytest.fixture
def report_fault() -> Callable[..., None]:
    """Append a line of figures for docs/reliability.md when HUB_FAULT_REPORT names a file."""

    def write(fault: str, tries: int, lost: int, duplicated: int, **extra: object) -> None:
        path = os.environ.get("HUB_FAULT_REPORT")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"fault": fault, "tries": tries, "lost": lost, "duplicated": duplicated, **extra}) + "\n")

    return write
