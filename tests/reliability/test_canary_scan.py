"""Canaries in every input and connection, a full run through the real entry point, then a scan of everything a
person or a log collector could see: 0 occurrences.

Planted: a person's e-mail address, phone number and name in the form exports (one clean submission, one that fails
mapping, one that Salesforce rejects with an error quoting the address, as the real one does), and secrets in the
connections (the Salesforce token and client secret, a wrong token of a second target) and in the environment
(``HUB_SECRET_KEY``, ``HUB_HASH_KEY``). The run: ``crmhub sync`` with every logger at DEBUG, then ``crmhub status``,
``crmhub failed list`` (text and JSON) and a command that fails.

Scanned: every line those processes wrote (logs, summaries, error messages), every file in the hub home, and the
store: secrets in every column of every table; personal data in every column that is not a data column (run
statistics, dead-letter messages and their encrypted payloads, audit entries, leases, landing errors). Airflow's
side (task logs, XComs, rendered templates) is scanned by ``tests/airflow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from crm_core.hub import Hub
from crm_core.models import Base, DeadLetter, RunStat
from tests.fakes.salesforce import FakeSalesforce, _error, serve

from .conftest import REPO

EMAIL, REJECTED_EMAIL, BAD_EMAIL = "jinsique.x7q@qq.com", "vendorecho.x7q@qq.com", "canary.bad.x7q@"
PHONES = ("+86 139 8765 4321", "+8613987654321", "13987654321", "139 8765 4321", "139-8765-4321")
NAME = "金丝雀测试"
PERSONAL = (EMAIL, REJECTED_EMAIL, BAD_EMAIL.rstrip("@"), *PHONES, NAME)
SF_TOKEN, SF_CLIENT_SECRET, WRONG_TOKEN = "canary-sf-token-5b1d9e", "canary-client-secret-9e2f4a", "canary-wrong-31c7"
HASH_KEY = "canary-hash-key-77aa01"
# where personal data legitimately lives (the data itself); everything else must never hold it
DATA_COLUMNS = {
    "landing_record": {"payload", "source_key"},
    "contact_record": {"raw", "normalized", "email", "phone", "handle", "source_key", "link_evidence"},
    "customer": {"golden", "provenance"},
    "customer_version": {"golden", "provenance"},
    "interaction": {"subject", "summary", "participants", "external_ref"},
    "sync_state": {"snapshot"},
    "resolution_profile": {"profile", "name_sig"},
    "resolution_key": {"key"},
    "review_item": {"evidence"},
    "conflict": {"base", "ours", "theirs"},
}


class EchoingSalesforce(FakeSalesforce):
    """Like the real one, an invalid address comes back quoted in the error message."""

    def _validate(self, fields: dict[str, Any], creating: bool) -> list[dict[str, Any]] | None:
        email = str(fields.get("Email") or "")
        if email.startswith("vendorecho"):
            return _error("INVALID_EMAIL_ADDRESS", f"Email: invalid email address: {email}", ["Email"])
        return super()._validate(fields, creating)


def _exports(folder: Path) -> None:
    posts = [
        {"submission_id": "c1", "submitted_at": "2025-08-23T10:00:00+08:00",
         "fields": {"name": NAME, "email": EMAIL, "phone": PHONES[0], "message": f"call {PHONES[3]}"}},
        {"submission_id": "c2", "submitted_at": "2025-08-23T10:01:00+08:00",
         "fields": {"name": NAME, "email": BAD_EMAIL, "phone": PHONES[2]}},  # fails mapping
        {"submission_id": "c3", "submitted_at": "2025-08-23T10:02:00+08:00",
         "fields": {"name": "Echo Test", "email": REJECTED_EMAIL}},  # Salesforce refuses, quoting it
    ]
    folder.mkdir()
    (folder / "posts.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts), "utf-8")


@pytest.fixture
def canary_run(make_hub: Callable[..., Hub], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[tuple[Hub, list[str], str]]:
    """The hub after the run, every process output, and the HUB_SECRET_KEY used."""
    secret_key = Fernet.generate_key().decode()
    _exports(tmp_path / "drop")
    org = EchoingSalesforce()
    org.tokens = {SF_TOKEN}
    org.client_secret = SF_CLIENT_SECRET
    with serve(org, tmp_path) as (url, ca):
        def conn(token: str) -> str:
            return json.dumps({"conn_type": "salesforce", "password": token, "login": "hub-client",
                               "extra": {"base_url": url, "client_secret": SF_CLIENT_SECRET, "ca_bundle": ca}})

        env = {"AIRFLOW_CONN_SF_CANARY": conn(SF_TOKEN), "AIRFLOW_CONN_SF_WRONG": conn(WRONG_TOKEN),
               "HUB_SECRET_KEY": secret_key, "HUB_HASH_KEY": HASH_KEY}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        hub = make_hub(f"""version: 1
sources:
  - {{name: web, kind: form_files, mapping: builtin:forms, options: {{path: "{tmp_path / 'drop'}", settle_seconds: 0}}}}
targets:
  - {{name: sf, kind: salesforce, mapping: builtin:targets/salesforce_contact, connection_id: sf_canary}}
  - {{name: sf_wrong, kind: salesforce, mapping: builtin:targets/salesforce_contact, connection_id: sf_wrong}}
""")
        org.client_secret = "not-the-one-we-hold"  # the wrong target cannot renew its session either
        outputs = [_crmhub(hub, "sync", debug=True)]
        outputs += [_crmhub(hub, "status"), _crmhub(hub, "failed", "list"), _crmhub(hub, "failed", "list", "--json"),
                    _crmhub(hub, "push", "sf_wrong", debug=True)]
        assert len(org.records) == 1  # the clean submission reached Salesforce
        yield hub, outputs, secret_key


def _crmhub(hub: Hub, *argv: str, debug: bool = False) -> str:
    """The real entry point in a fresh process; with ``debug`` every logger of every library logs at DEBUG."""
    setup = "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); " if debug else "import sys; "
    code = setup + "from crm_core.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "--home", str(hub.home), *argv], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=180)
    return f"$ crmhub {' '.join(argv)} -> {out.returncode}\n{out.stdout}\n{out.stderr}"


def _found(text: str, needles: tuple[str, ...]) -> list[str]:
    return [n for n in needles if n.lower() in text.lower()]


def _store_cells(hub: Hub) -> Iterator[tuple[str, str, str]]:
    with hub.sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None and not isinstance(value, int | float | bool):
                        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                        yield table.name, column, text


@pytest.mark.slow
def test_no_canary_reaches_a_log_an_error_message_a_listing_a_file_or_a_non_data_column(
    canary_run: tuple[Hub, list[str], str], report_fault: Callable[..., None]
) -> None:
    hub, outputs, secret_key = canary_run
    secrets = (SF_TOKEN, SF_CLIENT_SECRET, WRONG_TOKEN, HASH_KEY, secret_key)
    everything = "\n".join(outputs)
    # without debug logs, a map failure, a vendor rejection quoting the address and a refused login the scan
    # would prove little: they all happened
    assert "DEBUG" in everything and "crmhub: error:" in everything
    with hub.sessions() as s:
        classes = sorted(d.error_class for d in s.scalars(select(DeadLetter)))
        failed_runs = {r.name for r in s.scalars(select(RunStat).where(RunStat.status == "failed"))}
    assert classes == ["INVALID_EMAIL_ADDRESS", "ValidationError"] and "sf_wrong" in failed_runs
    leaks = [f"output: {n}" for n in _found(everything, PERSONAL + secrets)]
    files = [p for p in Path(hub.home).rglob("*") if p.is_file() and p.suffix not in (".db", ".db-wal", ".db-shm")]
    leaks += [f"{p.name}: {n}" for p in files for n in _found(p.read_text(errors="replace"), PERSONAL + secrets)]
    cells = scanned = 0
    for table, column, text in _store_cells(hub):
        cells += 1
        leaks += [f"{table}.{column}: secret" for _ in _found(text, secrets)]
        if column not in DATA_COLUMNS.get(table, set()):
            scanned += 1
            leaks += [f"{table}.{column}: {n}" for n in _found(text, PERSONAL)]
    report_fault("canaries after a full run (outputs, files, store)", len(PERSONAL + secrets), len(leaks), 0,
                 kind="canary", outputs=len(outputs), files=len(files), cells=cells, non_data_cells=scanned)
    assert leaks == []
    assert scanned > 20  # run statistics, dead letters, audit entries were there to scan

