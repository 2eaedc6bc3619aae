"""Match profiles: a canonical contact reduced to the compact, comparable values matching works on.

A profile is computed once per record (and cached in ``resolution_profile``), so scoring never re-parses names or
re-runs pinyin. Why each step:

- Chinese names are compared in pinyin (``王小明`` and ``Wang Xiaoming`` are the same person in two scripts) and by
  their characters when both sides have them; the family name is the first character, or the first two for the
  compound surnames (``欧阳``, ``司马``…).
- Latin names drop accents, case, dots and hyphens (``Jean-Luc`` = ``jeanluc``); nicknames map to their formal name
  (``Bob`` → ``robert``) in a separate value so the exact spelling still counts for more.
- Phones compare on their last 9 digits: ``+86 138 0013 8000``, ``013800138000`` and ``13800138000`` agree, whatever
  country-code and trunk-prefix conventions the source used; an extension (``;ext=123``) is not part of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

Profile = dict[str, Any]

_HAN = re.compile(r"[\u3400-\u9fff]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\D+")

COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 司徒 东方 皇甫 令狐 慕容 夏侯 公孙 尉迟 长孙 宇文 澹台 端木 申屠 轩辕 西门 南宫".split()
)

# formal name -> nicknames; small on purpose: the common English diminutives that typo distance cannot bridge.
_NICKNAMES = {
    "robert": "bob bobby rob robbie bert",
    "william": "bill billy will willie liam",
    "richard": "dick rick ricky rich",
    "elizabeth": "liz lizzie beth betty eliza libby",
    "margaret": "maggie meg peggy marge",
    "katherine": "kate katie kathy kat catherine kathryn",
    "james": "jim jimmy jamie",
    "john": "jack johnny jon",
    "michael": "mike mikey mick",
    "thomas": "tom tommy",
    "joseph": "joe joey",
    "charles": "charlie chuck chas",
    "edward": "ed eddie ted ned",
    "christopher": "chris kit",
    "daniel": "dan danny",
    "matthew": "matt",
    "anthony": "tony",
    "alexander": "alex sasha",
    "alexandra": "alex sandra",
    "jennifer": "jen jenny",
    "patricia": "pat patty trish",
    "susan": "sue susie",
    "deborah": "deb debbie",
    "rebecca": "becky becca",
    "samuel": "sam sammy",
    "benjamin": "ben benny",
    "nicholas": "nick nicky",
    "jonathan": "jon jonny",
    "andrew": "andy drew",
    "steven": "steve stephen",
    "timothy": "tim timmy",
    "gregory": "greg",
    "lawrence": "larry",
    "peter": "pete",
    "victoria": "vicky tori",
    "abigail": "abby",
    "kimberly": "kim",
    "jessica": "jess jessie",
    "donald": "don donnie",
    "ronald": "ron ronnie",
    "kenneth": "ken kenny",
    "david": "dave davey",
    "frederick": "fred freddie",
    "henry": "hank harry",
    "theodore": "ted teddy theo",
}
NICKNAME_TO_FORMAL = {nick: formal for formal, nicks in _NICKNAMES.items() for nick in nicks.split()}

_COMPANY_NOISE = re.compile(
    r"\b(inc|incorporated|ltd|limited|llc|gmbh|ag|co|corp|corporation|company|plc|sa|sarl|bv|srl|the)\b"
)
_COMPANY_NOISE_HAN = ("股份有限公司", "有限责任公司", "有限公司", "集团", "公司")
_STREET_WORDS = {"street": "st", "road": "rd", "avenue": "ave", "boulevard": "blvd", "drive": "dr", "lane": "ln",
                 "place": "pl", "court": "ct", "square": "sq", "strasse": "str", "straße": "str"}


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


@lru_cache(maxsize=200_000)
def to_pinyin(text: str) -> str:
    """``王小明`` → ``wang xiaoming``-style syllables joined without tones; non-Han text passes through."""
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(text))


@lru_cache(maxsize=500_000)
def fold(text: str) -> str:
    """Lower-case ASCII letters and digits only (accents stripped); Han text becomes pinyin first."""
    if has_han(text):
        text = to_pinyin(text)
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_ALNUM.sub("", text)


def _split_han_name(name: str) -> tuple[str, str]:
    name = _SPACES.sub("", name)
    cut = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return name[:cut], name[cut:]


def split_full_name(full_name: str) -> tuple[str, str]:
    """(given, family) from a full name: Han names family-first; ``Family, Given``; otherwise given first, family last."""
    name = full_name.strip()
    if has_han(name):
        family, given = _split_han_name(name)
        return given, family
    if "," in name:
        family, _, given = name.partition(",")
        return given.strip(), family.strip()
    parts = name.split()
    if len(parts) == 1:
        return parts[0], ""
    return parts[0], parts[-1]


def _name_profile(contact: Mapping[str, Any], out: Profile) -> None:
    given = str(contact.get("given_name") or "").strip()
    family = str(contact.get("family_name") or "").strip()
    full = str(contact.get("full_name") or "").strip()
    if not (given or family) and full:
        given, family = split_full_name(full)
    elif given and not family and has_han(given) and len(given) >= 2 and not full:
        family, given = _split_han_name(given)
    han = "".join(c for c in (family + given) if _HAN.match(c))
    if han:
        out["hz"] = han
    gn, fn = fold(given), fold(family)
    if gn:
        out["gn"] = gn
        out["gx"] = NICKNAME_TO_FORMAL.get(gn, gn)
    if fn:
        out["fn"] = fn


def _phone_key(value: Any) -> str | None:
    # mapping writes extensions as ``+861065529988;ext=123``: the key is the dialable number, so a switchboard's
    # extensions count as one shared number (and the extension's digits never shift the last-9-digit window)
    digits = _DIGITS.sub("", str(value or "").split(";", 1)[0])
    return digits[-9:] if len(digits) >= 7 else None


def _email_key(value: Any) -> str | None:
    email = str(value or "").strip().lower()
    return email if "@" in email else None


# Streets, companies, cities and dates recur across a file (a million rows hold a few thousand cities and some
# twenty thousand birth dates), so their normal forms are cached like ``fold``'s.
@lru_cache(maxsize=200_000)
def _street(value: str) -> str:
    if has_han(value):
        return fold(value)
    words = [_STREET_WORDS.get(w, w) for w in _NON_ALNUM.sub(" ", value.lower()).split()]
    return "".join(words)


@lru_cache(maxsize=200_000)
def _company(value: str) -> str:
    for noise in _COMPANY_NOISE_HAN:
        value = value.replace(noise, "")
    if has_han(value):
        return fold(value)
    return _NON_ALNUM.sub("", _COMPANY_NOISE.sub(" ", value.lower()))


def _date(value: Any) -> str | None:
    return _date_text(str(value or "").strip())


@lru_cache(maxsize=200_000)
def _date_text(text: str) -> str | None:
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", text)
    if m:
        return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    m = re.match(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$", text)  # day first, as most of the world writes it
    if m:
        return f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}"
    return None


def build_profile(contact: Mapping[str, Any], verified_email: bool = False) -> Profile:
    """The match profile of one canonical contact (see the module docstring for why each value looks as it does)."""
    out: Profile = {}
    _name_profile(contact, out)
    emails = [e for e in (_email_key(x) for x in [contact.get("email"), *(contact.get("emails") or [])]) if e]
    if emails:
        out["em"] = sorted(set(emails))
        if verified_email or contact.get("email_verified") or (contact.get("attributes") or {}).get("email_verified"):
            out["ev"] = out["em"][:1] if not contact.get("email") else [_email_key(contact["email"])]
    phones = [p for p in (_phone_key(x) for x in [contact.get("phone"), *(contact.get("phones") or [])]) if p]
    if phones:
        out["ph"] = sorted(set(phones))
    handles = contact.get("handles") or {}
    if isinstance(handles, Mapping) and handles:
        out["hd"] = sorted(f"{k}:{str(v).lower().lstrip('@')}" for k, v in handles.items() if v)
    dob = _date(contact.get("birth_date"))
    if dob:
        out["dob"] = dob
    for key, field in (("pc", "postcode"), ("nid", "national_id")):
        value = _NON_ALNUM.sub("", str(contact.get(field) or "").lower())
        if value:
            out[key] = value
    city = fold(str(contact.get("city") or "").replace("市", ""))
    if city:
        out["ct"] = city
    street = _street(str(contact.get("street") or ""))
    if street:
        out["st"] = street
    number = _DIGITS.sub("", str(contact.get("street_number") or ""))
    if number:
        out["sn"] = number
    company = _company(str(contact.get("company") or ""))
    if company:
        out["co"] = company
    return out


def name_signature(profile: Profile) -> str:
    """Order-free name key: what "the same person" means when counting the people behind a shared identifier."""
    return "|".join(sorted(x for x in (profile.get("gx"), profile.get("fn")) if x)) or profile.get("hz", "")
