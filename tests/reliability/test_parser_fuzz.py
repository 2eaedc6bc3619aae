"""Fuzzing every parser that reads outside input: the answer is a record (or a named refusal), never a crash.

Hypothesis drives each parser with arbitrary bytes and with mutations of valid input:

- MIME messages and their headers (``payload_from_bytes``: the Maildir path; IMAP uses the same header and part
  functions), CDR lines and files, form exports (CSV and JSON lines, through the ``form_files`` source), mapping
  specs (``parse_spec``: a spec or a ``ConfigError`` listing problems);
- the map stage over arbitrary submissions in a real store: every row ends ``mapped``, or ``failed`` with a
  dead-letter item whose message names each rejected field and its reason.

Webhook bodies are fuzzed beside their parsers: ``tests/connectors/test_forms_payload.py`` and
``test_social_parsers.py``. ``HUB_FUZZ_EXAMPLES`` raises the number of examples per test (the CI default keeps the
suite fast; ``docs/reliability.md`` gives the long run). With ``HUB_FAULT_REPORT`` set, each test reports how many
inputs it tried.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.email._message import payload_from_bytes
from connectors.forms.files import build as form_files
from connectors.phone._cdr_parse import decode_line, parse_row
from connectors.phone.cdr import complete_rows
from crm_core.config import SourceConfig
from crm_core.db import make_engine, session_factory, transaction, upgrade
from crm_core.errors import ConfigError
from crm_core.landing import land_batch
from crm_core.models import DeadLetter, LandingRecord
from crm_core.records import Batch, SourceRecord, canonical_json
from crm_core.runs import StageResult
from crm_core.staging import map_batch
from mapping import load_spec, parse_spec

from .conftest import REPO

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "80"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])
STORE_FUZZ = settings(FUZZ, max_examples=max(10, EXAMPLES // 4))  # each example is a transaction on a real store
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAIL = (REPO / "examples" / "mail" / "1724376600.0001.eml").read_bytes()
CDR = [decode_line(line) for line in (REPO / "examples" / "cdr" / "Master.csv").read_bytes().splitlines()]
FORMS_SPEC = (REPO / "mapping" / "specs" / "forms.yaml").read_text(encoding="utf-8")


class Tally:
    """Counts the inputs a fuzz test tried, for the figures in docs/reliability.md."""

    def __init__(self) -> None:
        self.tried = 0

    def __call__(self) -> None:
        self.tried += 1


@pytest.fixture
def tally(report_fault: Callable[..., None], request: pytest.FixtureRequest) -> Iterator[Tally]:
    counter = Tally()
    yield counter
    report_fault(f"fuzz: {request.node.name.removeprefix('test_')}", counter.tried, 0, 0, kind="fuzz", crashes=0)


def _mutate(data: st.DataObject, text: bytes, rounds: int = 4) -> bytes:
    """Cut, insert and overwrite random spans: input that is almost right, where parsers break."""
    for _ in range(data.draw(st.integers(1, rounds))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 40))
        text = text[:at] + data.draw(st.binary(max_size=24)) + text[at + cut:]
    return text


header_names = st.sampled_from(["From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To",
                                "References", "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "X-Foo"])
header_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["=?utf-8?B?5Yqe5YWs?=", "=?gbk?Q?=D6=D0?=", "=?bogus?X?zz?=", "<>", "<a@b>, <c@d",
                     "multipart/mixed; boundary=\"b1\"", "text/plain; charset=x-unknown", "base64",
                     "quoted-printable", "Sat, 99 Foo 2025 25:61:00 +9999", "\"Zhang, San\" <zhang@例子.中国>"]),
)


@FUZZ
@given(data=st.data())
def test_mime_messages_and_headers(data: st.DataObject, tally: Tally) -> None:
    tally()
    kind = data.draw(st.sampled_from(["bytes", "mutated", "headers"]))
    if kind == "bytes":
        raw = data.draw(st.binary(max_size=2000))
    elif kind == "mutated":
        raw = _mutate(data, MAIL, rounds=8)
    else:
        lines = data.draw(st.lists(st.tuples(header_names, header_values), max_size=12))
        body = data.draw(st.binary(max_size=300))
        raw = "\r\n".join(f"{k}: {v}" for k, v in lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body
    key, payload = payload_from_bytes(raw, "INBOX")
    assert isinstance(key, str) and key
    canonical_json(payload)  # storable as it is


@FUZZ
@given(data=st.data())
def test_cdr_lines(data: st.DataObject, tally: Tally) -> None:
    tally()
    line = data.draw(st.one_of(
        st.text(max_size=400),
        st.builds(lambda b: b.decode("utf-8", "replace"), st.binary(max_size=400)),
        st.sampled_from(CDR),
    ))
    if data.draw(st.booleans()):
        line = _mutate(data, line.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")
    key, payload = parse_row(line, SHANGHAI)
    assert isinstance(key, str) and key
    assert payload.get("malformed") is True or payload["direction"] in ("inbound", "outbound", "internal")
    canonical_json(payload)


@FUZZ
@given(st.binary(max_size=3000))
def test_cdr_file_bytes_split_into_complete_rows(raw: bytes) -> None:
    ends = [end for end, _row in complete_rows(raw)]
    assert ends == sorted(ends) and all(0 < e <= len(raw) for e in ends)


@FUZZ
@given(data=st.data())
def test_form_exports_csv_and_json_lines(data: st.DataObject, tally: Tally) -> None:
    tally()
    kind = data.draw(st.sampled_from(["csv", "jsonl"]))
    if kind == "csv":
        rows = data.draw(st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=6), min_size=1, max_size=6))
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        content = out.getvalue().encode("utf-8", "surrogatepass")
    else:
        content = b"\n".join(data.draw(st.lists(st.binary(max_size=80), max_size=6))) + b"\n"
    if data.draw(st.booleans()):
        content = _mutate(data, content)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / f"export.{kind}").write_bytes(content)
        config = SourceConfig(name="fuzz", kind="form_files", mapping="x.yaml",
                              options={"path": folder, "settle_seconds": 0})
        records = [r for batch in form_files(config, None).read(None) for r in batch.records]
    for record in records:
        assert isinstance(record.key, str) and record.key
        canonical_json(dict(record.payload))
        if record.key.endswith(":unreadable"):
            assert record.payload["error"]  # a refusal always carries its reason


spec_keys = st.sampled_from(["version", "defaults", "contacts", "interaction", "fields", "from", "key", "required",
                             "transforms", "region", "timezone", "attributes", "on_error", "channel", "type",
                             "email", "phone", "full_name", "for_each", "role", "occurred_at", "external_ref"])
spec_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10),
              st.sampled_from(["first", "email", "CN", "reject", "drop", "decimal", "web", "{email}", "fields.x"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(spec_keys, inner, max_size=4)),
    max_leaves=20,
)


@FUZZ
@given(data=st.data())
def test_mapping_specs(data: st.DataObject, tally: Tally) -> None:
    tally()
    kind = data.draw(st.sampled_from(["text", "mutated", "structured"]))
    if kind == "text":
        text = data.draw(st.text(max_size=300))
    elif kind == "mutated":
        text = _mutate(data, FORMS_SPEC.encode()).decode("utf-8", "replace")
    else:
        import yaml

        text = yaml.safe_dump(data.draw(st.dictionaries(spec_keys, spec_values, max_size=5)), allow_unicode=True)
    try:
        parse_spec(text)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)


@pytest.fixture(scope="module")
def store() -> Iterator[sessionmaker[Session]]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/fuzz.db"
        upgrade(url)
        engine = make_engine(url)
        yield session_factory(engine)
        engine.dispose()


field_values = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.floats(allow_nan=True),
                         st.booleans(), st.lists(st.text(max_size=8), max_size=3),
                         st.sampled_from(["li@", "not a phone", "+86 138 0013 8000", "2025-02-30", "张伟", "300万"]))
submissions = st.fixed_dictionaries(
    {"fields": st.dictionaries(st.sampled_from(["name", "email", "phone", "mobile", "购房预算", "message", "city",
                                                "consent_marketing", "preferred_date", "邮箱", "x"]),
                               field_values, max_size=7)},
    optional={"submitted_at": st.one_of(st.text(max_size=25), st.just("2025-08-23T10:15:00+08:00")),
              "form": st.text(max_size=10), "submission_id": st.text(max_size=10)},
)
FORMS = load_spec(REPO / "mapping" / "specs" / "forms.yaml")


@STORE_FUZZ
@given(st.lists(submissions, min_size=1, max_size=5))
def test_the_map_stage_maps_or_dead_letters_every_row_with_a_reason(
    store: sessionmaker[Session], tally: Tally, payloads: list[dict[str, Any]]
) -> None:
    tally()
    base = tally.tried * 10
    records = [SourceRecord(key=f"fuzz-{base + i}", payload=p) for i, p in enumerate(payloads)]
    with transaction(store) as session:
        land_batch(session, "fuzzforms", Batch(records, {}))
        rows = list(session.scalars(select(LandingRecord).where(
            LandingRecord.source_key.in_([r.key for r in records]), LandingRecord.status == "new")))
        map_batch(session, "fuzzforms", FORMS, rows, StageResult("map", "fuzzforms"))
        for row in rows:
            assert row.status in ("mapped", "failed"), row.status
            if row.status == "failed":
                item = session.scalars(select(DeadLetter).where(DeadLetter.ref == str(row.id))).one()
                assert item.stage == "map" and item.error_message and item.payload_encrypted
                assert all(": " in part for part in item.error_message.split("; "))  # field: reason, each


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")], ids=["inf", "-inf", "nan"])
def test_a_non_finite_number_from_json_is_a_reason_not_a_crash(value: float) -> None:
    # found by fuzzing the map stage: json.loads (Twilio, REST pulls) accepts Infinity/NaN; to_decimal let the
    # float through and storing the record raised OverflowError, taking the whole batch down
    from mapping import NormalisationError, to_decimal

    with pytest.raises(NormalisationError, match="finite"):
        to_decimal(value)
