"""SIGKILL at every step of the whole pipeline, in a real ``crmhub sync`` process, then a clean re-run.

One hub: a folder of form exports (5 submissions, landed in batches of 2; the fifth is the first person again,
her address in capitals) → mapping → resolution → the Salesforce fake over HTTPS (a thread of this test process,
the worker reaches it through ``AIRFLOW_CONN_SF_KILL`` like any connection). A clean run on a fresh store gives the
baseline; then, for every kill point and every hit of it the data reaches, a fresh store and org, a sync killed
there (``HUB_FAULT_POINT``/``HUB_FAULT_AFTER``, see ``crm_core.faults``), and a clean re-run. The store and the
target must then equal the baseline: records lost 0, duplicate customers 0, duplicate outbound writes 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_core.hub import Hub
from crm_core.models import ContactRecord, Customer, Interaction, LandingRecord, SyncState
from tests.conftest import _truncate_all
from tests.fakes.salesforce import FakeSalesforce, serve

from .conftest import REPO, backend

# point -> the hits tried (HUB_FAULT_AFTER): landing sees 3 batches, the later stages one batch/chunk each
KILL_POINTS: dict[str, tuple[int, ...]] = {
    "landing.before_batch": (0, 1),
    "landing.after_rows": (0, 1),
    "landing.before_commit": (0, 1),
    "landing.after_commit": (0, 1),
    "mapping.before_commit": (0,),
    "mapping.after_commit": (0,),
    "resolution.after_apply": (0,),  # the middle of resolution: customers made, records linked, not committed
    "resolution.after_commit": (0,),
    "outbound.before_write": (0,),
    "outbound.after_write": (0,),  # the POST went through, its result is not recorded
    "outbound.after_record": (0,),
}
PEOPLE = [
    ("张伟", "zhang.wei@163.com", "+86 138 0013 8000"),
    ("Oliver Smith", "oliver.smith@example.co.uk", "+44 7400 123456"),
    ("李娜", "li.na@qq.com", "139 1234 5678"),
    ("王芳", "wang.fang@example.cn", "136 0000 1111"),
    ("张伟", "ZHANG.WEI@163.com", "+86 138 0013 8000"),  # the first person again: one customer
]
HUB_YAML = """\
version: 1
sources:
  - name: web
    kind: form_files
    mapping: builtin:forms
    options: {{path: "{drop}", batch_size: 2, settle_seconds: 0}}
targets:
  - name: sf
    kind: salesforce
    mapping: builtin:targets/salesforce_contact
    connection_id: sf_kill
"""


@dataclass(frozen=True)
class Figures:
    """What a run leaves behind, in the store and in the target."""

    landed: int
    contact_records: int
    interactions: int
    customers: int
    synced: int
    target_records: int
    target_keys: int

    def lost(self, baseline: Figures) -> int:
        return sum(max(0, b - g) for b, g in zip(
            (baseline.landed, baseline.contact_records, baseline.interactions, baseline.synced, baseline.target_keys),
            (self.landed, self.contact_records, self.interactions, self.synced, self.target_keys), strict=True))

    def duplicate_customers(self, baseline: Figures) -> int:
        return max(0, self.customers - baseline.customers)

    @property
    def duplicate_writes(self) -> int:
        return self.target_records - self.target_keys  # two records with one hub key = a write that doubled


def _drop(tmp_path: Path) -> Path:
    drop = tmp_path / "drop"
    if not drop.exists():
        drop.mkdir()
        lines = [
            {"submission_id": f"web-{i}", "form": "contact-us", "submitted_at": f"2025-08-23T10:{i:02d}:00+08:00",
             "fields": {"name": name, "email": email, "phone": phone, "message": f"询价 {i}"}}
            for i, (name, email, phone) in enumerate(PEOPLE, 1)
        ]
        (drop / "posts.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return drop


def _sync(hub: Hub, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    if "HUB_FAULT_POINT" not in env:
        full.pop("HUB_FAULT_POINT", None)
    return subprocess.run([sys.executable, "-m", "crm_core.cli", "--home", str(hub.home), "sync"], cwd=REPO,
                          env=full, capture_output=True, text=True, timeout=120)


def _figures(hub: Hub, org: FakeSalesforce) -> Figures:
    with hub.sessions() as s:
        def count(model: type, *where: object) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        landed = int(s.scalar(select(func.count(func.distinct(LandingRecord.source_key)))) or 0)
        figures = (landed, count(ContactRecord), count(Interaction), count(Customer, Customer.status == "active"),
                   count(SyncState, SyncState.external_id.is_not(None)))
    keys = {str(r.get("Hub_Customer_Id__c")) for r in org.records.values()}
    return Figures(*figures, target_records=len(org.records), target_keys=len(keys))


@pytest.fixture
def pipeline(make_hub: Callable[..., Hub], db_url: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str] | None], tuple[Figures, int]]:
    """Run the pipeline on a fresh store and org: killed with ``fault`` env first (if given), then clean.

    Returns the figures after the clean run and the killed run's exit code (0 when not killed)."""
    drop = _drop(tmp_path)
    stores = iter(range(1000))

    def run(fault: dict[str, str] | None) -> tuple[Figures, int]:
        url = db_url
        if db_url.startswith("postgresql"):
            _truncate_all(db_url)
        else:
            url = f"sqlite:///{tmp_path / f'hub-{next(stores)}.db'}"
        org = FakeSalesforce()
        with serve(org, tmp_path) as (base_url, ca):
            conn = {"conn_type": "salesforce", "password": "token-0", "login": "hub-client",
                    "extra": {"base_url": base_url, "client_secret": "hub-secret", "ca_bundle": ca}}
            monkeypatch.setenv("AIRFLOW_CONN_SF_KILL", json.dumps(conn))
            hub = make_hub(HUB_YAML.format(drop=drop), url=url)
            killed = 0
            if fault is not None:
                killed = _sync(hub, fault).returncode
            clean = _sync(hub, {})
            assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]
            return _figures(hub, org), killed

    return run


def test_a_clean_run_gives_the_baseline_the_kill_tests_compare_with(
    pipeline: Callable[[dict[str, str] | None], tuple[Figures, int]]
) -> None:
    figures, _ = pipeline(None)
    # 5 submissions; the fifth is the first person again: 4 records, 4 customers, 4 contacts in Salesforce
    assert figures == Figures(landed=5, contact_records=4, interactions=5, customers=4, synced=4, target_records=4,
                              target_keys=4)


def test_a_kill_after_the_post_before_its_result_is_recorded_writes_nothing_twice(
    pipeline: Callable[[dict[str, str] | None], tuple[Figures, int]]
) -> None:
    baseline, _ = pipeline(None)
    figures, killed = pipeline({"HUB_FAULT_POINT": "outbound.after_write", "HUB_FAULT_AFTER": "0"})
    assert killed == -9
    assert (figures.lost(baseline), figures.duplicate_customers(baseline), figures.duplicate_writes) == (0, 0, 0)
    assert figures == baseline


@pytest.mark.slow
def test_every_kill_point_of_every_stage_loses_and_duplicates_nothing(
    pipeline: Callable[[dict[str, str] | None], tuple[Figures, int]], db_url: str,
    report_fault: Callable[..., None],
) -> None:
    baseline, _ = pipeline(None)
    tries, lost, duplicate_customers, duplicate_writes, outcomes = 0, 0, 0, 0, {}
    for point, hits in KILL_POINTS.items():
        for after in hits:
            figures, killed = pipeline({"HUB_FAULT_POINT": point, "HUB_FAULT_AFTER": str(after)})
            assert killed == -9, f"{point}#{after} was never reached"
            tries += 1
            lost += figures.lost(baseline)
            duplicate_customers += figures.duplicate_customers(baseline)
            duplicate_writes += figures.duplicate_writes
            outcomes[f"{point}#{after}"] = figures
    report_fault(f"SIGKILL at every pipeline step, `crmhub sync` ({backend(db_url)})", tries,
                 lost, duplicate_customers + duplicate_writes, points=len(KILL_POINTS),
                 duplicate_customers=duplicate_customers, duplicate_writes=duplicate_writes)
    assert (tries, lost, duplicate_customers, duplicate_writes) == (sum(map(len, KILL_POINTS.values())), 0, 0, 0)
    assert {k: v for k, v in outcomes.items() if v != baseline} == {}, asdict(baseline)
