"""The full run (``crmhub dedupe``): worker processes, the name-block cap, shared key blocks.

Workers must not change the outcome, only the time; the name-block cap must leave identity keys (email, phone,
handle, national id) alone, because they are the keys that still find a person whose name blocks were dropped.
"""

from __future__ import annotations

import csv
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_core.cli import main
from crm_core.errors import HubError
from crm_core.resolution import Matcher, MatchModel, MatchRecord, Thresholds, build_profile, dedupe_rows
from crm_core.resolution._blocking import KeyPolicy, is_name_key, key_blocks, key_too_big
from crm_core.resolution._dedupe import MAX_NAME_BLOCK
from crm_core.resolution._engine import classify_keys
from crm_core.resolution._parallel import gamma_vectors, map_ranges

GIVEN = ["ann", "bob", "carla", "dieter", "eva", "li", "mei", "john", "sara", "tom", "wei", "yuki"]
FAMILY = ["lee", "marsh", "diaz", "wang", "zhang", "smith", "meyer", "tanaka", "brown", "chen"]
ROLES = {"given_name": "first", "family_name": "last", "email": "email", "phone": "phone", "birth_date": "dob",
         "postcode": "zip"}


def _typo(value: str, rng: random.Random) -> str:
    if len(value) < 3:
        return value
    i = rng.randrange(1, len(value) - 1)
    return value[:i] + value[i + 1] + value[i] + value[i + 2:]


def _people(entities: int, seed: int) -> list[dict[str, str]]:
    """Rows of ``entities`` people, most of them twice or three times with typos and missing values; few names, so
    name blocks are large and shared by different people."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for n in range(entities):
        person = {
            "first": rng.choice(GIVEN), "last": rng.choice(FAMILY), "email": f"p{n}@example.com",
            "phone": f"+49 151 {rng.randrange(10**7):07d}",
            "dob": f"{rng.randrange(1950, 2000)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "zip": f"{rng.randrange(10000, 10100)}",
        }
        for _copy in range(rng.choice((1, 2, 2, 3))):
            row = dict(person, id=f"r{len(rows)}")
            field = rng.choice(("first", "last", "email", "phone", "dob", "zip"))
            row[field] = _typo(row[field], rng) if rng.random() < 0.5 else ""
            rows.append(row)
    rng.shuffle(rows)
    return rows


# ---------------------------------------------------------------------------------------------- workers


def test_two_workers_give_the_same_clusters_as_one() -> None:
    rows = _people(400, seed=7)
    one = dedupe_rows([rows], "id", ROLES, workers=1)
    two = dedupe_rows([rows], "id", ROLES, workers=2)  # a number given forks whatever the size
    assert two.rows == one.rows
    assert two.pairs_scored == one.pairs_scored > 0
    assert 400 <= one.customers < len(rows)  # duplicates were found, and not everyone merged


def test_gamma_vectors_from_workers_are_the_in_process_vectors_in_pair_order() -> None:
    profiles = {i: build_profile({"given_name": g, "family_name": f, "birth_date": "1980-01-0" + str(i % 9 + 1)})
                for i, (g, f) in enumerate((g, f) for g in GIVEN for f in FAMILY)}
    pairs = [(a, b) for a in profiles for b in profiles if a < b]
    assert gamma_vectors(profiles, pairs, workers=2, min_items=0) == gamma_vectors(profiles, pairs, workers=1)


def test_map_ranges_covers_every_item_once_in_order() -> None:
    parts = map_ranges(lambda start, stop: list(range(start, stop)), 1001, workers=2, min_items=0)
    assert len(parts) > 1  # really split
    assert [x for part in parts for x in part] == list(range(1001))
    assert map_ranges(lambda start, stop: (start, stop), 0, workers=2, min_items=0) == [(0, 0)]


@pytest.fixture
def host_sigterm_handler() -> Iterator[None]:
    """What an Airflow task process has: a SIGTERM handler that records the signal and returns (no exit)."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.timeout(120)
def test_workers_do_not_keep_the_host_sigterm_handler(host_sigterm_handler: None) -> None:
    """A pool stops its workers with SIGTERM (after a broken worker, say); with the host's handler they ignored it
    and the run hung in CI, where earlier ``dag.test()`` tests leave Airflow's handler in the pytest process."""
    dispositions = map_ranges(lambda start, stop: signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, 64,
                              workers=2, min_items=0)
    assert len(dispositions) > 1 and all(dispositions)
    rows = _people(200, seed=3)
    assert dedupe_rows([rows], "id", ROLES, workers=2).rows == dedupe_rows([rows], "id", ROLES, workers=1).rows


@pytest.mark.timeout(120)
def test_a_worker_killed_mid_run_stops_the_run_with_an_error() -> None:
    parent = os.getpid()

    def work(start: int, stop: int) -> int:
        if start == 0 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
        return stop - start

    with pytest.raises(HubError, match="worker process died"):
        map_ranges(work, 1000, workers=2, min_items=0)
    assert map_ranges(lambda start, stop: stop - start, 1000, workers=2, min_items=0) == [125] * 8  # usable after


def test_dedupe_rejects_zero_workers() -> None:
    with pytest.raises(Exception, match="workers must be at least 1"):
        dedupe_rows([_people(3, seed=1)], "id", ROLES, workers=0)


# ---------------------------------------------------------------------------------------------- name-block cap


@pytest.mark.parametrize(
    ("key", "name_key"),
    [
        ("e:ann@x.com", False),  # email
        ("p:151234567", False),  # phone
        ("h:x:ann", False),  # handle
        ("n:110101199003077777", False),  # national id
        ("nm:ann|lee", True),  # given + family name
        ("fd:lee|1980-05-04", True),  # family name + birth date
        ("gp:ann|10115", True),  # given name + postcode
        ("ny:leann|1980", True),  # name prefixes + birth year
    ],
)
def test_is_name_key(key: str, name_key: bool) -> None:
    assert is_name_key(key) is name_key


def test_name_block_cap_applies_to_name_keys_only() -> None:
    policy = KeyPolicy(max_block=200, max_identity_block=2000, max_name_block=30)
    assert key_too_big("nm:ann|lee", 31, policy)
    assert not key_too_big("nm:ann|lee", 30, policy)
    assert not key_too_big("p:151234567", 31, policy)  # identity blocks keep their own cap
    assert not key_too_big("e:ann@x.com", 2000, policy)
    assert key_too_big("e:ann@x.com", 2001, policy)


def test_without_a_name_block_cap_name_blocks_fall_back_to_max_block() -> None:
    policy = KeyPolicy(max_block=200)
    assert policy.max_name_block is None
    assert not key_too_big("nm:ann|lee", 200, policy)
    assert key_too_big("nm:ann|lee", 201, policy)


def test_a_capped_name_block_still_links_through_a_shared_phone() -> None:
    # four Ann Lees born the same day; two of them share a phone: only the phone can tell who is who
    contacts = [
        {"given_name": "Ann", "family_name": "Lee", "birth_date": "1980-05-04", "phone": "+49 151 1111111"},
        {"given_name": "Ann", "family_name": "Lee", "birth_date": "1980-05-04", "phone": "0151 1111111"},  # = 0
        {"given_name": "Ann", "family_name": "Lee", "birth_date": "1980-05-04", "phone": "+49 151 2222222"},
        {"given_name": "Ann", "family_name": "Lee", "birth_date": "1980-05-04", "phone": "+49 151 3333333"},
    ]
    records = [MatchRecord(i, build_profile(c)) for i, c in enumerate(contacts)]
    policy = KeyPolicy(max_name_block=3)
    hub, big = classify_keys(records, policy)
    assert {"nm:ann|lee", "fd:lee|1980-05-04"} <= big  # four holders > 3
    assert not any(key.startswith("p:") for key in big)
    outcome = Matcher(MatchModel(), Thresholds(), policy).run(records)
    assert outcome.pairs_scored == 1  # the phone pair, nothing from the dropped name blocks
    assert [0, 1] in [members for _clusters, members in outcome.groups]


def test_dedupe_caps_name_blocks_at_thirty() -> None:
    assert MAX_NAME_BLOCK == 30
    rows = [{"id": str(i), "first": "Ann", "last": "Lee", "dob": "1980-05-04", "email": f"ann{i}@x.com"}
            for i in range(MAX_NAME_BLOCK + 1)]
    result = dedupe_rows([rows], "id", {"given_name": "first", "family_name": "last", "birth_date": "dob",
                                        "email": "email"}, workers=1)
    assert result.pairs_scored == 0  # 31 namesakes: every name block is over the cap, and no email is shared


# ---------------------------------------------------------------------------------------------- key blocks


def test_key_blocks_lists_each_holder_once() -> None:
    blocks = key_blocks({1: ["e:a@x.com", "nm:ann|lee", "e:a@x.com"], 2: ["nm:ann|lee"], 3: []})
    assert blocks == {"e:a@x.com": [1], "nm:ann|lee": [1, 2]}


def test_candidate_pairs_skip_blocks_only_existing_records_hold() -> None:
    keys = {1: ["nm:ann|lee"], 2: ["nm:ann|lee", "p:1"], 3: ["p:1"], 4: ["p:2"], 5: ["p:2"]}
    records = [MatchRecord(1, {}), MatchRecord(2, {}, cluster="c1", new=False), MatchRecord(3, {}, cluster="c1", new=False),
               MatchRecord(4, {}, cluster="c2", new=False), MatchRecord(5, {}, cluster="c3", new=False)]
    # 1-2 share a name key 1 holds; 2-3 share only a phone no new record holds; 4-5 likewise
    assert Matcher.candidate_pairs(records, keys, set()) == [(1, 2)]


# ---------------------------------------------------------------------------------------------- command line


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["id", "first", "last", "email", "phone", "dob", "zip"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_cli_workers_option_gives_the_same_output(tmp_path: Path) -> None:
    source = _write(tmp_path / "people.csv", _people(150, seed=3))
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.csv"
        argv = ["dedupe", str(source), "--id-column", "id", "--field", "postcode=zip", "--workers", workers,
                "--out", str(out)]
        assert main(argv) == 0
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") == 1 + len(_people(150, seed=3))


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_cli_rejects_workers_below_one(tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path / "people.csv", _people(3, seed=1))
    with pytest.raises(SystemExit) as exit_info:
        main(["dedupe", str(source), "--id-column", "id", "--workers", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--workers" in err
    assert ("at least 1" in err) if value != "two" else ("whole number" in err)
