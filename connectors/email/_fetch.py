"""UID FETCH through imaplib, its answer parsed by a regular-expression lexer instead of imapclient's.

Profiling an ingest showed most of the reader's CPU in imapclient's response lexer, which walks every byte of the
answer through Python generators (``BODYSTRUCTURE`` is the bulk of it; headers and texts arrive as literals). This
module lexes with one compiled pattern and builds the same values imapclient's ``parse_fetch_response`` gives: the
same dict keyed by UID, ``SEQ`` included, ints, ``None`` for NIL, unescaped quoted strings, literals as bytes, and
``BODY``/``BODYSTRUCTURE`` as imapclient's ``BodyData``. A tested property (``tests/connectors/test_imap_fetch_parse``)
holds it to that. The grammar accepted is deliberately narrow: anything else (control characters, ``%``, a literal
marker that is not the last token of its line, unbalanced parentheses, ``ENVELOPE``/``INTERNALDATE``, which need
imapclient's conversions) hands the whole answer to imapclient's parser, so an unusual server costs time, never
correctness.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response
from imapclient.response_types import BodyData

# a token: "(" | ")" | "quoted" | atom, where an atom may carry [section] parts (BODY[1.2]<0>); every group is
# non-empty when it matched, so ``findall``'s tuples say which kind each token is
_ATOM = rb'[^\x00-\x20()%"\[]+(?:\[[^\]\r\n]*\][^\x00-\x20()%"\[]*)*|\[[^\]\r\n]*\][^\x00-\x20()%"\[]*'
_TOKEN = re.compile(rb' *(?:(\()|(\))|("(?:[^"\\\r\n]|\\[^\r\n])*")|(' + _ATOM + rb'))')
_LITERAL = re.compile(rb"\{(\d+)\}")
_ESCAPED = re.compile(rb'\\([\\"])')
_NEEDS_IMAPCLIENT = frozenset({b"ENVELOPE", b"INTERNALDATE"})


class _Unusual(ValueError):
    """The answer is outside the narrow grammar: imapclient's parser takes it."""


def uid_fetch(client: IMAPClient, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
    """``client.fetch(uids, items)`` with the answer parsed here (see the module docstring)."""
    if not uids:
        return {}
    typ, data = client._imap.uid("FETCH", ",".join(map(str, uids)), "(" + " ".join(i.decode() for i in items) + ")")
    if typ != "OK":
        raise IMAPClientError(f"fetch failed: {data[0]!r}" if data else "fetch failed")
    return parse_fetch(data)


def parse_fetch(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    """imaplib's FETCH answer (lines and (line, literal) pairs) as imapclient's ``parse_fetch_response`` gives it."""
    try:
        return _parse(data)
    except _Unusual:
        return parse_fetch_response(data, True, True)


def _tree(data: list[Any]) -> list[Any]:
    """The answer's values, nested as imapclient nests them: one pass of ``findall`` per line, no per-byte work."""
    stack: list[list[Any]] = []
    current: list[Any] = []
    for item in data:
        if item is None:
            continue
        literal = None
        if isinstance(item, tuple):
            text, literal = item
            marker = _LITERAL.search(text, max(0, text.rfind(b"{")))
            if marker is None or marker.end() != len(text) or text[marker.start() - 1 : marker.start()] not in b" (":
                raise _Unusual("literal without a marker")
            if len(literal) != int(marker.group(1)):
                raise _Unusual("literal length")
            text = text[: marker.start()]
        else:
            text = item
        if _TOKEN.sub(b"", text).strip(b" "):
            raise _Unusual(text[:40])  # something no token matched
        for opening, closing, quoted, atom in _TOKEN.findall(text):
            if atom:
                if atom == b"NIL":
                    current.append(None)
                elif atom.isdigit() and (atom[:1] != b"0" or len(atom) == 1):
                    current.append(int(atom))
                elif atom[:1] == b"{":
                    raise _Unusual("literal marker inside a line")
                else:
                    current.append(atom)
            elif opening:
                stack.append(current)
                current = []
            elif closing:
                if not stack:
                    raise _Unusual("unbalanced )")
                done = tuple(current)
                current = stack.pop()
                current.append(done)
            else:
                current.append(_ESCAPED.sub(rb"\1", quoted[1:-1]) if b"\\" in quoted else quoted[1:-1])
        if literal is not None:
            current.append(bytes(literal))
    if stack:
        raise _Unusual("unbalanced (")
    return current


def _parse(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    if data == [None]:
        return defaultdict(dict)
    top = _tree(data)
    if len(top) % 2:
        raise _Unusual("odd top level")
    parsed: defaultdict[int, dict[bytes, Any]] = defaultdict(dict)
    for i in range(0, len(top), 2):
        seq, attributes = top[i], top[i + 1]
        if not isinstance(seq, int) or not isinstance(attributes, tuple) or len(attributes) % 2:
            raise _Unusual("not a FETCH answer")
        key = seq
        values: dict[bytes, Any] = {b"SEQ": seq}
        for j in range(0, len(attributes), 2):
            word, value = attributes[j], attributes[j + 1]
            if not isinstance(word, bytes):
                raise _Unusual("attribute name")
            word = word.upper()
            if word == b"UID":
                if not isinstance(value, int):
                    raise _Unusual("UID")
                key = value
            elif word in _NEEDS_IMAPCLIENT:
                raise _Unusual(word)
            elif word in (b"BODY", b"BODYSTRUCTURE"):
                if not isinstance(value, tuple) or not value:
                    raise _Unusual(word)
                values[word] = BodyData.create(value)
            else:
                values[word] = value
        parsed[key].update(values)
    return parsed
