"""The screen-pop lookup reads a shared key's newest records from an index in order, never sorts all of them.

A switchboard number or an info@ address carries hundreds of contact records; the lookup wants the newest five.
Latency itself is measured by ``python -m bench.lookup`` (docs/deploy.md), never here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect, text

from crm_core.db import make_engine, session_factory, transaction
from crm_core.lookup import lookup_customer
from crm_core.models import ContactRecord, Customer

SWITCHBOARD = "+862162880000"


def test_the_store_indexes_both_lookup_keys_with_their_recency(db_url: str) -> None:
    engine = make_engine(db_url)
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("contact_record")}
    engine.dispose()
    assert indexes["ix_contact_record_email_seen"] == ["email", "observed_at"]
    assert indexes["ix_contact_record_phone_seen"] == ["phone", "observed_at"]
    assert "ix_contact_record_email" not in indexes and "ix_contact_record_phone" not in indexes  # replaced


def _statements(engine: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, params, _ctx, _many: seen.append((statement, params)))
    return seen


def test_a_switchboard_number_is_looked_up_without_sorting_its_records(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    sessions = session_factory(engine)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with transaction(sessions) as session:
        session.execute(text("TRUNCATE contact_record, customer RESTART IDENTITY CASCADE"))
        callers = [Customer(golden={"full_name": f"Caller {n}"}) for n in range(300)]
        session.add_all(callers)
        session.flush()
        session.add_all(ContactRecord(source="calls", source_key=f"call-{n}", customer_id=c.id, phone=SWITCHBOARD,
                                      observed_at=start + timedelta(minutes=n)) for n, c in enumerate(callers))
    with engine.connect() as conn:
        conn.execute(text("ANALYZE contact_record"))
        conn.commit()
    statements = _statements(engine)
    with sessions() as session:
        found = lookup_customer(session, phone=SWITCHBOARD)
    assert found.customer is not None and found.customer["full_name"] == "Caller 299"  # the newest record's
    [(sql, params)] = [(s, p) for s, p in statements if "JOIN contact_record" in s]
    with engine.connect() as conn:
        # on a table this small a sequential scan wins; forbid it and sorting to see what the indexes allow
        conn.execute(text("SET enable_seqscan = off"))
        conn.execute(text("SET enable_sort = off"))
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
    engine.dispose()
    assert "ix_contact_record_phone_seen" in plan and "Sort" not in plan, plan
