"""Fault injection for the reliability tests: a named point where the process can be made to die.

Production code calls ``fault_point("landing.after_rows")`` at the places where a crash matters (between writing
rows and committing the cursor, after an outbound POST before its result is recorded, ...). It does nothing unless
the environment names that point in ``HUB_FAULT_POINT``; then the process sends itself SIGKILL, the one signal no
handler, ``finally`` block or atexit hook can soften, so the test sees exactly what a power cut or an OOM kill
leaves behind. ``HUB_FAULT_AFTER=N`` lets the first N hits pass and kills on hit N+1 (to die mid-stream).

The check costs one dictionary lookup, so the points stay in the shipped code.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """SIGKILL this process here if ``HUB_FAULT_POINT`` names this point (after ``HUB_FAULT_AFTER`` passes)."""
    if os.environ.get("HUB_FAULT_POINT") != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] > int(os.environ.get("HUB_FAULT_AFTER", "0") or 0):
        os.kill(os.getpid(), signal.SIGKILL)
