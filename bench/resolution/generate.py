"""Labelled synthetic people for the resolution benchmark: Western and Chinese, with realistic noise.

Each entity (a person) gets 1–4 records. Noise per duplicate: typos (insert/delete/substitute/transpose), given and
family name swapped, nicknames, Chinese names written in characters or pinyin (with or without the space, family
first or last), phone formats (``+86 138…``, ``0138…``, spaces/dashes), e-mail case, birth dates with a swapped
day/month or a typo, missing values. Hard negatives: household members sharing family name, address and home phone;
namesakes (common Chinese names).

    python -m bench.resolution.generate --entities 1000 --out /tmp/people.csv [--link A.csv B.csv]
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from faker import Faker

COLUMNS = ["id", "entity", "first_name", "surname", "dob", "email", "phone", "street", "street_number", "city",
           "postcode", "national_id", "company"]
NICKS = {"robert": "bob", "william": "bill", "elizabeth": "liz", "james": "jim", "michael": "mike",
         "thomas": "tom", "richard": "rick", "katherine": "kate", "jennifer": "jen", "christopher": "chris",
         "joseph": "joe", "daniel": "dan", "matthew": "matt", "anthony": "tony", "patricia": "pat"}
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(len(text) - 1)
    op = rng.choice("isdt")
    if op == "i":
        return text[:i] + rng.choice(LETTERS) + text[i:]
    if op == "s":
        return text[:i] + rng.choice(LETTERS) + text[i + 1:]
    if op == "d":
        return text[:i] + text[i + 1:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).capitalize()


class People:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.west = Faker(["en_US", "en_GB", "de_DE"])
        self.cn = Faker("zh_CN")
        self.west.seed_instance(seed)
        self.cn.seed_instance(seed + 1)

    def entity(self) -> dict[str, Any]:
        rng = self.rng
        chinese = rng.random() < 0.35
        fake = self.cn if chinese else self.west
        person: dict[str, Any] = {"chinese": chinese}
        if chinese:
            person["first_name"], person["surname"] = fake.first_name(), fake.last_name()
            user = _pinyin(person["surname"]).lower() + _pinyin(person["first_name"]).lower()
            person["email"] = f"{user}{rng.randrange(100)}@{rng.choice(['qq.com', '163.com', 'gmail.com'])}"
            person["phone"] = "+861" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))
            person["national_id"] = "".join(rng.choice("0123456789") for _ in range(18))
        else:
            person["first_name"], person["surname"] = fake.first_name(), fake.last_name()
            user = f"{person['first_name']}.{person['surname']}".lower().replace(" ", "")
            person["email"] = f"{user}{rng.randrange(100)}@{fake.free_email_domain()}"
            person["phone"] = "+44 7" + "".join(rng.choice("0123456789") for _ in range(9))
            person["national_id"] = "".join(rng.choice("0123456789") for _ in range(9))
        person["dob"] = fake.date_of_birth(minimum_age=18, maximum_age=90).isoformat()
        person["street"] = fake.street_name()
        person["street_number"] = str(rng.randrange(1, 300))
        person["city"] = fake.city()
        person["postcode"] = fake.postcode()
        person["company"] = fake.company()
        return person

    def household_member(self, person: dict[str, Any]) -> dict[str, Any]:
        """Same family name, address and home phone; a different person."""
        other = self.entity()
        other["chinese"] = person["chinese"]
        if person["chinese"]:
            other["first_name"] = self.cn.first_name()
        else:
            other["first_name"] = self.west.first_name()
        for key in ("surname", "street", "street_number", "city", "postcode", "phone"):
            other[key] = person[key]
        return other

    def record(self, person: dict[str, Any], noisy: bool) -> dict[str, str]:
        rng = self.rng
        rec = {k: str(person[k]) for k in COLUMNS if k in person}
        if person["chinese"] and (not noisy or rng.random() < 0.5):
            if rng.random() < 0.5:  # pinyin spelling
                rec["first_name"], rec["surname"] = _pinyin(rec["first_name"]), _pinyin(rec["surname"])
        if not noisy:
            return rec
        if rng.random() < 0.25:
            field = rng.choice(["first_name", "surname"])
            rec[field] = typo(rng, rec[field])
        if rng.random() < 0.08:
            rec["first_name"], rec["surname"] = rec["surname"], rec["first_name"]
        if rng.random() < 0.3 and rec["first_name"].lower() in NICKS:
            rec["first_name"] = NICKS[rec["first_name"].lower()].capitalize()
        if rng.random() < 0.3:
            digits = rec["phone"].replace(" ", "").replace("+86", "0").replace("+44", "0")
            rec["phone"] = rng.choice([digits, f"{digits[:4]}-{digits[4:7]}-{digits[7:]}", rec["phone"]])
        if rng.random() < 0.1:
            rec["phone"] = typo(rng, rec["phone"].replace("+", "")) if rng.random() < 0.5 else ""
        if rng.random() < 0.2:
            rec["email"] = rec["email"].upper() if rng.random() < 0.5 else ""
        elif rng.random() < 0.1:
            rec["email"] = typo(rng, rec["email"])
        if rng.random() < 0.15:
            y, m, d = rec["dob"].split("-")
            rec["dob"] = rng.choice([f"{y}-{d}-{m}" if int(d) <= 12 else f"{y}-{m}-{d}", typo(rng, rec["dob"]),
                                     f"{d}/{m}/{y}"])
        for field in ("street", "city", "company"):
            if rng.random() < 0.1:
                rec[field] = typo(rng, rec[field])
        for field in ("dob", "postcode", "national_id", "company", "street", "street_number", "city"):
            if rng.random() < 0.15:
                rec[field] = ""
        if rng.random() < 0.05:
            rec["national_id"] = typo(rng, rec["national_id"])
        return rec


def generate(entities: int, seed: int = 7) -> Iterator[dict[str, str]]:
    """Records with an ``entity`` label, shuffled; ids ``r<n>``."""
    people = People(seed)
    rows: list[dict[str, str]] = []
    for e in range(entities):
        person = people.entity()
        copies = people.rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
        for c in range(copies):
            rows.append({**people.record(person, noisy=c > 0), "entity": f"e{e}"})
        if people.rng.random() < 0.05:
            member = people.household_member(person)
            rows.append({**people.record(member, noisy=False), "entity": f"e{e}h"})
    people.rng.shuffle(rows)
    for n, row in enumerate(rows):
        row["id"] = f"r{n}"
        yield {k: row.get(k, "") for k in COLUMNS}


def write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def split_for_linkage(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Two files: an entity's first record to A, its second to B (others dropped); singletons alternate."""
    seen: dict[str, int] = {}
    a: list[dict[str, str]] = []
    b: list[dict[str, str]] = []
    for row in rows:
        n = seen.get(row["entity"], 0)
        seen[row["entity"]] = n + 1
        if n == 0:
            a.append(row)
        elif n == 1:
            b.append(row)
    singles = {e for e, n in seen.items() if n == 1}
    moved = [r for i, r in enumerate(x for x in a if x["entity"] in singles) if i % 2]
    moved_ids = {r["id"] for r in moved}
    return [r for r in a if r["id"] not in moved_ids], b + moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write(args.out, list(generate(args.entities, args.seed)))


if __name__ == "__main__":
    main()
