"""The comparison library: one small class per compared attribute, each turning two profiles into a level.

A level is an index into ``levels`` (0 = the values disagree, the last = exact agreement) or ``NULL`` when either
side lacks the value, which counts as no evidence either way. ``m``/``u`` are the default probabilities of each level
among true matches and among non-matches; EM re-estimates them from the data when there is enough of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

from ._profile import Profile

NULL = -1


def _jw(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b)


def _overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    if len(a) == 1:  # nearly always one email or phone a side; no generator for the millions of pairs of a full run
        return a[0] in b
    return any(x in b for x in a)


class Comparison:
    name: ClassVar[str]
    levels: ClassVar[tuple[str, ...]]
    m: ClassVar[tuple[float, ...]]
    u: ClassVar[tuple[float, ...]]
    # profile key whose exact value gets a term-frequency adjustment (rare values count for more)
    tf_key: ClassVar[str | None] = None

    def level(self, a: Profile, b: Profile) -> int:
        raise NotImplementedError


class GivenNameMatch(Comparison):
    """Given names, after orienting for family/given transposition.

    - exact: ``xiaoming`` / ``xiaoming`` (also ``小明`` / ``Xiaoming``)
    - nickname: ``bob`` / ``robert``
    - very similar: ``jonathon`` / ``jonathan`` (Jaro-Winkler ≥ 0.92), or an initial: ``j`` / ``john``
    - similar: ``cathy`` / ``kathy`` (Jaro-Winkler ≥ 0.80)
    - different: ``mary`` / ``susan``
    """

    name = "given_name"
    levels = ("different", "similar", "very_similar", "nickname", "exact")
    m = (0.03, 0.05, 0.12, 0.05, 0.75)
    u = (0.87, 0.06, 0.015, 0.005, 0.05)
    tf_key = "gn"

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("gn"), b.get("gn")
        if not x or not y:
            return NULL
        if x == y:
            return 4
        if a.get("gx") == b.get("gx"):
            return 3
        sim = _jw(x, y)
        if sim >= 0.92 or (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y)):
            return 2
        return 1 if sim >= 0.80 else 0


class FamilyNameMatch(Comparison):
    """Family names.

    - exact: ``wang`` / ``wang`` (``王`` / ``Wang``)
    - very similar: ``johnson`` / ``jonhson`` (Jaro-Winkler ≥ 0.92)
    - similar: ``smith`` / ``smyth`` (≥ 0.80)
    - different: ``li`` / ``zhang``
    """

    name = "family_name"
    levels = ("different", "similar", "very_similar", "exact")
    m = (0.04, 0.04, 0.12, 0.80)
    u = (0.90, 0.03, 0.01, 0.06)
    tf_key = "fn"

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("fn"), b.get("fn")
        if not x or not y:
            return NULL
        if x == y:
            return 3
        sim = _jw(x, y)
        return 2 if sim >= 0.92 else (1 if sim >= 0.80 else 0)


class EmailMatch(Comparison):
    """Email addresses (any of each side's addresses).

    - exact: ``ann@x.com`` / ``ANN@x.com``
    - one typo: ``ann@x.com`` / ``anne@x.com``; or same mailbox name at another provider
    - different
    """

    name = "email"
    levels = ("different", "fuzzy", "exact")
    m = (0.25, 0.10, 0.65)
    u = (0.995, 0.004, 0.001)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("em"), b.get("em")
        if not x or not y:
            return NULL
        if _overlap(x, y):
            return 2
        for e in x:
            local = e.partition("@")[0]
            for f in y:
                if Levenshtein.distance(e, f, score_cutoff=1) <= 1 or (len(local) > 3 and f.partition("@")[0] == local):
                    return 1
        return 0


class PhoneMatch(Comparison):
    """Phones compared on their last 9 digits.

    - exact: ``+8613800138000`` / ``013800138000``
    - one digit off: ``138 0013 8000`` / ``138 0013 8001``
    - different
    """

    name = "phone"
    levels = ("different", "one_digit_off", "exact")
    m = (0.25, 0.05, 0.70)
    u = (0.995, 0.004, 0.001)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("ph"), b.get("ph")
        if not x or not y:
            return NULL
        if _overlap(x, y):
            return 2
        if any(DamerauLevenshtein.distance(p, q, score_cutoff=1) <= 1 for p in x for q in y):
            return 1
        return 0


class BirthDateMatch(Comparison):
    """Birth dates.

    - exact: ``1980-05-04`` / ``1980-05-04``
    - one typo or day/month swapped: ``1980-05-04`` / ``1980-04-05``, ``1980-05-14``
    - same year: ``1980-05-04`` / ``1980-11-30``
    - different
    """

    name = "birth_date"
    levels = ("different", "same_year", "typo", "exact")
    m = (0.03, 0.04, 0.08, 0.85)
    u = (0.96, 0.03, 0.008, 0.002)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("dob"), b.get("dob")
        if not x or not y:
            return NULL
        if x == y:
            return 3
        if DamerauLevenshtein.distance(x, y, score_cutoff=1) <= 1 or (x[:4] == y[:4] and x[5:7] == y[8:10] and x[8:10] == y[5:7]):
            return 2
        return 1 if x[:4] == y[:4] else 0


class AddressMatch(Comparison):
    """Street address (street name + house number).

    - same street and number: ``Main St 5`` / ``main street 5``
    - same or very similar street: ``Main St`` / ``Mian St``
    - different
    """

    name = "address"
    levels = ("different", "same_street", "exact")
    m = (0.15, 0.10, 0.75)
    u = (0.97, 0.025, 0.005)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("st"), b.get("st")
        if not x or not y:
            return NULL
        if x == y or _jw(x, y) >= 0.9:
            na, nb = a.get("sn"), b.get("sn")
            return 2 if na and na == nb else 1
        return 0


class PostcodeMatch(Comparison):
    """Postcodes: exact (``10115`` / ``10115``), one typo (``10115`` / ``10151``), different."""

    name = "postcode"
    levels = ("different", "typo", "exact")
    m = (0.08, 0.07, 0.85)
    u = (0.96, 0.03, 0.01)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("pc"), b.get("pc")
        if not x or not y:
            return NULL
        if x == y:
            return 2
        return 1 if DamerauLevenshtein.distance(x, y, score_cutoff=1) <= 1 else 0


class CityMatch(Comparison):
    """Cities: exact (``北京`` / ``Beijing``), similar (``Muenchen`` / ``Munchen``), different."""

    name = "city"
    levels = ("different", "similar", "exact")
    m = (0.08, 0.07, 0.85)
    u = (0.90, 0.03, 0.07)
    tf_key = "ct"

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("ct"), b.get("ct")
        if not x or not y:
            return NULL
        if x == y:
            return 2
        return 1 if _jw(x, y) >= 0.88 else 0


class NationalIdMatch(Comparison):
    """National ids: exact, one typo (``110101199003077777`` / ``110101199003077771``), different."""

    name = "national_id"
    levels = ("different", "typo", "exact")
    m = (0.02, 0.08, 0.90)
    u = (0.999, 0.0009, 0.0001)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("nid"), b.get("nid")
        if not x or not y:
            return NULL
        if x == y:
            return 2
        return 1 if DamerauLevenshtein.distance(x, y, score_cutoff=1) <= 1 else 0


class CompanyMatch(Comparison):
    """Employers: exact after dropping legal forms (``ACME Inc.`` / ``acme``), similar, different."""

    name = "company"
    levels = ("different", "similar", "exact")
    m = (0.25, 0.10, 0.65)
    u = (0.97, 0.02, 0.01)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("co"), b.get("co")
        if not x or not y:
            return NULL
        if x == y:
            return 2
        return 1 if _jw(x, y) >= 0.9 else 0


class HandleMatch(Comparison):
    """Social handles on the same platform: exact (``x:@ann`` / ``x:ann``) or different; other platforms say nothing."""

    name = "handle"
    levels = ("different", "exact")
    m = (0.2, 0.8)
    u = (0.999, 0.001)

    def level(self, a: Profile, b: Profile) -> int:
        x, y = a.get("hd"), b.get("hd")
        if not x or not y:
            return NULL
        if _overlap(x, y):
            return 1
        platforms = {h.partition(":")[0] for h in x} & {h.partition(":")[0] for h in y}
        return 0 if platforms else NULL


COMPARISONS: tuple[Comparison, ...] = (
    GivenNameMatch(),
    FamilyNameMatch(),
    EmailMatch(),
    PhoneMatch(),
    BirthDateMatch(),
    AddressMatch(),
    PostcodeMatch(),
    CityMatch(),
    NationalIdMatch(),
    CompanyMatch(),
    HandleMatch(),
)


def orient(a: Profile, b: Profile) -> Profile:
    """``b`` with given and family name swapped when that fits ``a`` better (``Wang Xiaoming`` / ``Xiaoming Wang``)."""
    ag, af, bg, bf = a.get("gn"), a.get("fn"), b.get("gn"), b.get("fn")
    if not (ag and af and bg and bf) or (ag == bg and af == bf):
        return b
    straight = _jw(ag, bg) + _jw(af, bf)
    crossed = _jw(ag, bf) + _jw(af, bg)
    if crossed > straight:
        swapped = dict(b)
        swapped["gn"], swapped["fn"] = bf, bg
        swapped["gx"] = bf
        return swapped
    return b


_LEVEL_FUNCTIONS = tuple(c.level for c in COMPARISONS)  # bound once: gamma runs millions of times in a full run


def gamma(a: Profile, b: Profile) -> tuple[int, ...]:
    """The comparison vector of two profiles, one level per comparison in ``COMPARISONS`` order."""
    b = orient(a, b)
    return tuple([level(a, b) for level in _LEVEL_FUNCTIONS])
