"""The source's own FETCH-answer parser gives exactly what imapclient's ``parse_fetch_response`` gives.

Real answers come from Dovecot for the demo mailbox, the benchmark's message mix and hand-made hostile structures;
generated answers cover quoting, literals and nesting the server may send. ``_parse`` is called directly where the
answer is inside the narrow grammar, so a silent fall-back to imapclient (correct but slow) fails the test too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from bench.imap.messages import messages
from connectors.email import _fetch
from connectors.email._fetch import parse_fetch
from tests.servers.dovecot import Dovecot, MailUser

from .conftest import EXAMPLES, mail

HOSTILE = [
    # a file name with quotes, a backslash, parentheses and brackets inside the quoted parameter
    b'From: a@example.cn\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b'--b\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n\xc4\xe3\xba\xc3\r\n'
    b'--b\r\nContent-Type: application/pdf; name="q\\"uote (1) [v2] \\\\ x.pdf"\r\n'
    b"Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5%E4%BB%B7.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
    # 8-bit bytes in a parameter and a header with no body at all
    b"From: b@example.cn\r\nContent-Type: text/plain; charset=\xb9\xfa\xb1\xea\r\n\r\n",
    # a message/rfc822 attachment (its own envelope and body structure nested inside)
    b'From: c@example.cn\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\n'
    b"Content-Type: text/plain\r\n\r\nsee attached\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n"
    b'From: "Li, Si" <li@example.cn>\r\nSubject: =?gbk?b?xOO6ww==?=\r\nDate: Sat, 23 Aug 2025 09:00:00 +0800\r\n'
    b"Content-Type: text/html\r\n\r\n<p>inner</p>\r\n--o--\r\n",
    # a broken boundary: servers still answer with some structure
    b'From: d@example.cn\r\nContent-Type: multipart/alternative; boundary="never"\r\n\r\nno parts here\r\n',
]


def _raw_answers(dovecot: Dovecot, user: MailUser, items: str) -> list[Any]:
    client = dovecot.client(user)
    try:
        client.select_folder("INBOX", readonly=True)
        typ, data = client._imap.uid("FETCH", "1:*", items)
        assert typ == "OK"
        return data
    finally:
        client.logout()


def test_real_dovecot_answers_parse_the_same_as_imapclient_without_falling_back(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    demo = [p.read_bytes() for p in sorted((EXAMPLES / "mail").glob("*.eml"))]
    dovecot.append(user, [*demo, *(m.raw for m in messages(60)), *HOSTILE, mail(1)])
    for items in ("(BODYSTRUCTURE RFC822.SIZE BODY.PEEK[HEADER])", "(BODY.PEEK[1]<0.300>)", "(BODY.PEEK[]<0.2000>)",
                  "(FLAGS BODY RFC822.SIZE)"):
        data = _raw_answers(dovecot, user, items)
        expected = parse_fetch_response(data, True, True)
        assert len(expected) == len(demo) + 60 + len(HOSTILE) + 1
        assert _fetch._parse(data) == expected, items


def test_uid_fetch_answers_like_imapclient_fetch(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.append(user, [*HOSTILE, mail(2)])
    client = dovecot.client(user)
    try:
        client.select_folder("INBOX", readonly=True)
        items = [b"BODYSTRUCTURE", b"RFC822.SIZE", b"BODY.PEEK[HEADER]"]
        assert _fetch.uid_fetch(client, [1, 2, 3, 4, 5], items) == client.fetch([1, 2, 3, 4, 5], items)
        assert _fetch.uid_fetch(client, [99], items) == client.fetch([99], items) == {}  # expunged / never there
        assert _fetch.uid_fetch(client, [], items) == {}
    finally:
        client.logout()


# --------------------------------------------------------------------------------------- generated answers

_ATOM = st.binary(min_size=1, max_size=8).map(
    lambda b: bytes(c for c in b if c > 0x20 and c not in b'()%"[]{') or b"X"
)
_QUOTED = st.binary(max_size=12).map(lambda b: bytes(c for c in b if c not in b"\r\n"))


_VALUE = st.recursive(
    st.one_of(
        _ATOM.map(lambda a: ("atom", a)),
        st.integers(0, 10**6).map(lambda n: ("atom", str(n).encode())),
        st.just(("atom", b"NIL")),
        _QUOTED.map(lambda q: ("quoted", q)),
        st.binary(max_size=20).map(lambda b: ("literal", b)),
    ),
    lambda children: st.lists(children, max_size=5).map(lambda xs: ("list", xs)),
    max_leaves=25,
)


def _serialise(messages: list[tuple[int, list[tuple[bytes, Any]]]]) -> list[Any]:
    """imaplib's shape: a line ending in ``{n}`` and its literal as a pair, the rest of the line after it."""
    data: list[Any] = []
    line = b""

    def emit(value: Any) -> None:
        nonlocal line
        kind, body = value
        if kind == "atom":
            line += body
        elif kind == "quoted":
            line += b'"' + body.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        elif kind == "literal":
            data.append((line + b"{%d}" % len(body), body))
            line = b""
        else:
            line += b"("
            for i, child in enumerate(body):
                if i:
                    line += b" "
                emit(child)
            line += b")"

    for uid, attributes in messages:
        line = b"%d (UID %d" % (uid, uid)
        for name, value in attributes:
            line += b" " + name + b" "
            emit(value)
        line += b")"
        data.append(line)
        line = b""
    return data


_ATTRIBUTE = st.tuples(st.sampled_from([b"X-GM-LABELS", b"FLAGS", b"RFC822.SIZE", b"BODY[HEADER]", b"BODY[1.2]<0>",
                                        b"BINARY.SIZE[1]", b"MODSEQ"]), _VALUE)


def _outcome(parse: Any, data: list[Any]) -> Any:
    """The parsed answer, or the type of the exception: where imapclient refuses an answer, so must we."""
    try:
        return parse(data)
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return type(exc)


def _same_as_imapclient(data: list[Any]) -> None:
    expected = _outcome(lambda d: parse_fetch_response(d, True, True), data)
    assert _outcome(parse_fetch, data) == expected
    if not isinstance(expected, type):  # imapclient read it, so it is inside the grammar: no fall-back
        assert _fetch._parse(data) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.lists(_ATTRIBUTE, max_size=4)), max_size=4))
def test_generated_answers_parse_the_same_as_imapclient(answer: list[tuple[int, list[tuple[bytes, Any]]]]) -> None:
    _same_as_imapclient(_serialise(answer))


@given(st.lists(_VALUE.filter(lambda v: v[0] == "list" and v[1]), min_size=1, max_size=3))
@settings(max_examples=100, deadline=None)
def test_generated_body_structures_become_imapclients_body_data(structures: list[Any]) -> None:
    _same_as_imapclient(_serialise([(n, [(b"BODYSTRUCTURE", s)]) for n, s in enumerate(structures, 1)]))


@pytest.mark.parametrize(
    "data",
    [
        [b'1 (UID 1 FLAGS (\\Seen %unusual))'],  # '%' is a token of its own to imapclient
        [b'1 (UID 1 INTERNALDATE "23-Aug-2025 09:00:00 +0800")'],  # needs imapclient's date conversion
        [b'1 (UID 1 ENVELOPE ("Sat, 23 Aug 2025 09:00:00 +0800" "hi" NIL NIL NIL NIL NIL NIL NIL "<a@b>"))'],
        [b"1 (UID 1 FLAGS (\\Seen\tx))"],  # a tab between tokens
    ],
)
def test_answers_outside_the_narrow_grammar_are_parsed_by_imapclient(data: list[Any]) -> None:
    with pytest.raises(_fetch._Unusual):
        _fetch._parse(data)
    assert parse_fetch(data) == parse_fetch_response(data, True, True)
