"""The three measured ways through the same export files, each run alone in a fresh interpreter.

    python -m bench.mapping.variants NAME DATA_DIR WORK_DIR     # prints one JSON line

- ``floor``: ``csv.DictReader`` over both files, nothing else: what reading the bytes costs at all.
- ``mapping``: the same reader, each row shaped as the form payload and put through ``mapping.apply`` with the
  built-in ``forms`` spec (every normaliser runs: names, e-mails, E.164 phones, dates, decimals, booleans).
- ``import``: what the command line does with a ``form_files`` source into a fresh SQLite hub: ``crmhub ingest``
  (connector → landing, cursor per batch) then the map stage ``crmhub sync`` runs (landing → contact records,
  interactions, dead letter) — ``crm_core.jobs.ingest`` and ``crm_core.jobs.map_landed``.

Peak memory is this process's ``ru_maxrss`` at the end, so each variant must run in its own process.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ENCODINGS = {"leads-utf8.csv": "utf-8", "leads-gbk.csv": "gbk"}
ID_COLUMNS = ("submission_id", "编号")
TIME_COLUMNS = ("submitted_at", "提交时间")


def _rows(data_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    for name, encoding in ENCODINGS.items():
        with (data_dir / name).open(encoding=encoding, newline="") as handle:
            for row in csv.DictReader(handle):
                yield name, row


def floor(data_dir: Path, _work: Path) -> dict[str, Any]:
    count = 0
    for _ in _rows(data_dir):
        count += 1
    return {"rows": count}


def mapping(data_dir: Path, _work: Path) -> dict[str, Any]:
    from crm_core.config import resolve_mapping_path
    from mapping import apply, load_spec

    spec = load_spec(resolve_mapping_path("builtin:forms", None))
    count = rejected = 0
    for name, row in _rows(data_dir):
        fields: dict[str, Any] = dict(row)
        sub_id = next(fields.pop(c) for c in ID_COLUMNS if c in fields)
        submitted = next(fields.pop(c) for c in TIME_COLUMNS if c in fields)
        payload = {"form": name.removesuffix(".csv"), "submission_id": sub_id, "submitted_at": submitted,
                   "fields": fields, "attachments": []}
        count += 1
        if apply(spec, payload, key=f"{payload['form']}:{sub_id}").errors:
            rejected += 1
    return {"rows": count, "rejected": rejected}


HUB_YAML = """\
version: 1
sources:
  - name: leads
    kind: form_files
    mapping: builtin:forms
    options: {{path: "{folder}", patterns: ["*.csv"], settle_seconds: 0}}
"""


def import_(data_dir: Path, work: Path) -> dict[str, Any]:
    from crm_core.hub import Hub, init_home
    from crm_core.jobs import ingest, map_landed

    os.environ.pop("HUB_DATABASE_URL", None)  # the embedded SQLite store under the hub home
    home = work / "hub"
    template = work / "hub.yaml"
    template.write_text(HUB_YAML.format(folder=data_dir), encoding="utf-8")
    init_home(home, template=template)
    hub = Hub.open(home)
    started = time.perf_counter()
    landed = ingest(hub, "leads")
    ingest_seconds = time.perf_counter() - started
    mapped = map_landed(hub, "leads")
    hub.close()
    return {"rows": landed.records_in, "landed": landed.records_out, "mapped": mapped.records_out,
            "rejected": mapped.records_failed, "ingest_seconds": round(ingest_seconds, 2),
            "db_bytes": (home / "hub.db").stat().st_size}


VARIANTS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {"floor": floor, "mapping": mapping, "import": import_}


def main(argv: list[str]) -> None:
    name, data_dir, work = argv[0], Path(argv[1]), Path(argv[2])
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = VARIANTS[name](data_dir, work)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
