"""Dead-letter payloads are encrypted at rest, expire after the retention, and survive a key rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_core.dead_letter import expire_dead_letters, payload_of, rotate_dead_letter_keys, send_to_dead_letter
from crm_core.errors import StoreError
from crm_core.models import DeadLetter, utcnow

CANARY_EMAIL = "canary.dl.7f3a@example.test"
CANARY_PHONE = "+8613912345671"
PAYLOAD = {"from": CANARY_EMAIL, "phone": CANARY_PHONE, "name": "王小明"}


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = Fernet.generate_key().decode()
    monkeypatch.setenv("HUB_SECRET_KEY", value)
    return value


def _dead(sessions: sessionmaker[Session], message: str = "bad date", ref: str = "17") -> int:
    with sessions.begin() as s:
        return send_to_dead_letter(
            s, stage="map", name="mail", ref=ref, payload=PAYLOAD, error_class="ValidationError",
            error_message=message,
        ).id


def _raw_payload_column(sessions: sessionmaker[Session]) -> str:
    with sessions() as s:  # read around the ORM: what a database dump would show
        return "".join(s.execute(text("SELECT payload || error_message FROM dead_letter")).scalars())


def test_the_stored_payload_holds_no_personal_value_and_decrypts_back(sessions: sessionmaker[Session], key: str) -> None:
    item_id = _dead(sessions)
    raw = _raw_payload_column(sessions)
    assert CANARY_EMAIL not in raw and CANARY_PHONE not in raw and "王小明" not in raw
    with sessions() as s:
        item = s.get(DeadLetter, item_id)
        assert item is not None and item.payload_encrypted
        assert payload_of(item) == PAYLOAD


def test_personal_values_quoted_in_the_error_message_are_masked(sessions: sessionmaker[Session], key: str) -> None:
    _dead(sessions, message=f"invalid address {CANARY_EMAIL} for phone {CANARY_PHONE}")
    assert CANARY_EMAIL not in _raw_payload_column(sessions) and "13912345671" not in _raw_payload_column(sessions)


def test_items_past_the_retention_lose_their_payload_and_are_marked_expired(
    sessions: sessionmaker[Session], key: str
) -> None:
    old, recent = _dead(sessions, ref="17"), _dead(sessions, ref="18")
    with sessions.begin() as s:
        s.get(DeadLetter, old).created_at = utcnow() - timedelta(days=31)  # type: ignore[union-attr]
    with sessions.begin() as s:
        assert expire_dead_letters(s, retention_days=30) == 1
    with sessions() as s:
        items = {i.id: i for i in s.scalars(select(DeadLetter))}
    assert (items[old].status, items[old].payload, payload_of(items[old])) == ("expired", None, None)
    assert items[recent].status == "pending" and payload_of(items[recent]) == PAYLOAD


def test_a_rotated_key_still_reads_old_items_and_rotation_lets_the_old_key_go(
    sessions: sessionmaker[Session], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = _dead(sessions)
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("HUB_SECRET_KEY", f"{new},{key}")  # new key first, old one still listed
    with sessions() as s:
        assert payload_of(s.get(DeadLetter, item_id)) == PAYLOAD  # type: ignore[arg-type]
    with sessions.begin() as s:
        assert rotate_dead_letter_keys(s) == 1
    monkeypatch.setenv("HUB_SECRET_KEY", new)  # old key retired
    with sessions() as s:
        assert payload_of(s.get(DeadLetter, item_id)) == PAYLOAD  # type: ignore[arg-type]


def test_a_replaced_instead_of_rotated_key_is_reported_without_the_payload(
    sessions: sessionmaker[Session], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = _dead(sessions)
    monkeypatch.setenv("HUB_SECRET_KEY", Fernet.generate_key().decode())
    with sessions() as s, pytest.raises(StoreError, match="cannot be decrypted") as info:
        payload_of(s.get(DeadLetter, item_id))  # type: ignore[arg-type]
    assert CANARY_EMAIL not in str(info.value)


def test_without_a_configured_key_one_is_created_in_the_hub_home_readable_only_by_its_owner(
    sessions: sessionmaker[Session], tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    home = Path(str(tmp_path)) / "home"
    monkeypatch.delenv("HUB_SECRET_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_HUB_SECRET_KEY", raising=False)
    monkeypatch.setenv("HUB_HOME", str(home))
    item_id = _dead(sessions)
    assert (home / "secret.key").stat().st_mode & 0o077 == 0
    with sessions() as s:
        assert payload_of(s.get(DeadLetter, item_id)) == PAYLOAD  # type: ignore[arg-type]
