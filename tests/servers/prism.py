"""Stoplight Prism serving a vendor's official OpenAPI spec: a contract check of our requests, not a stateful fake.

Prism validates every request against the spec (422 with ``sl-violations`` when we send something the vendor
would reject) and answers with spec-shaped, random data (``-d``). ``transform`` lets a test normalise known defects
of a published spec in a copy before serving it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from . import REPO, ServerProcess, free_port, wait_until

PRISM = REPO / "node_modules" / ".bin" / "prism"


class Prism:
    def __init__(self, spec: Path, workdir: Path, transform: Callable[[Any], Any] | None = None) -> None:
        if not PRISM.exists():
            raise RuntimeError(f"{PRISM} missing: run `npm install` in the repository (make test does)")
        served = workdir / spec.name
        if transform is None:
            shutil.copy(spec, served)
        else:
            if spec.suffix == ".json":
                served.write_text(json.dumps(transform(json.loads(spec.read_text()))))
            else:
                import yaml

                served.write_text(yaml.safe_dump(transform(yaml.safe_load(spec.read_text()))))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = ServerProcess(
            [str(PRISM), "mock", "-d", "-h", "127.0.0.1", "-p", str(self.port), str(served)],
            log=workdir / f"prism-{spec.stem}.log",
        )

        def ready() -> bool:
            if not self.process.alive():
                raise RuntimeError(f"prism exited: {self.process.log_tail()}")
            try:
                requests.get(self.url, timeout=1)
                return True
            except (requests.ConnectionError, requests.Timeout):  # a big spec under load answers slowly at first
                return False

        wait_until(ready, 120, f"prism for {spec.name}")

    def stop(self) -> None:
        self.process.stop()
