"""The measured ways of reading the same mailbox, each run alone in a fresh interpreter.

    python -m bench.imap.variants NAME SETUP_JSON     # prints one JSON line

- ``bare``: imapclient alone, issuing the FETCH commands the hub issues — per chunk of ``chunk_size`` UIDs,
  ``BODYSTRUCTURE RFC822.SIZE BODY.PEEK[HEADER]``, then ``BODY.PEEK[<section>]<0.cap>`` per distinct text section
  (known from generation, so nothing is parsed) — and keeping nothing.
- ``raw``: the same commands through imaplib (``IMAPClient._imap``) with imapclient's response parsing left out:
  the floor any client pays for these bytes in Python. The hub parses FETCH answers itself (``connectors/email/
  _fetch.py``), so its ratio to ``bare`` can fall below what parsing with imapclient would allow.
- ``sqlite`` / ``postgres``: ``crm_core.jobs.ingest`` of a ``kind: imap`` source into a fresh hub (what
  ``crmhub ingest`` and the Airflow ingest task run): decode headers, pick the text part, build payloads, land
  them with the cursor in each batch's transaction.

Time counts from connecting (login included) to the last commit; imports and hub set-up are outside it. CPU is
this process's and its reaped children's (the hub's reader process), user + system, over the same span; the
servers' own CPU (Dovecot, PostgreSQL) is not in it.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

HUB_YAML = """\
version: 1
sources:
  - name: mail
    kind: imap
    mapping: builtin:mail
    connection_id: bench_mail
    options: {{chunk_size: {chunk_size}, text_cap: {text_cap}}}
"""


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bare(setup: dict[str, Any], parse: bool = True) -> dict[str, Any]:
    sections: list[str] = setup["sections"]
    chunk_size, cap = setup["chunk_size"], setup["text_cap"]
    started, cpu = time.perf_counter(), cpu_seconds()
    client = IMAPClient("127.0.0.1", port=setup["port"], ssl=False, timeout=60)
    client.login(setup["login"], setup["password"])
    client.select_folder("INBOX", readonly=True)
    uids = sorted(u for u in client.search(["UID", "1:*"]))
    fetched = 0

    def fetch(wanted: list[int], items: list[bytes]) -> int:
        if parse:
            return len(client.fetch(wanted, items))
        typ, data = client._imap.uid("FETCH", ",".join(map(str, wanted)), f"({b' '.join(items).decode()})")
        assert typ == "OK"
        return sum(1 for item in data if isinstance(item, tuple) and b"BODY[HEADER]" in item[0])

    for start in range(0, len(uids), chunk_size):
        chunk = uids[start:start + chunk_size]
        fetched += fetch(chunk, [b"BODYSTRUCTURE", b"RFC822.SIZE", b"BODY.PEEK[HEADER]"])
        by_section: dict[str, list[int]] = {}
        for uid in chunk:  # messages were appended in order: UID n is message n
            by_section.setdefault(sections[uid - 1], []).append(uid)
        for section, wanted in by_section.items():
            fetch(wanted, [f"BODY.PEEK[{section}]<0.{cap}>".encode()])
    client.logout()
    return {"messages": fetched, "seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu}


def hub(setup: dict[str, Any], database_url: str | None) -> dict[str, Any]:
    from crm_core.hub import Hub, init_home
    from crm_core.jobs import ingest

    work = Path(setup["work"])
    home = work / ("hub-postgres" if database_url else "hub-sqlite")
    template = work / "hub.yaml"
    home.mkdir(parents=True, exist_ok=True)
    template.write_text(HUB_YAML.format(chunk_size=setup["chunk_size"], text_cap=setup["text_cap"]), "utf-8")
    os.environ["AIRFLOW_CONN_BENCH_MAIL"] = setup["connection_uri"]
    if database_url:
        os.environ["HUB_DATABASE_URL"] = database_url
    else:
        os.environ.pop("HUB_DATABASE_URL", None)
    init_home(home, template=template)
    hub = Hub.open(home)
    import connectors.email.imap  # noqa: F401 - imported lazily by ingest; imports are not what is measured
    import crm_core.landing  # noqa: F401

    started, cpu = time.perf_counter(), cpu_seconds()
    result = ingest(hub, "mail")
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    hub.close()
    return {"messages": result.records_in, "landed": result.records_out, "seconds": seconds, "cpu": cpu}


def main(argv: list[str]) -> None:
    name, setup = argv[0], json.loads(Path(argv[1]).read_text("utf-8"))
    if name in ("bare", "raw"):
        result = bare(setup, parse=name == "bare")
    else:
        result = hub(setup, setup["postgres_url"] if name == "postgres" else None)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
