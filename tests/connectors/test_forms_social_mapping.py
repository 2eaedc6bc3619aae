"""The mapping specs for forms and social payloads read every bundled example without an error: the payload shapes
the connectors produce and the specs that consume them agree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connectors.forms.files import build as forms_files
from connectors.social.files import build as social_files
from crm_core.config import SourceConfig
from crm_core.records import SourceRecord
from mapping import apply, load_spec
from tests.servers import REPO

SPECS = REPO / "mapping" / "specs"


def example_records(kind: str, folder: str, tmp_path: Path) -> list[SourceRecord]:
    for path in (REPO / "examples" / folder).iterdir():
        shutil.copy(path, tmp_path)
    config = SourceConfig(name="demo", kind=kind, mapping="x.yaml", options={"path": str(tmp_path), "settle_seconds": 0})
    build = forms_files if kind == "form_files" else social_files
    return [r for b in build(config, None).read(None) for r in b.records]


def test_every_form_example_maps_to_a_contact_and_a_web_interaction(tmp_path: Path) -> None:
    spec = load_spec(SPECS / "forms.yaml")
    for record in example_records("form_files", "forms", tmp_path):
        mapped = apply(spec, record.payload, record.key)
        assert mapped.errors == [], record.key
        assert len(mapped.contacts) == 1 and mapped.interactions[0].channel == "web"


def test_form_budgets_become_numbers_and_keep_their_text(tmp_path: Path) -> None:
    spec = load_spec(SPECS / "forms.yaml")
    by_key = {r.key: r for r in example_records("form_files", "forms", tmp_path)}
    zhang = apply(spec, by_key["contact-us:web-20250823-0001"].payload).contacts[0].contact
    li = apply(spec, by_key["viewing-request:web-20250824-0003"].payload).contacts[0].contact
    assert zhang.attributes == {"购房预算": 3000000, "购房预算_原文": "300万", "意向区域": "浦东新区"}
    assert "购房预算" not in li.attributes and li.attributes["购房预算_原文"] == "500-800万"  # a range is no number


def test_a_naive_export_time_is_read_as_shanghai_time(tmp_path: Path) -> None:
    spec = load_spec(SPECS / "forms.yaml")
    record = next(r for r in example_records("form_files", "forms", tmp_path) if r.key.endswith("OD-001"))
    assert apply(spec, record.payload, record.key).interactions[0].occurred_at == "2025-08-30T02:05:00+00:00"


@pytest.mark.parametrize("channel", ["whatsapp", "wechat", "x"])
def test_every_social_example_maps_without_errors(channel: str, tmp_path: Path) -> None:
    spec = load_spec(SPECS / f"{channel}.yaml")
    records = [r for r in example_records("social_files", "social", tmp_path) if r.payload["channel"] == channel]
    assert records
    for record in records:
        mapped = apply(spec, record.payload, record.key)
        assert mapped.errors == [] and len(mapped.contacts) == 1, record.key
        assert mapped.interactions[0].channel == "social"


def test_whatsapp_senders_get_e164_phones_from_their_wa_id(tmp_path: Path) -> None:
    spec = load_spec(SPECS / "whatsapp.yaml")
    phones = {apply(spec, r.payload, r.key).contacts[0].contact.phone
              for r in example_records("social_files", "social", tmp_path) if r.payload["channel"] == "whatsapp"}
    assert phones == {"+8613800138000", "+447400123456"}
