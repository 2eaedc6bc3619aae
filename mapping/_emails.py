"""Email addresses: one canonical spelling per mailbox, via ``email-validator`` (syntax only, never DNS).

Before validation we undo what people and mail clients add around an address: ``mailto:``, display names
(``张三 <zhang@x.cn>``), full-width ``＠``, trailing punctuation from pasted lists. After it, the whole address is
lower-cased (providers treat local parts case-insensitively in practice, and matching needs one spelling) and an
internationalised domain is stored in its ASCII (punycode) form, which every mail system accepts.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email

from ._text import NormalisationError, fold

_TRAILING = re.compile(r"[\s.,;:>]+$")


def normalise_email(text: str) -> str:
    """Return the canonical address, or raise ``NormalisationError`` saying what is wrong with it."""
    cleaned = fold(str(text)).replace("。", ".")
    if not cleaned:
        raise NormalisationError("empty email address")
    if cleaned.lower().startswith("mailto:"):
        cleaned = cleaned[7:].split("?", 1)[0]
    if "<" in cleaned:
        cleaned = parseaddr(cleaned)[1] or cleaned
    cleaned = _TRAILING.sub("", cleaned.strip().strip("<\"'"))
    cleaned = re.sub(r"\s*([@.])\s*", r"\1", cleaned)
    if " " in cleaned:  # "张三 zhang@x.cn" pasted from a signature: the one word with an @ is the address
        words = [w for w in cleaned.split() if "@" in w]
        if len(words) != 1:
            raise NormalisationError("more than one word: an email address has no spaces")
        cleaned = _TRAILING.sub("", words[0].strip("<>\"'(),;"))
    if "@" not in cleaned:
        raise NormalisationError("an email address needs an @ sign")
    try:
        result = validate_email(cleaned, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise NormalisationError(str(exc).rstrip(".")) from None
    if result.ascii_email:
        return result.ascii_email.lower()
    # an internationalised local part has no ASCII form, but its domain does
    return f"{result.local_part}@{result.ascii_domain}".lower()
