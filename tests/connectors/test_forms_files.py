"""Form exports dropped in a folder: CSV and JSON lines, resumable per file, nothing lost or doubled."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from connectors.forms.files import build
from crm_core.config import SourceConfig
from crm_core.landing import land_stream
from crm_core.records import Batch
from tests.connectors._forms_social_fixtures import hub_with_sources, ingest_killed_at_commit, landed_rows
from tests.servers import REPO

EXAMPLES = REPO / "examples" / "forms"


def source(folder: Path, **options: object) -> object:
    config = SourceConfig(name="exports", kind="form_files", mapping="x.yaml",
                          options={"path": str(folder), "settle_seconds": 0, **options})
    return build(config, None)


def read_all(folder: Path, cursor: dict | None = None, **options: object) -> list[Batch]:
    return list(source(folder, **options).read(cursor))  # type: ignore[attr-defined]


def test_the_bundled_csv_export_becomes_submissions_keyed_by_its_id_column(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "open-day-registrations.csv", tmp_path)
    records = [r for b in read_all(tmp_path) for r in b.records]
    assert [r.key for r in records] == ["open-day-registrations:OD-001", "open-day-registrations:OD-002",
                                        "open-day-registrations:OD-003"]
    first = records[0].payload
    assert first["fields"]["姓名"] == "王芳" and first["fields"]["购房预算"] == "200万以内"
    assert first["fields"]["备注"] == "希望了解学区房，\r\n最好靠近地铁"  # a quoted field spanning two lines
    assert records[2].payload["fields"]["购房预算"] == "£1,200,000"


def test_the_bundled_jsonl_posts_keep_an_edited_submission_as_a_second_version(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "website-posts.jsonl", tmp_path)
    records = [r for b in read_all(tmp_path) for r in b.records]
    assert len(records) == 5
    assert records[3].key == records[4].key == "contact-us:web-20250825-0004"
    assert records[3].content_hash() != records[4].content_hash()


def test_a_resumed_read_returns_only_rows_appended_since(tmp_path: Path) -> None:
    export = tmp_path / "leads.jsonl"
    export.write_text('{"id": "1", "name": "A"}\n{"id": "2", "name": "B"}\n', encoding="utf-8")
    [batch] = read_all(tmp_path)
    with export.open("a", encoding="utf-8") as f:
        f.write('{"id": "3", "name": "C"}\n')
    later = read_all(tmp_path, dict(batch.cursor))
    assert [r.key for b in later for r in b.records] == ["leads:3"]
    assert read_all(tmp_path, dict(later[-1].cursor)) == []


def test_a_csv_resumed_mid_file_still_knows_its_header(tmp_path: Path) -> None:
    export = tmp_path / "leads.csv"
    export.write_text("id,name\n1,A\n2,B\n", encoding="utf-8")
    batches = read_all(tmp_path, batch_size=1)
    assert len(batches) == 2
    resumed = read_all(tmp_path, dict(batches[0].cursor))
    assert [r.payload["fields"] for b in resumed for r in b.records] == [{"name": "B"}]


def test_a_last_line_still_being_written_waits_for_the_next_run(tmp_path: Path) -> None:
    export = tmp_path / "leads.jsonl"
    export.write_text('{"id": "1"}\n{"id": "2", "na', encoding="utf-8")
    [batch] = read_all(tmp_path, settle_seconds=3600)
    assert [r.key for r in batch.records] == ["leads:1"]
    with export.open("a", encoding="utf-8") as f:
        f.write('me": "B"}\n')
    assert [r.key for b in read_all(tmp_path, dict(batch.cursor)) for r in b.records] == ["leads:2"]


def test_a_settled_file_without_a_final_newline_is_read_to_the_end(tmp_path: Path) -> None:
    (tmp_path / "leads.jsonl").write_text('{"id": "1"}\n{"id": "2"}', encoding="utf-8")
    assert [r.key for b in read_all(tmp_path) for r in b.records] == ["leads:1", "leads:2"]


def test_a_replaced_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    export = tmp_path / "leads.jsonl"
    export.write_text('{"id": "1"}\n{"id": "2"}\n', encoding="utf-8")
    [batch] = read_all(tmp_path)
    export.write_text('{"id": "9"}\n', encoding="utf-8")  # a new export under the same name
    assert [r.key for b in read_all(tmp_path, dict(batch.cursor)) for r in b.records] == ["leads:9"]


def test_a_gbk_export_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_bytes("编号,姓名,购房预算\nG-1,赵敏,120万\n".encode("gbk"))
    [record] = [r for b in read_all(tmp_path) for r in b.records]
    assert record.key == "leads:G-1" and record.payload["fields"] == {"姓名": "赵敏", "购房预算": "120万"}


def test_a_bad_line_lands_as_unreadable_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "leads.jsonl").write_text('{"id": "1"}\n{not json\n[1, 2]\n', encoding="utf-8")
    records = [r for b in read_all(tmp_path) for r in b.records]
    assert [r.key for r in records] == ["leads:1", "leads.jsonl:2:unreadable", "leads.jsonl:3:unreadable"]
    assert records[1].payload["error"].startswith("body is not valid JSON")


def test_a_kill_before_a_batch_commits_loses_and_doubles_nothing(db_url: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(EXAMPLES / "open-day-registrations.csv", drop)
    shutil.copy(EXAMPLES / "website-posts.jsonl", drop)
    old = os.path.getmtime(drop / "website-posts.jsonl") - 60
    os.utime(drop / "open-day-registrations.csv", (old, old))
    hub = hub_with_sources(tmp_path / "home", f"""  - name: exports
    kind: form_files
    mapping: stub-mapping.yaml
    options: {{path: "{drop}", batch_size: 2, settle_seconds: 0}}
""", url=db_url)
    for kill_at in (2, 4):  # batch 2 of the first run, then batch 2 of the resumed run
        assert ingest_killed_at_commit(hub, "exports", kill_at) == 9
    land_stream(hub.sessions, "exports", build(hub.config.source("exports"), hub).read)
    rows = landed_rows(hub, "exports")
    assert len(rows) == 8  # 3 CSV rows + 5 JSON lines (one an edited version), each exactly once
    assert len({(r.source_key, r.content_hash) for r in rows}) == 8
    hub.close()
