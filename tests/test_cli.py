"""The command line: every verb documented, user mistakes are one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crm_core.cli import build_parser, main

VERBS = ["init", "db", "sync", "ingest", "resolve", "push", "dedupe", "import", "customers", "review", "merge",
         "unmerge", "conflicts", "failed", "erase", "status"]


def test_every_verb_of_the_brief_is_registered_with_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(VERBS) <= set(sub.choices)
    for verb in VERBS:
        assert sub.choices[verb].description, verb


def test_init_then_status_on_a_fresh_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "hub"
    assert main(["--home", str(home), "init"]) == 0
    assert (home / "hub.yaml").exists() and (home / "hub.db").exists()
    assert main(["--home", str(home), "status"]) == 0
    assert "customers" in capsys.readouterr().out


def test_a_missing_home_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "crm_core.cli", "--home", str(tmp_path / "nowhere"), "status"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "crmhub init" in proc.stderr and "Traceback" not in proc.stderr


def test_an_outdated_database_asks_for_db_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "hub"
    main(["--home", str(home), "init"])
    (home / "hub.db").unlink()
    assert main(["--home", str(home), "status"]) == 2
    assert "crmhub db upgrade" in capsys.readouterr().err
    assert main(["--home", str(home), "db", "upgrade"]) == 0
    assert main(["--home", str(home), "db", "current"]) == 0
