"""Synthetic customers for the lookup benchmark, written straight into COPY text (no ORM, no Faker).

Every value is a pure function of the customer number, so the benchmark can ask for customer 123,456's e-mail or
phone without keeping a million of them in memory, and a run with the same ``--customers`` loads the same data.

Shape per customer (what a year of a mid-sized hub looks like, roughly):

- one ``web_forms`` contact record with the primary e-mail and phone (60 % ``+86`` mobiles, the rest UK, German
  and US numbers);
- 40 %: a ``mailbox`` record with a second (work) address; 30 %: a ``calls`` record with the phone again;
- 1 % of records carry a *hub identifier* instead (one of 100 switchboard numbers or ``info@`` addresses shared by
  ~100 records each): the keys that make a naive lookup sort hundreds of rows;
- 1 % of customers were merged into an older one (``status = merged``): lookup must follow ``merged_into``;
- 0–4 interactions on the timeline (2 on average).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "Smith", "Jones", "Müller", "Schmidt", "Brown", "O'Brien"]
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "Oliver", "Emma", "Lukas", "Anna", "James", "Sophie", "Kate"]
DOMAINS = ["163.com", "qq.com", "example.cn", "example.co.uk", "example.de", "example.com"]
CHANNELS = [("web", "web_forms"), ("email", "mailbox"), ("phone", "calls"), ("social", "whatsapp")]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
HUB_KEYS = 100  # shared switchboard numbers and info@ addresses

# the COPY column lists, in the order the rows below are written
CUSTOMER_COLUMNS = ("id", "golden", "provenance", "version", "status", "merged_into", "created_at", "updated_at")
RECORD_COLUMNS = ("id", "source", "source_key", "customer_id", "raw", "normalized", "email", "phone", "observed_at",
                  "version", "resolved_version", "created_at", "updated_at")
INTERACTION_COLUMNS = ("id", "source", "external_ref", "contact_record_id", "customer_id", "channel", "direction",
                       "occurred_at", "subject", "summary", "participants", "created_at")


def _mix(i: int) -> int:
    """A cheap, well-spread hash of the customer number (splitmix64's finaliser)."""
    z = (i + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def email_of(i: int) -> str:
    return f"c{i}.{_mix(i) % 9973}@{DOMAINS[i % len(DOMAINS)]}"


def work_email_of(i: int) -> str:
    return f"c{i}@corp{_mix(i) % 5000}.example.com"


def phone_of(i: int) -> str:
    """E.164, unique per customer: CN mobiles for 60 %, else UK / DE / US numbers."""
    kind = _mix(i) % 10
    if kind < 6:
        return f"+86138{i:08d}"
    if kind < 8:
        return f"+447400{i % 1_000_000:06d}" if i < 1_000_000 else f"+447500{i % 1_000_000:06d}"
    if kind < 9:
        return f"+49151{i:08d}"
    return f"+1212{200 + i // 10_000 % 800:03d}{i % 10_000:04d}"


def phone_as_typed(i: int) -> str:
    """How a person types the number into a screen pop: national format for Chinese mobiles, spaced otherwise."""
    e164 = phone_of(i)
    if e164.startswith("+86"):
        return e164[3:] if i % 2 else f"+86 {e164[3:6]} {e164[6:10]} {e164[10:]}"
    return f"{e164[:3]} {e164[3:7]} {e164[7:]}"


def hub_phone(k: int) -> str:
    return f"+8621{62880000 + k:08d}"


def hub_email(k: int) -> str:
    return f"info@company{k}.example.cn"


def has_hub_identifier(i: int) -> bool:
    return _mix(i) % 100 == 42


def hub_identifiers(i: int) -> tuple[str, str]:
    """The shared e-mail and phone that customer ``i``'s form record carries when it has hub identifiers."""
    h = _mix(i)
    return hub_email((h >> 16) % HUB_KEYS), hub_phone((h >> 8) % HUB_KEYS)


def missing_email(j: int) -> str:
    return f"nobody{j}@absent.example.org"


def missing_phone(j: int) -> str:
    return f"+86139{j:08d}"  # a block the generator never uses


def name_of(i: int) -> str:
    h = _mix(i)
    family, given = SURNAMES[h % len(SURNAMES)], GIVEN[(h >> 8) % len(GIVEN)]
    return f"{family}{given}" if ord(family[0]) > 0x2E80 and ord(given[0]) > 0x2E80 else f"{given} {family}"


def merged_into(i: int) -> int | None:
    """1 % of customers (never the first hundred) were merged into an older one."""
    return (_mix(i) >> 20) % (i - 1) + 1 if i > 100 and _mix(i) % 100 == 7 else None


# Rows are written as COPY text with f-strings: the values are built here and hold no tab, newline, backslash or
# double quote, so neither COPY nor JSON escaping is needed, and a million rows take seconds, not minutes.
_DAY = [(EPOCH + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(800)]
_CLOCK = [f"{m // 60:02d}:{m % 60:02d}:00+00" for m in range(1440)]
CITIES = ["上海", "北京", "London", "Berlin", "New York"]
NULL = r"\N"


def _ts(minutes: int) -> str:
    """The timestamp ``minutes`` after EPOCH as COPY text."""
    return f"{_DAY[minutes // 1440]} {_CLOCK[minutes % 1440]}"


def customer_lines(n: int) -> Iterator[str]:
    for i in range(1, n + 1):
        created = _ts(i % 500_000)
        golden = (f'{{"full_name": "{name_of(i)}", "email": "{email_of(i)}", "phone": "{phone_of(i)}", '
                  f'"city": "{CITIES[i % 5]}"}}')
        provenance = f'{{"email": {{"record": {i}, "rule": "most_recent"}}}}'
        target = merged_into(i)
        status, into = ("merged", str(target)) if target else ("active", NULL)
        yield f"{i}\t{golden}\t{provenance}\t1\t{status}\t{into}\t{created}\t{created}\n"


def record_rows(n: int) -> Iterator[tuple[int, str, str | None, str | None, int]]:
    """(customer, source, email, phone, observed_at in minutes after EPOCH) per contact record, in id order."""
    for i in range(1, n + 1):
        h = _mix(i)
        seen = i % 500_000
        email, phone = email_of(i), phone_of(i)
        if has_hub_identifier(i):  # a hub identifier instead of the person's own
            email, phone = hub_identifiers(i)
        yield i, "web_forms", email, phone, seen
        if (h >> 4) % 10 < 4:
            yield i, "mailbox", work_email_of(i), None, seen + 3 * 1440
        if (h >> 8) % 10 < 3:
            yield i, "calls", None, phone_of(i), seen + 7 * 1440


def record_lines(n: int) -> Iterator[str]:
    for rid, (customer, source, email, phone, seen) in enumerate(record_rows(n), start=1):
        when = _ts(seen)
        email_json = f'"{email}"' if email else "null"
        phone_json = f'"{phone}"' if phone else "null"
        normalized = f'{{"email": {email_json}, "phone": {phone_json}, "full_name": "{name_of(customer)}"}}'
        yield (f"{rid}\t{source}\t{source}:{rid}\t{customer}\t{normalized}\t{normalized}\t{email or NULL}\t"
               f"{phone or NULL}\t{when}\t1\t1\t{when}\t{when}\n")


def interaction_lines(n: int) -> Iterator[str]:
    iid = 0
    for i in range(1, n + 1):
        for k in range(_mix(i * 7) % 5):
            iid += 1
            channel, source = CHANNELS[(i + k) % len(CHANNELS)]
            when = _ts((i * 13 + k * 997) % 15_000 * 60)
            yield (f"{iid}\t{source}\t{source}:{i}:{k}\t\\N\t{i}\t{channel}\tinbound\t{when}\tenquiry\t"
                   f"customer {i} touch point {k}\t[]\t{when}\n")
