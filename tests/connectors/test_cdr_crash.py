"""Crash test: a CDR ingest SIGKILLed between landing and cursor commit loses and duplicates nothing on re-run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crm_core.hub import Hub

from .conftest import kill_twice_then_finish
from .test_cdr_files import row

HUB_YAML = """\
version: 1
sources:
  - name: calls
    kind: cdr_files
    mapping: map.yaml
    options: {path: cdr, batch_size: 3, timezone: Asia/Shanghai}
"""


@pytest.mark.slow
def test_a_killed_cdr_ingest_resumes_with_nothing_lost_or_duplicated(db_url: str, make_hub: Callable[..., Hub]) -> None:
    rows = "".join(row(n) for n in range(1, 11))
    hub = make_hub(HUB_YAML, url=db_url, files={"map.yaml": "{}\n", "cdr/Master.csv": rows})
    keys = kill_twice_then_finish(hub, "calls", batch_size=3, total=10)
    assert len(keys) == len(set(keys)) == 10
    assert {k.split(":")[0] for k in keys} == {f"1755825{n:03d}.1" for n in range(1, 11)}
