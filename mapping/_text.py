"""Text clean-up shared by the normalisers: width folding, whitespace, and "is this empty".

Chinese input methods produce full-width digits and punctuation (``１３８``, ``＠``, ``（``); NFKC folds them to
their ASCII forms, which is what every later parser expects. NFKC also turns the ideographic space into a plain one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_SPACES = re.compile(r"\s+")
# zero-width characters that survive copy-paste from web pages and spreadsheets
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


class NormalisationError(ValueError):
    """A value that cannot be normalised; the message says why in words a person can act on."""


def fold(text: str) -> str:
    """NFKC, invisible characters dropped, runs of whitespace collapsed to one space, ends trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).translate(_INVISIBLE)).strip()


def is_blank(value: Any) -> bool:
    """None, empty or whitespace-only strings, and empty containers all mean "no value"."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set):
        return len(value) == 0
    return False


def has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)
