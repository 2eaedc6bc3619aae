"""``crmhub ingest SOURCE``: a live progress display on a terminal, and always one summary line."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

from crm_core.hub import init_home
from tests.servers import REPO

SUMMARY = re.compile(r"^ingest leads: 3 in, 3 out, 0 failed, duplicates 0 in \d+\.\ds$")
HUB_YAML = """\
version: 1
sources:
  - name: leads
    kind: form_files
    mapping: builtin:forms
    options: {{path: "{folder}", settle_seconds: 0}}
"""


def _hub(tmp_path: Path) -> Path:
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(REPO / "examples" / "forms" / "open-day-registrations.csv", exports)
    template = tmp_path / "hub.yaml"
    template.write_text(HUB_YAML.format(folder=exports), encoding="utf-8")
    home = tmp_path / "home"
    init_home(home, template=template)
    return home


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "120", "PYTHONPATH": str(REPO)}


def _command(home: Path) -> list[str]:
    return [sys.executable, "-m", "crm_core.cli", "--home", str(home), "ingest", "leads"]


def test_in_a_pipe_ingest_prints_only_the_summary_line(tmp_path: Path) -> None:
    done = subprocess.run(_command(_hub(tmp_path)), capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert SUMMARY.match(done.stdout.strip()), done.stdout
    assert done.stderr == ""  # no progress bar codes in logs, cron mail or Airflow


def test_on_a_terminal_ingest_shows_progress_then_the_summary_line(tmp_path: Path) -> None:
    home = _hub(tmp_path)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(_command(home), stdout=subprocess.PIPE, stderr=terminal, env=_env(), text=True)
    os.close(terminal)
    shown = b""
    while True:  # read the terminal until the child closes it (EIO on Linux)
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    screen = shown.decode("utf-8", "replace")
    assert "ingest leads" in screen  # the live line names the source ...
    assert re.search(r"(starting|\d+ read, \d+ new, \d+ already landed)", screen)  # ... and its counts
    assert "\x1b[" in screen  # drawn with terminal control codes, then cleared (transient)
    assert SUMMARY.match(stdout.strip()), stdout
