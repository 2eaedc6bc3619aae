"""The map stage: landed rows become contact records and interactions; bad rows go to the dead letter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from crm_core.db import transaction
from crm_core.dead_letter import payload_of
from crm_core.hub import Hub
from crm_core.jobs import map_landed
from crm_core.landing import land_batch
from crm_core.models import ContactRecord, Customer, DeadLetter, Interaction, LandingRecord
from crm_core.records import Batch, SourceRecord, canonical_json

HUB_YAML = """\
version: 1
sources:
  - name: web
    kind: form_webhook
    mapping: specs/web.yaml
"""
WEB_SPEC = """\
version: 1
defaults: {region: CN, timezone: Asia/Shanghai}
contacts:
  - key: ["{email}", "{phone}"]
    required: [[email, phone]]
    fields:
      full_name: name
      email: email
      phone: mobile
      handles.wechat: openid
    attributes:
      购房预算: {from: budget, type: decimal}
interaction:
  channel: web
  external_ref: id
  occurred_at: submitted
  summary: message
"""


def _hub(make_hub: Callable[..., Hub], db_url: str) -> Hub:
    return make_hub(HUB_YAML, url=db_url, files={"specs/web.yaml": WEB_SPEC})


def _land(hub: Hub, *payloads: dict[str, Any], source: str = "web") -> None:
    records = [SourceRecord(key=str(p["id"]), payload=p) for p in payloads]
    with transaction(hub.sessions) as session:
        land_batch(session, source, Batch(records=records, cursor={}))


def _form(id_: int, **fields: Any) -> dict[str, Any]:
    return {"id": id_, "submitted": "2025-08-23 09:30", "name": "张 三", "email": "Zhang.San@Example.com",
            "mobile": "138 0013 8000", "message": "想看两居室", **fields}


def test_a_clean_form_becomes_a_contact_record_and_an_interaction(make_hub: Callable[..., Hub],
                                                                  db_url: str) -> None:
    hub = _hub(make_hub, db_url)
    _land(hub, _form(1, budget="¥300万", openid="o6_bmjrPTlm6"))

    result = map_landed(hub, "web")

    assert (result.records_in, result.records_out, result.records_failed) == (1, 1, 0)
    with hub.sessions() as session:
        record = session.scalars(select(ContactRecord)).one()
        assert record.source_key == "zhang.san@example.com"  # the key template
        assert (record.email, record.phone, record.handle) == (
            "zhang.san@example.com", "+8613800138000", "wechat:o6_bmjrPTlm6")
        assert record.normalized["full_name"] == "张三" and record.normalized["family_name"] == "张"
        assert record.normalized["attributes"] == {"购房预算": 3000000}
        assert record.raw["email"] == "Zhang.San@Example.com"  # raw kept beside normalised
        interaction = session.scalars(select(Interaction)).one()
        assert interaction.contact_record_id == record.id
        assert interaction.occurred_at.isoformat() == "2025-08-23T01:30:00+00:00"
        assert interaction.source_tz == "Asia/Shanghai"
        assert session.scalars(select(LandingRecord.status)).one() == "mapped"


def test_a_row_with_an_invalid_value_goes_to_the_dead_letter_and_the_batch_continues(
        make_hub: Callable[..., Hub], db_url: str) -> None:
    hub = _hub(make_hub, db_url)
    _land(hub, _form(1), _form(2, email="li@", mobile="12"), _form(3, email="wang@example.cn", mobile=""))

    result = map_landed(hub, "web")

    assert (result.records_in, result.records_out, result.records_failed) == (3, 2, 1)
    with hub.sessions() as session:
        item = session.scalars(select(DeadLetter)).one()
        assert (item.stage, item.name, item.error_class) == ("map", "web", "ValidationError")
        assert "email:" in item.error_message and "phone:" in item.error_message
        assert "li@" not in item.error_message  # values are personal data: payload only
        assert "li@" not in (item.payload or "")  # the stored payload is encrypted at rest
        assert '"value":"li@"' in canonical_json(payload_of(item))  # read back through the decrypting API
        statuses = dict(session.execute(select(LandingRecord.source_key, LandingRecord.status)).all())
        assert statuses == {"1": "mapped", "2": "failed", "3": "mapped"}


def test_the_same_person_again_updates_one_record_and_bumps_its_version_only_on_change(
        make_hub: Callable[..., Hub], db_url: str) -> None:
    hub = _hub(make_hub, db_url)
    _land(hub, _form(1))
    map_landed(hub, "web")
    _land(hub, _form(2, submitted="2025-08-24 10:00", email=" zhang.san@EXAMPLE.com "))  # same values, new spelling
    map_landed(hub, "web")
    with hub.sessions() as session:
        assert session.scalars(select(ContactRecord.version)).one() == 1

    _land(hub, _form(3, submitted="2025-08-25 10:00", name="张三丰"))
    result = map_landed(hub, "web")

    assert result.detail["contacts_updated"] == 1
    with hub.sessions() as session:
        record = session.scalars(select(ContactRecord)).one()
        assert (record.version, record.normalized["full_name"]) == (2, "张三丰")
        assert session.scalar(select(func.count()).select_from(Interaction)) == 3


def test_an_older_submission_mapped_later_does_not_overwrite_newer_values(make_hub: Callable[..., Hub],
                                                                         db_url: str) -> None:
    hub = _hub(make_hub, db_url)
    _land(hub, _form(2, submitted="2025-09-01 10:00", name="张三丰"))
    map_landed(hub, "web")
    _land(hub, _form(1, submitted="2025-08-01 10:00", name="张三"))

    result = map_landed(hub, "web")

    assert result.detail["contacts_stale"] == 1
    with hub.sessions() as session:
        assert session.scalars(select(ContactRecord.normalized)).one()["full_name"] == "张三丰"


def test_an_interaction_links_to_the_customer_its_record_already_belongs_to(make_hub: Callable[..., Hub],
                                                                           db_url: str) -> None:
    hub = _hub(make_hub, db_url)
    _land(hub, _form(1))
    map_landed(hub, "web")
    with transaction(hub.sessions) as session:
        customer = Customer(golden={})
        session.add(customer)
        session.flush()
        session.scalars(select(ContactRecord)).one().customer_id = customer.id
        customer_id = customer.id

    _land(hub, _form(2, submitted="2025-08-24 09:00"))
    map_landed(hub, "web")

    with hub.sessions() as session:
        linked = session.scalars(select(Interaction).where(Interaction.external_ref == "2")).one()
        assert linked.customer_id == customer_id


def test_rows_of_a_source_without_a_spec_stay_new_and_are_reported(make_hub: Callable[..., Hub],
                                                                  db_url: str) -> None:
    hub = _hub(make_hub, db_url)
    _land(hub, _form(1), source="gone")
    _land(hub, _form(1))

    result = map_landed(hub)

    assert result.records_out == 1 and result.detail["unmapped_sources"] == "gone"
    with hub.sessions() as session:
        assert session.scalars(select(LandingRecord.status).where(LandingRecord.source == "gone")).one() == "new"


def test_many_rows_are_mapped_in_several_batches(make_hub: Callable[..., Hub], db_url: str) -> None:
    from crm_core.runs import StageResult
    from crm_core.staging import map_pending

    hub = _hub(make_hub, db_url)
    _land(hub, *[_form(i, email=f"p{i}@example.com", mobile="") for i in range(25)])
    result = StageResult(stage="map", name="web")

    map_pending(hub, result, source="web", batch_size=10)

    assert (result.records_in, result.records_out) == (25, 25)
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ContactRecord)) == 25
