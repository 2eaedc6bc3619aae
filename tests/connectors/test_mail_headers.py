"""Mail header reading: the hub's header splitter and RFC 2047 decoder read what the stdlib reads, faster.

The stdlib (``email.parser``, ``email.header.decode_header``) is the oracle: the old payload code was built on it.
"""

from __future__ import annotations

from email.header import Header, decode_header
from email.parser import BytesParser
from email.policy import compat32

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.email._decode import decode_bytes, decode_words, header_text
from connectors.email._message import header_fields


def stdlib_decode(value: str) -> str:
    """What the payload code did before: ``decode_header``, our charset decoding, whitespace folded."""
    pieces = decode_header(value)
    text = "".join(decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in pieces)
    return " ".join(text.split())


_TEXT = st.text(alphabet=st.sampled_from(list("abc XYZ.,:!?=_-") + list("张伟镕喆王小明é中文")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.sampled_from(["utf-8", "gb18030", "iso-8859-1"]), st.sampled_from(["", "Re: ", "Fwd: [CRM] "]))
def test_encoded_words_decode_as_the_stdlib_decodes_them(text: str, charset: str, prefix: str) -> None:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    encoded = prefix + Header(text, charset, maxlinelen=30).encode()  # short lines: several words per header
    assert decode_words(encoded) == stdlib_decode(encoded)
    assert decode_words(encoded) == " ".join((prefix + text).split())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?gb2312?B?wfXR9A==?=", "刘阳"),                           # GB2312 label
        ("=?gb2312?B?6UY=?=", "镕"),                                  # GBK-only bytes under a GB2312 label
        ("=?GBK?B?1cU=?= =?GBK?B?yP0=?=", "张三"),                     # whitespace between two words dropped
        ("=?utf-8?B?5byg?=\r\n =?utf-8?B?5LiJ?=", "张三"),             # folded across lines
        ("=?utf-8?B?5bw=?= =?utf-8?B?oOS4iQ==?=", "张三"),              # one character split across two words
        ("=?utf-8?q?caf=C3=A9_cr=C3=A8me?=", "café crème"),           # Q encoding, underscore is a space
        ("=?UTF-8*zh?b?5byg5LiJ?=", "张三"),                           # RFC 2231 language suffix, lower-case b
        ("Re: =?utf-8?b?5byg5LiJ?= (sales)", "Re: 张三 (sales)"),      # text around a word kept
        ("no  encoded\r\n  words", "no encoded words"),
    ],
)
def test_known_encoded_word_cases(value: str, expected: str) -> None:
    assert decode_words(value) == expected


def test_an_unreadable_word_is_kept_as_sent_and_the_rest_still_decoded() -> None:
    assert decode_words("=?utf-8?B?5byg5LiJ?= =?utf-8?B?!!!?=") == "张三 =?utf-8?B?!!!?="


BLOCK = (
    b"Return-Path: <bounce@x.cn>\r\n"
    b"From: =?gb2312?B?wfXR8w==?= <liu@163.com>\r\n"
    b"To: a@b.cn,\r\n\tc@d.cn\r\n"
    b"to: e@f.cn\r\n"
    b"Subject: =?utf-8?b?5oql5Lu3?=\r\n =?utf-8?b?5Y2V?=\r\n"
    b"Date: Sat, 23 Aug 2025 09:30:00 +0800\r\n"
    b"Message-ID: <m1@x.cn>\r\n"
    b"X-Raw: \xe5\xbc\xa0\r\n"
    b"\r\n"
)


def test_the_wanted_fields_read_as_the_stdlib_reads_them() -> None:
    fields = header_fields(BLOCK)
    message = BytesParser(policy=compat32).parsebytes(BLOCK, headersonly=True)
    for name in ("from", "to", "subject", "date", "message-id"):
        ours = [" ".join((header_text(v) or "").split()) for v in fields[name]]
        theirs = [" ".join((header_text(v) or "").split()) for v in message.get_all(name)]
        assert ours == theirs
    assert fields["to"] == ["a@b.cn,\r\n\tc@d.cn", "e@f.cn"]  # every To, continuation line kept with its field
    assert "x-raw" not in fields and "return-path" not in fields  # only what a payload is built from


def test_raw_8bit_header_bytes_survive_to_the_decoder() -> None:
    fields = header_fields("From: 张伟 <zw@qq.com>\r\n".encode("gb18030"))
    assert header_text(fields["from"][0]) == "张伟 <zw@qq.com>"


def test_a_malformed_line_does_not_hide_the_fields_after_it() -> None:
    fields = header_fields(b"From: a@b.cn\r\nthis line has no colon\r\nSubject: hello\r\n\r\n")
    assert fields["from"] == ["a@b.cn"] and fields["subject"] == ["hello"]
