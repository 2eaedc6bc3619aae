"""A messy lead export, as Chinese and Western web forms and spreadsheets really produce it.

Two files, written row by row (memory stays flat however many rows are asked for):

- ``leads-utf8.csv``: an English-headed export in UTF-8 (60 % of the rows);
- ``leads-gbk.csv``: a Chinese-headed spreadsheet export saved by Excel in GBK (40 %).

The values are the noise the normalisers exist for: Chinese names with stray spaces and compound surnames,
``SMITH, JOHN``-style Western names, ``+86``/``0086``/full-width/landline phones and foreign numbers, e-mails with
case and space noise, ``mailto:`` and display names, dates as ``2025年8月23日``, ``23/08/2025``, ``2025-08-23``,
``二〇二五年八月二十三日``, budgets as ``300万``. About 10 % of the rows must be rejected (dead letter): an e-mail that
is no address, or neither an e-mail nor a usable phone; more values are invalid but droppable (``on_error: drop`` in
the forms spec: short phone numbers, ``下周六`` as a date, ``面议`` as a budget).
Rows of the GBK file lose the accents GBK cannot encode (``Í``), as a real GBK export would.
"""

from __future__ import annotations

import csv
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

UTF8_HEADER = ["submission_id", "submitted_at", "name", "email", "phone", "company", "city", "budget",
               "preferred_date", "newsletter", "message"]
GBK_HEADER = ["编号", "提交时间", "姓名", "邮箱", "手机", "公司", "城市", "购房预算", "预约日期", "订阅", "留言"]
GBK_SHARE = 0.4

_FAMILY_CN = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林",
              "欧阳", "司马", "诸葛", "上官"]
_GIVEN_CN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
             "超", "秀兰", "霞", "平", "刚", "小明", "建国", "子涵"]
_PINYIN = {"王": "wang", "李": "li", "张": "zhang", "刘": "liu", "陈": "chen", "杨": "yang", "黄": "huang",
           "赵": "zhao", "吴": "wu", "周": "zhou", "徐": "xu", "孙": "sun", "马": "ma", "朱": "zhu", "胡": "hu",
           "郭": "guo", "何": "he", "林": "lin", "欧阳": "ouyang", "司马": "sima", "诸葛": "zhuge", "上官": "shangguan"}
_GIVEN_W = ["John", "Mary", "Anna", "Peter", "Laura", "James", "Sophie", "Thomas", "Emma", "Lukas", "Olivia",
            "Ludwig", "Ursula", "Pierre", "Chloé"]
_FAMILY_W = ["Smith", "Müller", "Brown", "Dubois", "Taylor", "Schmidt", "Wilson", "von der Leyen", "van Beethoven",
             "O'Brien", "García", "Rossi"]
_DOMAINS_CN = ["qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "aliyun.com"]
_DOMAINS_W = ["gmail.com", "outlook.com", "example.co.uk", "web.de", "yahoo.fr"]
_COMPANIES = ["", "华为技术有限公司", "阿里巴巴", "腾讯科技", "Siemens AG", "Acme Ltd", "中国平安", "", "万科地产"]
_CITIES = ["上海", "北京", "深圳", "广州", "杭州", "成都", "London", "Berlin", "Paris", "", "南京"]
_MESSAGES = ["想了解一下三居室的价格", "Please call me back after 6pm", "", "周末可以看房吗？", "学区房有哪些",
             "Interested in the open day", "", "请发送资料到邮箱"]
_CN_DIGITS = "〇一二三四五六七八九"


@dataclass(frozen=True)
class Generated:
    files: list[Path]
    rows: int
    bytes: int


def _cn_number(n: int) -> str:
    """8 → 八, 23 → 二十三, as people write dates in full Chinese."""
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2024, 2026), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.random()
    if style < 0.25:
        return f"{y}年{m}月{d}日"
    if style < 0.45:
        return f"{y}-{m:02d}-{d:02d}"
    if style < 0.60:
        return f"{d:02d}/{m:02d}/{y}"
    if style < 0.70:
        return f"{m}/{d}/{y}"
    if style < 0.78:
        return "".join(_CN_DIGITS[int(c)] for c in str(y)) + f"年{_cn_number(m)}月{_cn_number(d)}日"
    if style < 0.86:
        return f"{y}/{m}/{d}"
    if style < 0.92:
        return f"{y}年{m}月{d}号"
    if style < 0.96:
        return ""
    return "下周六"  # not a date: dropped by the spec (on_error: drop)


def _submitted(rng: random.Random, i: int) -> str:
    second = 1_724_376_600 + i * 7
    style = rng.random()
    if style < 0.5:
        h, rest = divmod(second % 86400, 3600)
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {h:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if style < 0.8:
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:15:00+08:00"
    return str(second * 1000 if style < 0.9 else second)  # epoch milliseconds / seconds


def _chinese_person(rng: random.Random) -> tuple[str, str]:
    family, given = rng.choice(_FAMILY_CN), rng.choice(_GIVEN_CN)
    name = rng.choice([f"{family}{given}", f"{family} {given}", f" {family}{given} ", f"{family}{given}"])
    return name, f"{_PINYIN[family]}.{rng.randint(1, 99999)}"


def _western_person(rng: random.Random) -> tuple[str, str]:
    given, family = rng.choice(_GIVEN_W), rng.choice(_FAMILY_W)
    style = rng.random()
    if style < 0.15:
        name = f"{family.upper()}, {given.upper()}"
    elif style < 0.25:
        name = f"Dr. {given} {family}"
    elif style < 0.3:
        name = f"{given.lower()} {family.lower()}"
    else:
        name = f"{given} {family}"
    local = f"{given}.{family}".replace(" ", "").replace("'", "").lower()
    return name, f"{local}{rng.randint(1, 999)}"


def _email(rng: random.Random, local: str, chinese: bool) -> str:
    domain = rng.choice(_DOMAINS_CN if chinese else _DOMAINS_W)
    address = f"{local}@{domain}"
    style = rng.random()
    if style < 0.30:
        return address
    if style < 0.50:
        return f"  {address.title()} "  # case and space noise
    if style < 0.60:
        return address.upper()
    if style < 0.67:
        return f"mailto:{address}"
    if style < 0.74:
        return f"{local.split('.')[0].title()} <{address}>"
    if style < 0.79:
        return address.replace("@", "＠")  # full-width at sign from a Chinese IME
    if style < 0.83:
        return f"{address}."
    if style < 0.97:
        return ""
    return f"{local} at {domain}"  # not an address: with no valid phone the row is rejected


def _phone(rng: random.Random, chinese: bool) -> str:
    mobile = f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"
    style = rng.random()
    if not chinese and style < 0.6:
        return rng.choice([f"+44 20 7946 {rng.randint(1000, 9999)}", f"+1 415-555-{rng.randint(1000, 9999)}",
                           f"+49 30 {rng.randint(1000000, 9999999)}", f"+33 1 42 68 {rng.randint(10, 99)} 00"])
    if style < 0.30:
        return mobile
    if style < 0.45:
        return f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    if style < 0.55:
        return f"0086-{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    if style < 0.62:
        return "".join(chr(ord(c) + 0xFEE0) for c in mobile)  # full-width digits
    if style < 0.70:
        return f"(010) 6552 {rng.randint(1000, 9999)}"
    if style < 0.75:
        return f"021-{rng.randint(50000000, 69999999)} 转 {rng.randint(100, 999)}"
    if style < 0.88:
        return ""
    return str(rng.randint(1000, 99999))  # too short: dropped (on_error: drop)


def _budget(rng: random.Random) -> str:
    return rng.choice(["300万", "￥2,500,000", "500-800万", "1.2亿", "", "3000000", "面议", "450万元"])


def row(rng: random.Random, i: int) -> list[str]:
    """One lead, in the column order of both headers."""
    chinese = rng.random() < 0.7
    name, local = _chinese_person(rng) if chinese else _western_person(rng)
    email, phone = _email(rng, local, chinese), _phone(rng, chinese)
    if rng.random() < 0.02:
        email, phone = "", ""  # unreachable: the spec requires an e-mail or a phone
    return [f"S{i:08d}", _submitted(rng, i), name, email, phone, rng.choice(_COMPANIES), rng.choice(_CITIES),
            _budget(rng), _date(rng), rng.choice(["是", "否", "yes", "", "1", "opt-in"]), rng.choice(_MESSAGES)]


def _gbk_safe(value: str) -> str:
    """GBK has pinyin vowels (é, ü) but not every Latin capital (Í): such letters lose their accent."""
    try:
        value.encode("gbk")
    except UnicodeEncodeError:
        value = "".join(c if c.isascii() or _encodes(c) else unicodedata.normalize("NFKD", c)[0] for c in value)
    return value


def _encodes(char: str) -> bool:
    try:
        char.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def generate(folder: Path, rows: int, seed: int = 20250823) -> Generated:
    """Write the two export files into ``folder``; rows alternate between them by the GBK share."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    utf8_path, gbk_path = folder / "leads-utf8.csv", folder / "leads-gbk.csv"
    with utf8_path.open("w", encoding="utf-8", newline="") as utf8_file, \
            gbk_path.open("w", encoding="gbk", newline="") as gbk_file:
        utf8, gbk = csv.writer(utf8_file), csv.writer(gbk_file)
        utf8.writerow(UTF8_HEADER)
        gbk.writerow(GBK_HEADER)
        for i in range(rows):
            if rng.random() < GBK_SHARE:
                gbk.writerow([_gbk_safe(value) for value in row(rng, i)])
            else:
                utf8.writerow(row(rng, i))
    files = [utf8_path, gbk_path]
    return Generated(files=files, rows=rows, bytes=sum(p.stat().st_size for p in files))
