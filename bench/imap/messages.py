"""Realistic sales-mailbox messages for the IMAP benchmark, each with the body section a mail reader shows first.

The mix (by share of messages):

- 35 % plain UTF-8 mail, headers as UTF-8 encoded words (``=?utf-8?b?...?=``);
- 25 % GB2312/GBK mail from Chinese clients: ``=?gb2312?b?...?=`` / ``=?gbk?q?...?=`` headers, a GBK body;
- 20 % ``multipart/alternative`` (plain + HTML), as webmail sends;
- 20 % ``multipart/mixed`` with an alternative body and one or two attachments (PDF quote, XLSX price list,
  a photo; 20–120 kB each, base64), some with RFC 2231 Chinese file names.

``section`` is the IMAP body section of the first text part (what the hub fetches after reading
BODYSTRUCTURE), so the bare baseline can issue exactly the same FETCH commands without parsing anything.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid

_CN_NAMES = ["张伟", "王芳", "李娜", "欧阳娜娜", "刘洋", "陈静", "司马光", "赵敏", "黄磊", "周杰"]
_W_NAMES = ["John Smith", "Anna Müller", "Pierre Dubois", "Laura García", "James O'Brien"]
_SUBJECTS_CN = ["询价：三居室", "关于看房时间的确认", "报价单（第二版）", "合同条款问题", "请回电", "学区房咨询"]
_SUBJECTS_W = ["Quote request", "Re: Viewing on Saturday", "Price list 2025", "Contract question", "Call me back"]
_BODY_CN = "您好，\n我想了解一下贵公司的三居室价格以及付款方式，周末是否可以看房？\n联系电话：138 0013 8000\n谢谢！\n"
_BODY_W = "Hello,\nI would like a quote for the two-bedroom flat and to book a viewing.\nBest regards,\n"


@dataclass(frozen=True)
class BenchMessage:
    raw: bytes
    section: str  # the body section of the first inline text part


def _sender(rng: random.Random, n: int) -> tuple[str, str]:
    if rng.random() < 0.7:
        return rng.choice(_CN_NAMES), f"client{n}@{rng.choice(['qq.com', '163.com', 'sina.com'])}"
    name = rng.choice(_W_NAMES)
    return name, f"{name.split()[0].lower()}.{n}@example.co.uk"


def _headers(msg: EmailMessage | MIMEMultipart | MIMEText, rng: random.Random, n: int, charset: str) -> None:
    name, address = _sender(rng, n)
    subject = rng.choice(_SUBJECTS_CN + _SUBJECTS_W) + f" #{n}"
    msg["From"] = f"{Header(name, charset).encode()} <{address}>"
    msg["To"] = f"{Header('销售部', charset).encode()} <sales@crmhub.example>"
    if rng.random() < 0.3:
        msg["Cc"] = f"{Header('王经理', charset).encode()} <wang.jl@crmhub.example>, boss@crmhub.example"
    msg["Subject"] = Header(subject, charset).encode()
    when = datetime(2025, 8, 23, 9, 0, tzinfo=UTC) + timedelta(minutes=7 * n)
    msg["Date"] = format_datetime(when.astimezone(tz=None))
    msg["Message-ID"] = make_msgid(idstring=f"bench{n}", domain="mail.example.cn")
    msg["Received"] = "from mx.example.cn (mx.example.cn [203.0.113.5]) by mail.crmhub.example; " + msg["Date"]


def _alternative(text: str, charset: str) -> MIMEMultipart:
    alt = MIMEMultipart("alternative")
    alt.attach(MIMEText(text, "plain", charset))
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in text.splitlines()) + "</body></html>"
    alt.attach(MIMEText(html, "html", charset))
    return alt


def _attachment(rng: random.Random) -> MIMEApplication | MIMEImage:
    size = rng.randint(20_000, 120_000)
    data = rng.randbytes(size)
    kind = rng.random()
    if kind < 0.4:
        part = MIMEApplication(data, "pdf")
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "报价单.pdf"))
    elif kind < 0.7:
        part = MIMEApplication(data, "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        part.add_header("Content-Disposition", "attachment", filename="price-list-2025.xlsx")
    else:
        part = MIMEImage(b"\xff\xd8\xff\xe0" + data, "jpeg")
        part.add_header("Content-Disposition", "attachment", filename="IMG_2048.jpg")
    return part


def message(rng: random.Random, n: int) -> BenchMessage:
    kind = rng.random()
    chinese_client = 0.35 <= kind < 0.60
    charset = rng.choice(["gb2312", "gbk"]) if chinese_client else "utf-8"
    text = (_BODY_CN if rng.random() < 0.7 or chinese_client else _BODY_W) * rng.randint(1, 4)
    if kind < 0.60:
        msg: MIMEText | MIMEMultipart = MIMEText(text, "plain", charset)
        section = "1"
    elif kind < 0.80:
        msg = _alternative(text, charset)
        section = "1"
    else:
        msg = MIMEMultipart("mixed")
        msg.attach(_alternative(text, charset))
        for _ in range(rng.choice([1, 1, 2])):
            msg.attach(_attachment(rng))
        section = "1.1"
    _headers(msg, rng, n, charset)
    return BenchMessage(msg.as_bytes().replace(b"\n", b"\r\n"), section)


def messages(count: int, seed: int = 823) -> Iterator[BenchMessage]:
    rng = random.Random(seed)
    for n in range(1, count + 1):
        yield message(rng, n)
