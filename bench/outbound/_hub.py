"""A throw-away hub home for benchmarks: hub.yaml text, a migrated SQLite store, ``Hub.open``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def open_hub(home: Path, config_text: str) -> Any:
    from crm_core.db import upgrade
    from crm_core.hub import Hub

    home.mkdir(parents=True, exist_ok=True)
    (home / "hub.yaml").write_text(config_text, encoding="utf-8")
    url = f"sqlite:///{home / 'hub.db'}"
    os.environ["HUB_DATABASE_URL"] = url
    upgrade(url)
    return Hub.open(home)
