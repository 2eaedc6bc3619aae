"""The hub's home directory and the ``Hub`` handle every entry point (CLI, Airflow task, plugin) opens.

``HUB_HOME`` (default ``./.crmhub``) holds ``hub.yaml`` and, by default, the SQLite database ``hub.db``.
``HUB_DATABASE_URL`` overrides the database (PostgreSQL in production) without editing the file.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .config import HubConfig, load_config
from .db import current_revisions, head_revisions, make_engine, session_factory, upgrade
from .errors import StoreError

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def hub_home(home: str | os.PathLike[str] | None = None) -> Path:
    return Path(home or os.environ.get("HUB_HOME") or ".crmhub").resolve()


def database_url(home: Path, config: HubConfig | None = None) -> str:
    return (
        os.environ.get("HUB_DATABASE_URL")
        or (config.database_url if config is not None else None)
        or f"sqlite:///{home / 'hub.db'}"
    )


def init_home(home: Path, template: Path | None = None, force: bool = False) -> Path:
    """Create the home with a ``hub.yaml`` (from the bundled sample by default) and a migrated database.

    The sample config points at ``examples/`` by absolute path so the demo works from any working directory.
    """
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "hub.yaml"
    if force or not config_path.exists():
        template = template or EXAMPLES_DIR / "hub.yaml"
        text = template.read_text(encoding="utf-8").replace("${EXAMPLES}", str(EXAMPLES_DIR))
        config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path)
    upgrade(database_url(home, config))
    return config_path


@dataclass
class Hub:
    home: Path
    config: HubConfig
    url: str

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None, check_schema: bool = True) -> Hub:
        path = hub_home(home)
        config = load_config(path / "hub.yaml")
        hub = cls(home=path, config=config, url=database_url(path, config))
        if check_schema:
            hub.check_schema()
        return hub

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def check_schema(self) -> None:
        if current_revisions(self.url) != head_revisions():
            raise StoreError(
                f"the hub database {self.url_for_display} is not at the current schema; run `crmhub db upgrade`"
            )

    @property
    def url_for_display(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def copy_examples(dest: Path) -> None:
    shutil.copytree(EXAMPLES_DIR, dest, dirs_exist_ok=True)
