"""The store: migrations, landing idempotence, cursor in the batch's transaction, leases, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.db import current_revisions, head_revisions, make_engine, upgrade
from crm_core.errors import LeaseHeld
from crm_core.landing import land_stream, read_cursor
from crm_core.models import Base, Customer, LandingRecord, RunStat
from crm_core.records import Batch, SourceRecord
from crm_core.runs import lease, recorded_run


def test_migration_upgrades_empty_database_to_head(db_url: str) -> None:
    assert current_revisions(db_url) == head_revisions()
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    upgrade(db_url)
    assert current_revisions(db_url) == head_revisions()


def test_sqlite_store_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_timestamps_come_back_timezone_aware_in_utc(sessions: sessionmaker[Session]) -> None:
    shanghai = datetime(2025, 8, 23, 9, 30, tzinfo=UTC) + timedelta(hours=0)
    with sessions.begin() as s:
        s.add(Customer(golden={"full_name": "张三"}, created_at=shanghai))
    with sessions() as s:
        row = s.scalars(select(Customer)).one()
    assert row.created_at == shanghai and row.created_at.tzinfo is not None
    assert row.golden["full_name"] == "张三"


def _records(*keys: str, version: str = "v1") -> list[SourceRecord]:
    return [SourceRecord(key=k, payload={"email": f"{k}@example.com", "v": version}) for k in keys]


def test_landing_the_same_batch_twice_lands_it_once(sessions: sessionmaker[Session]) -> None:
    batch = Batch(records=_records("a", "b"), cursor={"offset": 2})
    first = land_stream(sessions, "forms", lambda _c: [batch])
    second = land_stream(sessions, "forms", lambda _c: [batch])
    assert (first.landed, second.landed, second.duplicates) == (2, 0, 2)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(LandingRecord)) == 2


def test_a_changed_version_of_a_record_lands_as_a_new_row(sessions: sessionmaker[Session]) -> None:
    land_stream(sessions, "forms", lambda _c: [Batch(_records("a"), {"offset": 1})])
    result = land_stream(sessions, "forms", lambda _c: [Batch(_records("a", version="v2"), {"offset": 1})])
    assert result.landed == 1


def test_the_cursor_is_read_back_and_advanced_per_batch(sessions: sessionmaker[Session]) -> None:
    seen: list[object] = []

    def read(cursor: dict[str, object] | None) -> list[Batch]:
        seen.append(cursor)
        return [Batch(_records("a"), {"offset": 1}), Batch(_records("b"), {"offset": 2})]

    land_stream(sessions, "cdr", read)
    land_stream(sessions, "cdr", read)
    assert seen == [None, {"offset": 2}]


def test_a_crash_mid_batch_rolls_back_rows_and_cursor_together(sessions: sessionmaker[Session]) -> None:
    class Boom(Exception):
        pass

    def read(_cursor: object) -> object:
        yield Batch(_records("a"), {"offset": 1})
        raise Boom

    with pytest.raises(Boom):
        land_stream(sessions, "cdr", read)
    with sessions() as s:
        assert read_cursor(s, "cdr") == {"offset": 1}
        assert s.scalar(select(func.count()).select_from(LandingRecord)) == 1


def test_a_held_lease_refuses_a_second_run(sessions: sessionmaker[Session]) -> None:
    with lease(sessions, "source:imap", holder="run-1"):
        with pytest.raises(LeaseHeld, match="already running"):
            with lease(sessions, "source:imap", holder="run-2"):
                pass
    with lease(sessions, "source:imap", holder="run-2"):  # released after the first run
        pass


def test_an_expired_lease_is_taken_over(sessions: sessionmaker[Session]) -> None:
    with lease(sessions, "source:imap", ttl=timedelta(seconds=-1), holder="killed-run"):
        with lease(sessions, "source:imap", holder="next-run"):
            pass


def test_recorded_run_stores_counts_and_failure(sessions: sessionmaker[Session]) -> None:
    with recorded_run(sessions, "ingest", "forms", run_id="r1") as result:
        result.records_in, result.records_out = 5, 4
    with pytest.raises(RuntimeError):
        with recorded_run(sessions, "ingest", "forms", run_id="r2"):
            raise RuntimeError("vendor down")
    with sessions() as s:
        rows = list(s.scalars(select(RunStat).order_by(RunStat.id)))
    assert [(r.status, r.records_in, r.records_out) for r in rows] == [("success", 5, 4), ("failed", 0, 0)]
    assert rows[1].message == "RuntimeError: vendor down"


def test_a_landed_payload_is_the_canonical_text_its_hash_was_taken_of(sessions: sessionmaker[Session]) -> None:
    """The payload is encoded once: the stored JSON is the hashed text, datetimes and Chinese included."""
    when = datetime(2025, 8, 23, 9, 30, tzinfo=UTC)
    record = SourceRecord(key="m1", payload={"name": "张三", "at": when, "tags": ["a", "b"]})
    land_stream(sessions, "mail", lambda _c: [Batch([record], {"uid": 1})])
    with sessions() as s:
        row = s.scalars(select(LandingRecord)).one()
        cursor = read_cursor(s, "mail")
    assert row.payload == {"name": "张三", "at": when.isoformat(sep=" "), "tags": ["a", "b"]}
    assert row.content_hash == record.content_hash()
    assert cursor == {"uid": 1}  # other JSON columns are still encoded from their dicts


def test_the_json_serializer_passes_serialised_text_through_and_encodes_the_rest() -> None:
    from crm_core.records import SerializedJSON, store_json

    assert store_json(SerializedJSON('{"a":"张"}')) == '{"a":"张"}'
    assert type(store_json(SerializedJSON("{}"))) is str  # a plain str for the driver
    assert store_json({"a": 1}) == '{"a": 1}'
