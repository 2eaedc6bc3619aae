"""Personal names: one spelling of the full name, and its given and family parts.

Chinese names are written family name first without spaces (``欧阳娜娜``: family ``欧阳``, given ``娜娜``); the
family name is one character except for the compound surnames listed below. Western names put the family name last,
possibly with particles (``Ludwig van Beethoven``, ``Charles de Gaulle``, ``Ursula von der Leyen``), and exports
often write ``Last, First``. Titles are dropped; all-caps or all-lower names are re-cased, mixed case is trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import fold, has_han

COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 端木 独孤 南宫 西门 百里 "
    "呼延 万俟 司空 澹台 公冶 太史 申屠 赫连 闻人 濮阳 淳于 单于 拓跋 第五 东郭 左丘 梁丘 羊舌 微生 公羊 "
    "歐陽 司馬 諸葛 尉遲 長孫 軒轅 令狐 鍾離 獨孤 澹臺 聞人 單于".split()
)
PARTICLES = frozenset(
    "van von der den de del della di da dos das du la le ter ten zu af al bin ibn mac st. st".split()
)
_TITLES = re.compile(
    r"^(?:mr|mrs|ms|miss|mx|dr|prof|sir|herr|frau|mme|mlle)(?:\.\s*|\s+|$)|(?:先生|女士|小姐|老师|博士|教授|经理|总)$",
    re.IGNORECASE,
)
_SUFFIXES = frozenset("jr jr. sr sr. ii iii iv phd ph.d. md".split())
_HAN_SEPARATORS = re.compile(r"[\s\u3000]+")


@dataclass(frozen=True)
class ParsedName:
    full: str
    given: str | None
    family: str | None
    han: bool  # written in Chinese characters: family name first, no spaces


def parse_name(text: str) -> ParsedName | None:
    """Split a name as people write it; ``None`` when nothing name-like is left after clean-up."""
    cleaned = _strip_titles(fold(str(text)))
    if not cleaned or not any(ch.isalpha() for ch in cleaned):
        return None
    if has_han(cleaned) and not re.search(r"[A-Za-z]", cleaned):
        return _parse_han(cleaned)
    return _parse_western(cleaned)


def _strip_titles(text: str) -> str:
    cleaned, previous = text.strip(" ,;"), None
    while cleaned and cleaned != previous:
        previous = cleaned
        cleaned = _TITLES.sub("", cleaned).strip(" ,;")
    return cleaned


def normalise_name(text: str) -> str:
    """The display form of a full name: ``欧阳娜娜``, ``Ludwig van Beethoven`` (from ``BEETHOVEN, LUDWIG VAN``)."""
    parsed = parse_name(text)
    if parsed is None:
        from ._text import NormalisationError

        raise NormalisationError("no name in the value")
    return parsed.full


def compose_name(given: str | None, family: str | None) -> str | None:
    """The full name from its parts, in the order the script uses."""
    parts = [p for p in (given, family) if p]
    if not parts:
        return None
    if all(has_han(p) for p in parts):
        return (family or "") + (given or "")
    return " ".join(parts)


def _parse_han(text: str) -> ParsedName:
    # "张 三" and "张　三" are the same person as "张三"; a middle dot marks transliterated names (阿卜杜·热合曼)
    joined = _HAN_SEPARATORS.sub("", text).replace("•", "·").replace("・", "·")
    if "·" in joined:
        given, _, family = joined.rpartition("·")
        return ParsedName(full=joined, given=given or None, family=family or None, han=True)
    if len(joined) == 1:
        return ParsedName(full=joined, given=None, family=joined, han=True)
    size = 2 if joined[:2] in COMPOUND_SURNAMES and len(joined) > 2 else 1
    return ParsedName(full=joined, given=joined[size:] or None, family=joined[:size], han=True)


def _parse_western(text: str) -> ParsedName:
    if text.count(",") > 1:  # not "Last, First": a list or noise, read as words
        text = " ".join(text.replace(",", " ").split())
    if "," in text:
        family_part, _, given_part = text.partition(",")
        family_part = family_part.strip(" ,;")
        given_part = _strip_titles(given_part.strip(" ,;"))
        if given_part.lower().rstrip(".") in {s.rstrip(".") for s in _SUFFIXES}:  # "Smith, Jr." is not Last, First
            text = f"{family_part} {given_part}"
        elif given_part:
            tokens = given_part.split() + family_part.split()
            # particles written after the given name in "Beethoven, Ludwig van" belong to the family name
            split_at = len(given_part.split())
            while split_at > 1 and tokens[split_at - 1].lower() in PARTICLES:
                split_at -= 1
            return _build(tokens, split_at)
        else:
            text = family_part or given_part
    tokens = text.split()
    if len(tokens) == 1:
        return _build(tokens, 1)
    end = len(tokens)
    while end > 1 and tokens[end - 1].lower() in _SUFFIXES:
        end -= 1
    split_at = max(end - 1, 1)
    while split_at > 1 and tokens[split_at - 1].lower() in PARTICLES:
        split_at -= 1
    return _build(tokens, split_at)


def _build(tokens: list[str], split_at: int) -> ParsedName:
    letters = "".join(t for t in tokens if t.isalpha())
    if letters and (letters.isupper() or letters.islower()):
        tokens = [_recase(t, i > 0) for i, t in enumerate(tokens)]
    if len(tokens) == 1:
        return ParsedName(full=tokens[0], given=tokens[0], family=None, han=False)
    given = " ".join(tokens[:split_at]) or None
    family = " ".join(tokens[split_at:]) or None
    return ParsedName(full=" ".join(tokens), given=given, family=family, han=False)


def _recase(token: str, may_be_particle: bool) -> str:
    if may_be_particle and token.lower() in PARTICLES:
        return token.lower()
    if token.lower() in _SUFFIXES and token.lower() not in {"jr", "sr", "jr.", "sr."}:
        return token.upper()
    # O'neil → O'Neil, Jean-luc → Jean-Luc
    return re.sub(r"(^|['\-])(\w)", lambda m: m.group(1) + _upper_one(m.group(2)), token.lower())


def _upper_one(ch: str) -> str:
    # "ß".upper() is "SS": two letters would change the name's length and break idempotence
    upper = ch.upper()
    return upper if len(upper) == 1 else ch
