"""Small, dialect-aware write helpers shared by the stages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import Base


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], unique_columns: Sequence[str]
) -> int:
    """INSERT … ON CONFLICT DO NOTHING on the given unique key; returns how many rows were really inserted.

    This is what makes landing idempotent without a read-before-write race between two writers.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    # the Core table, not the ORM entity: an ORM bulk INSERT costs a Python round per row for nothing we use here
    table = model.__table__
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(unique_columns))
    # The rows go as parameter sets from one cached statement (.values(rows) compiled a new 200-row statement every
    # batch). Where the driver sums rowcount over an executemany (sqlite3, psycopg 3) no RETURNING is needed and
    # the driver runs the parameter sets itself (psycopg pipelines them): a third of what RETURNING's multi-row
    # VALUES statement cost on PostgreSQL. Elsewhere RETURNING counts what was really written.
    if session.get_bind().dialect.supports_sane_multi_rowcount:
        return int(session.execute(stmt.execution_options(preserve_rowcount=True), list(rows)).rowcount)  # type: ignore[attr-defined]
    pk = next(iter(table.primary_key.columns))
    return len(session.execute(stmt.returning(pk), list(rows)).all())
