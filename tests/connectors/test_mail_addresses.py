"""Mail address headers: the fast path for everyday headers reads exactly what the stdlib parser reads."""

from __future__ import annotations

from email.utils import getaddresses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.email._message import _addresses, _simple_addresses

EVERYDAY = [
    "=?utf-8?b?5byg5Lyf?= <zhang.wei@qq.com>",                  # encoded-word name, the common case
    "=?gb2312?b?wfXR8w==?= <liu@163.com>, boss@crmhub.example",  # two mailboxes, one bare
    "Dr. Anna  Smith <a.smith@example.co.uk>",                    # dots and doubled spaces in the name
    " J. R. R. Tolkien <t@x.org> ",
    "<only@angle.cn>",
    "O'Brien <o.brien+crm@x.ie>",
    "张伟 <zw@qq.com>",                                            # raw 8-bit name
    "x <a@b>, y <c@d>,",                                           # trailing comma
]
UNUSUAL = [  # the fast path declines; the stdlib parser decides
    '"Zhang, San" <zs@qq.com>',           # quoted comma
    "zs@qq.com (Zhang San)",              # comment
    "sales: a@b.cn, c@d.cn;",             # group
    "a@b <c@d>",                          # an address where a name should be
    "x <a@b",                             # unclosed angle
    "x < a@b >",                          # spaces inside the angle
    "x <a@b> y",
    "a..b@x.cn",
]


@pytest.mark.parametrize("header", EVERYDAY)
def test_everyday_headers_take_the_fast_path_with_the_stdlib_result(header: str) -> None:
    assert _simple_addresses(header) == [(n, a) for n, a in getaddresses([header]) if a]


@pytest.mark.parametrize("header", UNUSUAL)
def test_unusual_headers_are_left_to_the_stdlib_parser(header: str) -> None:
    assert _simple_addresses(header) is None


def test_one_unusual_header_sends_the_whole_message_to_the_stdlib_parser() -> None:
    found = _addresses(["wang@163.com", '"Zhang, San" <zs@qq.com>'])
    assert [a["email"] for a in found] == ["wang@163.com", "zs@qq.com"]
    assert found[1]["name"] == "Zhang, San"


_NAME = st.text(alphabet=st.sampled_from(list("ab .'_-=?张") + [" "]), max_size=12)
_LOCAL = st.text(alphabet=st.sampled_from(list("ab.+_-")), min_size=1, max_size=8)


@given(st.lists(st.tuples(_NAME, _LOCAL, st.sampled_from(["qq.com", "x.co.uk", "b"])), min_size=1, max_size=3))
def test_whenever_the_fast_path_answers_it_agrees_with_the_stdlib(mailboxes: list[tuple[str, str, str]]) -> None:
    header = ", ".join(f"{name} <{local}@{domain}>" if name.strip() else f"{local}@{domain}"
                       for name, local, domain in mailboxes)
    fast = _simple_addresses(header)
    if fast is not None:
        assert fast == [(n, a) for n, a in getaddresses([header]) if a]
