"""The built-in specs for mail, calls and Twilio, fed by the connectors' own parsers (what lands is what maps)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

from connectors.email._message import payload_from_bytes
from connectors.phone._cdr_parse import parse_row
from connectors.phone.twilio import call_payload
from crm_core.config import BUILTIN_SPECS
from mapping import apply, load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _cdr(src: str, dst: str, context: str, clid: str) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow([
        "", src, dst, context, clid, "SIP/a", "SIP/b", "Dial", "SIP/6001,30", "2025-08-23 10:02:00",
        "2025-08-23 10:02:05", "2025-08-23 10:09:15", "435", "430", "ANSWERED", "DOCUMENTATION", "1755914520.31", ""])
    return out.getvalue()


def test_a_customer_mail_yields_the_customer_not_our_own_mailbox() -> None:
    raw = (EXAMPLES / "mail" / "1724376600.0001.eml").read_bytes()  # 张三 writes to sales@crmhub.example
    key, payload = payload_from_bytes(raw, "INBOX", own_addresses=["sales@crmhub.example"])
    mapped = apply(load_spec(BUILTIN_SPECS / "mail.yaml"), payload, key=key)
    assert [(c.contact.full_name, c.contact.email) for c in mapped.contacts] == [
        ("张三", "zhang.san@minghua-trade.cn")]
    [interaction] = mapped.interactions
    assert (interaction.channel, interaction.direction, interaction.occurred_at) == (
        "email", "inbound", "2025-08-23T01:30:00+00:00")


def test_our_reply_yields_its_recipient_as_an_outbound_mail() -> None:
    raw = (EXAMPLES / "mail" / "Sent" / "1724380000.0101.eml").read_bytes()
    key, payload = payload_from_bytes(raw, "Sent", own_addresses=["sales@crmhub.example"])
    mapped = apply(load_spec(BUILTIN_SPECS / "mail.yaml"), payload, key=key)
    assert [c.contact.email for c in mapped.contacts] == ["zhang.san@minghua-trade.cn"]
    assert mapped.interactions[0].direction == "outbound"


def test_an_inbound_call_yields_the_caller_and_an_internal_call_only_the_interaction() -> None:
    spec = load_spec(BUILTIN_SPECS / "cdr.yaml")
    key, payload = parse_row(_cdr("02162881234", "6001", "from-external", '"王喆" <02162881234>'), SHANGHAI)
    mapped = apply(spec, payload, key=key)
    assert [(c.contact.full_name, c.contact.phone) for c in mapped.contacts] == [("王喆", "+862162881234")]
    assert mapped.interactions[0].occurred_at == "2025-08-23T02:02:00+00:00"  # PBX time is Shanghai time
    key, payload = parse_row(_cdr("6003", "6001", "from-internal", '"Li Wei" <6003>'), SHANGHAI)
    mapped = apply(spec, payload, key=key)
    assert (mapped.contacts, mapped.errors, mapped.interactions[0].direction) == ([], [], "internal")


def test_an_outbound_twilio_call_names_the_called_party() -> None:
    call = {"sid": "CA" + "1" * 32, "from": "+861065529988", "to": "+8613800138000", "caller_name": None,
            "direction": "outbound-api", "status": "completed", "duration": "61",
            "start_time": "Sat, 23 Aug 2025 09:00:00 +0000", "date_created": "Sat, 23 Aug 2025 08:59:58 +0000"}
    mapped = apply(load_spec(BUILTIN_SPECS / "twilio.yaml"), call_payload(call), key=call["sid"])
    assert [c.contact.phone for c in mapped.contacts] == ["+8613800138000"]
    [interaction] = mapped.interactions
    assert (interaction.direction, interaction.occurred_at) == ("outbound", "2025-08-23T09:00:00+00:00")
