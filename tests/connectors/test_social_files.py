"""Recorded social payloads read from a folder with the live parsers: the offline demo of the social channel."""

from __future__ import annotations

import shutil
from pathlib import Path

from connectors.social.files import build
from crm_core.config import SourceConfig
from crm_core.landing import land_stream
from tests.connectors._forms_social_fixtures import hub_with_sources, ingest_killed_at_commit, landed_rows
from tests.servers import REPO

EXAMPLES = REPO / "examples" / "social"


def read_keys(folder: Path) -> list[str]:
    config = SourceConfig(name="social", kind="social_files", mapping="x.yaml",
                          options={"path": str(folder), "settle_seconds": 0})
    return [r.key for b in build(config, None).read(None) for r in b.records]


def test_the_bundled_recordings_give_messages_events_mentions_and_dms(tmp_path: Path) -> None:
    for name in ("whatsapp-webhooks.jsonl", "wechat-pushes.jsonl", "x-api.jsonl"):
        shutil.copy(EXAMPLES / name, tmp_path)
    keys = read_keys(tmp_path)
    assert sorted(set(keys)) == sorted([
        "wamid:wamid.HBgNODYxMzgwMDEzODAwMBUCABIYFDNBMDFDQzY5RjFBQjE0RTZGRDEyAA==",
        "wamid:wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0E0QjY1OTlBRUUwMzgxMDE0NEYA",
        "wamid:wamid.HBgNODYxMzgwMDEzODAwMBUCABIYFDNBMDJERTc3RjFBQjE0RTZGRDEzAA==",
        "msg:24612345678901234",
        "event:oia2TjuEGTNoeX76QEjQNrcURxG8:1756022500:subscribe",
        "event:oia2TjuEGTNoeX76QEjQNrcURxG8:1756022560:CLICK",
        "tweet:1959234567890123457", "tweet:1959200000000000001", "dm:1959240000000000011",
    ])
    assert len(keys) == 11  # Meta's re-delivery and WeChat's retry are read again, and landing drops them


def test_an_unknown_channel_lands_as_unreadable(tmp_path: Path) -> None:
    (tmp_path / "odd.jsonl").write_text('{"channel": "fax", "body": {}}\n', encoding="utf-8")
    assert read_keys(tmp_path) == ["odd.jsonl:1:unreadable"]


def test_a_kill_before_commit_then_a_rerun_lands_each_message_once(db_url: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    for name in ("whatsapp-webhooks.jsonl", "wechat-pushes.jsonl", "x-api.jsonl"):
        shutil.copy(EXAMPLES / name, drop)
    hub = hub_with_sources(tmp_path / "home", f"""  - name: social
    kind: social_files
    mapping: stub-mapping.yaml
    options: {{path: "{drop}", batch_size: 2, settle_seconds: 0}}
""", url=db_url)
    assert ingest_killed_at_commit(hub, "social", 3) == 9
    land_stream(hub.sessions, "social", build(hub.config.source("social"), hub).read)
    rows = landed_rows(hub, "social")
    assert len(rows) == 9 and len({r.source_key for r in rows}) == 9
    hub.close()
