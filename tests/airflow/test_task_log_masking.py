"""A task's log carries no raw e-mail address or phone number, whatever a library decides to log.

The hub's own code keeps personal data out of log lines; the risk is everything else in the task process. The
test plays the operator who raises ``sqlalchemy.engine`` to INFO to debug a slow run: SQLAlchemy then logs every
statement *with its parameters*, i.e. the sample contacts' addresses and numbers. Each task installs the hub's
masking first (``hub_factory.run_stage``), so those lines reach the log masked.

The DAGs run with ``dag.test()`` in a fresh interpreter, as a task process is one: masking installed by an earlier
test in this session's process cannot make the test pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO, subprocess_env

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]

FORMS = REPO / "examples" / "forms"
# what the sample export holds, raw and as the hub normalises it (E.164)
SAMPLE_EMAILS = ["zhang.wei@163.com", "li.na@qq.com", "wang.fang@example.cn", "chen.jing@126.com",
                 "emma.brown@example.com"]
SAMPLE_PHONES = ["13800138000", "+8613800138000", "+86 138 0013 8000", "139 1234 5678", "+8613912345678",
                 "+447911123456"]
MASKED_EMAIL = re.compile(r"\w\*\*\*@\w\*\*\*\.\w+")

RUN_DAGS = """
import logging, sys
from pathlib import Path
import hub_factory
from crm_core.config import load_config

logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # statements and their parameters
dags = hub_factory.build_dags(load_config(Path(sys.argv[1]) / "hub.yaml"))
states = [str(getattr(dags[d].test().state, "value", "?")) for d in ("ingest_web_forms", "resolve_customers")]
print("STATES", states, flush=True)
"""


def test_a_task_log_masks_the_sample_contacts_even_with_statement_logging(make_hub: Any, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    shutil.copytree(FORMS, drop)
    hub = make_hub(f"""version: 1
sources:
  - name: web_forms
    kind: form_files
    mapping: builtin:forms
    options: {{path: "{drop}", settle_seconds: 0}}
""")
    env = subprocess_env(HUB_HOME=str(hub.home), HUB_DATABASE_URL=hub.url, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")
    done = subprocess.run([sys.executable, "-c", RUN_DAGS, str(hub.home)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    task_log = done.stdout + done.stderr
    assert "STATES ['success', 'success']" in done.stdout, task_log[-3000:]
    assert "INSERT INTO landing_record" in task_log and "INSERT INTO contact_record" in task_log
    assert len(MASKED_EMAIL.findall(task_log)) >= len(SAMPLE_EMAILS)  # the statements' parameters, masked
    assert [v for v in SAMPLE_EMAILS + SAMPLE_PHONES if v in task_log] == []
