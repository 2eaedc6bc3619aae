"""Shared by the benchmarks: run a measured variant in a fresh interpreter, print and save a Markdown table.

Results go to ``bench/out/<name>.md`` (git-ignored) with the command, the date and the machine's load, because on
a shared two-core machine the absolute figures move with what else runs; the ratios measured in one run hold better.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parent.parent


def run_variant(module: str, args: Sequence[str]) -> dict[str, object]:
    """``python -m module *args`` in a fresh process (own peak memory); its last stdout line is JSON."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def save(name: str, command: str, body: str) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.md"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    path.write_text(f"# {name}\n\n`{command}` — {stamp}; {machine()}\n\n{body}\n", encoding="utf-8")
    return path
