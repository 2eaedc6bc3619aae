"""``crmhub dedupe``: deduplicate (one file) or link and deduplicate (several files) CSV rows, in memory.

It needs no configuration and no labels: columns map to roles by their headers (or ``--field ROLE=COLUMN``), the
Fellegi–Sunter parameters are estimated by EM on the files' own candidate pairs, and the output is one
``record_id,customer_id`` line per input row. It runs the same ``Matcher`` the hub's resolution stage runs.

Two defaults differ from the store's, because a file is matched as a whole, all at once:

- name blocks are capped at ``MAX_NAME_BLOCK`` members (the store uses ``max_block_size``): in a million rows a
  common name with a birth year or postcode holds hundreds of people, and comparing each of them with each other
  is most of the work while adding next to no links that a smaller key (email, phone, name + exact birth date)
  does not find as well; identity blocks keep their own, larger cap.
- profiles are built and pairs compared in ``workers`` processes (default: every CPU), see ``_parallel``.
"""

from __future__ import annotations

import csv
import gc
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HubError
from ._blocking import KeyPolicy, blocking_keys
from ._engine import Matcher, MatchRecord, Thresholds
from ._model import MatchModel
from ._parallel import MIN_PARALLEL_ITEMS, default_workers, map_ranges
from ._profile import Profile, build_profile

ROLES = ("given_name", "family_name", "full_name", "email", "phone", "birth_date", "street_number", "street",
         "address_line2", "city", "postcode", "state", "country", "national_id", "company")

_HEADER_ROLES = {
    "given_name": "given_name first_name firstname forename given first fname vorname 名",
    "family_name": "family_name last_name lastname surname family last lname nachname 姓",
    "full_name": "full_name name fullname contact_name customer_name 姓名",
    "email": "email email_address e_mail mail 邮箱 电子邮件",
    "phone": "phone phone_number telephone tel mobile cell phone_no 电话 手机",
    "birth_date": "birth_date date_of_birth dob birthdate birthday 出生日期 生日",
    "street_number": "street_number house_number housenumber number street_no house_no 门牌号",
    "street": "street address address_1 address1 street_address addr road 街道 地址",
    "address_line2": "address_line2 address_2 address2 suburb district 区",
    "city": "city town locality 城市",
    "postcode": "postcode zip zipcode postal_code zip_code postalcode plz 邮编",
    "state": "state province region county 省",
    "country": "country country_code 国家",
    "national_id": "national_id ssn soc_sec_id social_security_number id_number 身份证号 身份证",
    "company": "company employer organization organisation 公司",
}
MAX_NAME_BLOCK = 30

_LOOKUP = {alias: role for role, aliases in _HEADER_ROLES.items() for alias in aliases.split()}


def detect_roles(headers: Sequence[str], given: Mapping[str, str] | None = None) -> dict[str, str]:
    """role -> column, from explicit ``given`` pairs first and header names for the rest."""
    roles = dict(given or {})
    for role in roles:
        if role not in ROLES:
            raise HubError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    taken = set(roles.values())
    for header in headers:
        key = re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", header.strip().lower()).strip("_")
        role = _LOOKUP.get(key)
        if role and role not in roles and header not in taken:
            roles[role] = header
            taken.add(header)
    return roles


@dataclass
class DedupeResult:
    rows: list[tuple[str, str]]  # (record_id, customer_id) in input order
    roles: dict[str, str]
    pairs_scored: int
    customers: int


def dedupe_rows(
    tables: Sequence[Sequence[Mapping[str, str]]],
    id_column: str,
    roles: Mapping[str, str],
    thresholds: Thresholds | None = None,
    policy: KeyPolicy | None = None,
    workers: int | None = None,
) -> DedupeResult:
    """Cluster the rows of one or more tables (already read) into customers.

    ``workers``: processes building profiles and comparing pairs. By default every CPU, for files large enough to
    be worth the processes (``MIN_PARALLEL_ITEMS`` rows or pairs); a number given is used whatever the size, and 1
    keeps everything in this process.

    The collector is off while the run builds its millions of long-lived profiles, keys and pairs: each of its
    passes would walk all of them again to find no garbage (the structures hold no reference cycles).
    """
    min_parallel = MIN_PARALLEL_ITEMS if workers is None else 0
    if workers is None:
        workers = default_workers()
    if workers < 1:
        raise HubError(f"workers must be at least 1, not {workers}")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        rows = [row for table in tables for row in table]
        role_items = list(roles.items())

        def profile_rows(start: int, stop: int) -> list[tuple[Profile, list[str]]]:
            out = []
            for row in rows[start:stop]:
                profile = build_profile({role: row.get(column) or "" for role, column in role_items})
                out.append((profile, blocking_keys(profile)))
            return out

        records: list[MatchRecord] = []
        keys: dict[int, list[str]] = {}
        for part in map_ranges(profile_rows, len(rows), workers, min_parallel):
            for profile, record_keys in part:
                keys[len(records)] = record_keys
                records.append(MatchRecord(id=len(records), profile=profile))
        ids = [str(row.get(id_column, "")) for row in rows]
        policy = policy or KeyPolicy(max_name_block=MAX_NAME_BLOCK)
        matcher = Matcher(MatchModel(), thresholds or Thresholds(auto_link=0.9, review=0.9), policy, protect=True)
        outcome = matcher.run(records, estimate=True, term_frequencies=True, keys=keys, workers=workers,
                              min_parallel=min_parallel)
        customer_of: dict[int, str] = {}
        for n, (_clusters, members) in enumerate(outcome.groups, start=1):
            for rid in members:
                customer_of[rid] = str(n)
        assignments = [(ids[r.id], customer_of[r.id]) for r in records]
    finally:
        if gc_was_enabled:
            gc.enable()
    return DedupeResult(assignments, dict(roles), outcome.pairs_scored, len(outcome.groups))


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except FileNotFoundError:
        raise HubError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise HubError(f"{path}: not UTF-8 text; convert it first (e.g. iconv -f GBK -t UTF-8)") from None


def dedupe_files(
    paths: Sequence[Path],
    id_column: str,
    fields: Mapping[str, str] | None = None,
    out: Path | None = None,
    thresholds: Thresholds | None = None,
    workers: int | None = None,
) -> DedupeResult:
    tables: list[list[dict[str, str]]] = []
    headers: list[str] = []
    for path in paths:
        file_headers, rows = read_csv(path)
        if id_column not in file_headers:
            raise HubError(f"{path}: no column {id_column!r} (columns: {', '.join(file_headers)})")
        headers += [h for h in file_headers if h not in headers]
        tables.append(rows)
    roles = detect_roles([h for h in headers if h != id_column], fields)
    if not roles:
        raise HubError("no column maps to a role; name them with --field ROLE=COLUMN")
    result = dedupe_rows(tables, id_column, roles, thresholds, workers=workers)
    if out is not None:
        write_pairs(out, result.rows)
    return result


def write_pairs(path: Path, rows: Iterable[tuple[str, Any]]) -> None:
    """The output is opened in spreadsheets: record ids come from the input, so cells are formula-escaped."""
    from ..security import spreadsheet_row

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record_id", "customer_id"])
        writer.writerows(spreadsheet_row(row) for row in rows)
