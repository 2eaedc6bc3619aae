"""Incremental resolution gives what a full run gives (both backends for the incremental side)."""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from crm_core.db import make_engine, session_factory, transaction, upgrade

from .helpers import add_contact, partition, resolve

GIVEN = ["Ann", "Bob", "Carla", "Dev", "Eve", "Frank", "Grace", "小明", "娜娜", "伟"]
FAMILY = ["Lee", "Marsh", "Diaz", "Patel", "Stone", "Wang", "Li", "Zhang", "Müller", "Smith"]


def people(seed: int = 3, n: int = 60) -> list[dict[str, str]]:
    """Records of n people, 1–3 each, with typos, missing values and phone formats varying between copies."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for i in range(n):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        person = {
            "given_name": given, "family_name": family,
            "email": f"{i}.{rng.randrange(10**6)}@example.com",
            "phone": f"+49151{rng.randrange(10**7):07d}",
            "birth_date": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
            "postcode": f"{rng.randrange(10000, 99999)}",
        }
        for copy in range(rng.choice([1, 1, 2, 3])):
            row = dict(person)
            if copy:
                drop = rng.choice(["email", "phone", "postcode", "birth_date"])
                row.pop(drop)
                if "phone" in row and rng.random() < 0.5:
                    row["phone"] = "0" + row["phone"][3:]
            rows.append(row)
    rng.shuffle(rows)
    return rows


def _load(sessions: sessionmaker[Session], rows: list[dict[str, str]], start: int) -> None:
    with transaction(sessions) as s:
        for i, row in enumerate(rows, start=start):
            record = add_contact(s, **row)
            record.source_key = f"row{i}"


def test_incremental_batches_give_the_same_customers_as_one_full_run(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = people()
    for i in range(0, len(rows), 25):  # four batches, resolved one after another
        _load(sessions, rows[i : i + 25], start=i)
        resolve(sessions)
    full_url = f"sqlite:///{tmp_path / 'full.db'}"
    upgrade(full_url)
    engine = make_engine(full_url)
    full = session_factory(engine)
    _load(full, rows, start=0)
    resolve(full)
    with sessions() as incremental_session, full() as full_session:
        assert partition(incremental_session) == partition(full_session)
    engine.dispose()
