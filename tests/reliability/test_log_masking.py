"""Personal data and secrets never reach a log line: canaries go in, masked text comes out."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from crm_core.security import PiiMaskingFilter, mask_email, mask_phone, mask_text, register_secret

from .conftest import REPO

CANARY_EMAIL = "canary.zhang@example.test"
CANARY_PHONES = ("+86 138 1234 5678", "13812345678", "+1 (415) 555-0123", "0086-138-1234-5678")
CANARY_TOKEN = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with its own handler carrying the masking filter, like the root handlers after installation."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PiiMaskingFilter())
    logger = logging.getLogger(f"crm_core.test_masking.{id(stream)}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("zhang.san@example.com", "z***@e***.com"),
        ("李@例子.中国", "李***@例***.中国"),
        ("not-an-address", "***"),
    ],
    ids=["ascii", "idn", "no-at"],
)
def test_mask_email_keeps_only_a_hint(value: str, masked: str) -> None:
    assert mask_email(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [("+86 138 1234 5678", "+** *** **** **78"), ("13812345678", "*********78"), ("110", "***")],
    ids=["e164-spaced", "cn-mobile", "short"],
)
def test_mask_phone_keeps_the_layout_and_the_last_two_digits(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize("phone", CANARY_PHONES)
def test_an_email_and_phone_in_a_log_message_and_its_arguments_come_out_masked(
    captured: tuple[logging.Logger, io.StringIO], phone: str
) -> None:
    logger, stream = captured
    logger.warning("customer %s called from %s", CANARY_EMAIL, phone)
    line = stream.getvalue()
    digits = "".join(ch for ch in phone if ch.isdigit())
    assert CANARY_EMAIL not in line and digits[:-2] not in "".join(ch for ch in line if ch.isdigit())
    assert "customer c***@e***.test called from" in line


@pytest.mark.parametrize(
    "secret_text",
    [
        f"api_key={CANARY_TOKEN}",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2lnbmF0dXJl",
        "postgresql://hub:S3cr3t-Pa55@db.internal/hub",
        '{"password": "S3cr3t-Pa55"}',
        "token 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    ],
    ids=["key-pair", "bearer-jwt", "url-credentials", "json-password", "opaque-token"],
)
def test_secrets_in_a_log_message_come_out_masked(captured: tuple[logging.Logger, io.StringIO], secret_text: str) -> None:
    logger, stream = captured
    logger.error("vendor said: %s", secret_text)
    line = stream.getvalue()
    assert "S3cr3t-Pa55" not in line and CANARY_TOKEN not in line and "eyJhbGci" not in line
    assert "9f8e7d6c5b4a39281706f5e4d3c2b1a0" not in line


def test_an_exception_traceback_in_a_log_record_is_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError(f"duplicate contact {CANARY_EMAIL}")
    except ValueError:
        logger.exception("push failed")
    assert CANARY_EMAIL not in stream.getvalue() and "ValueError: duplicate contact c***@e***.test" in stream.getvalue()


def test_a_registered_connection_password_is_masked_verbatim(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    register_secret("hunter2-but-longer")
    logger.info("login with hunter2-but-longer failed")
    assert "hunter2-but-longer" not in stream.getvalue()


def test_dates_times_and_small_numbers_stay_readable() -> None:
    line = "run 2025-08-23T01:30:00+00:00 landed 1234 of 1500 in 12.5 s, batch 3, epoch 1732312345"
    assert mask_text(line) == line


def test_after_installation_every_logger_of_the_process_is_masked_whatever_its_handler() -> None:
    """A fresh interpreter, as an entry point starts: install, then log through a child logger and the root."""
    code = (
        "import logging, sys\n"
        "from crm_core.security import install_log_masking\n"
        "logging.basicConfig(stream=sys.stdout, format='%(name)s %(message)s')\n"
        "install_log_masking(); install_log_masking()  # idempotent: no stacked filters\n"
        "assert [len(h.filters) for h in logging.getLogger().handlers] == [1]\n"
        f"logging.getLogger('connectors.imap').warning('from %s', {CANARY_EMAIL!r})\n"
        "logging.getLogger().addHandler(logging.StreamHandler(sys.stdout))  # a handler added later\n"
        f"logging.getLogger('x').error('tel %s pw %s', '+86 138 1234 5678', 'conn-secret-999')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "AIRFLOW_CONN_CRM": "salesforce://user:conn-secret-999@login.example"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert CANARY_EMAIL not in out.stdout and "1234 5678" not in out.stdout and "conn-secret-999" not in out.stdout
    assert "connectors.imap from c***@e***.test" in out.stdout

