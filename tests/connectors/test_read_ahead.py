"""Reading ahead: the next batch is produced while the current one is consumed, and nothing else changes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors._prefetch import read_ahead


def test_items_arrive_in_order_and_complete() -> None:
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))


def test_the_next_item_is_produced_while_the_consumer_still_holds_the_current_one() -> None:
    second_started = threading.Event()

    def source() -> Iterator[int]:
        yield 1
        second_started.set()  # the producer moved on without waiting for the consumer
        yield 2

    stream = read_ahead(source(), depth=1)
    assert next(stream) == 1
    assert second_started.wait(timeout=10)
    assert list(stream) == [2]


def test_depth_zero_reads_strictly_one_at_a_time() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(3):
            produced.append(n)
            yield n

    stream = read_ahead(source(), depth=0)
    assert next(stream) == 0
    assert produced == [0]


def test_a_failure_of_the_source_is_raised_to_the_consumer_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ConnectionResetError("server went away")

    stream = read_ahead(source())
    assert next(stream) == 1
    with pytest.raises(ConnectionResetError, match="server went away"):
        next(stream)


def test_stopping_early_closes_the_source_in_its_own_thread() -> None:
    closed_in: list[str] = []

    def source() -> Iterator[int]:
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed_in.append(threading.current_thread().name)  # where the IMAP logout would run

    stream = read_ahead(source(), depth=1)
    assert next(stream) == 1
    stream.close()
    assert closed_in == ["source-read-ahead"]


# ------------------------------------------------------------------------------------ in a child process


def test_a_reader_process_delivers_everything_in_order_from_another_process() -> None:
    import os

    from connectors._prefetch import read_in_process

    def source() -> Iterator[tuple[int, int]]:
        for n in range(300):
            yield n, os.getpid()

    items = list(read_in_process(source(), depth=2))
    assert [n for n, _ in items] == list(range(300))
    assert {pid for _, pid in items} != {os.getpid()}  # produced elsewhere: the parent's core stays free


def test_a_reader_process_failure_is_raised_here_with_the_childs_traceback() -> None:
    from connectors._prefetch import read_in_process
    from crm_core.errors import FatalError

    def source() -> Iterator[int]:
        yield 1
        raise FatalError("IMAP login refused", status=401)

    stream = read_in_process(source())
    assert next(stream) == 1
    with pytest.raises(FatalError, match="IMAP login refused") as caught:
        next(stream)
    assert caught.value.status == 401  # the vendor context survives the trip
    assert any("reader process" in note and "raise FatalError" in note for note in caught.value.__notes__)


def test_an_exception_that_cannot_travel_arrives_as_a_hub_error_with_its_text() -> None:
    from connectors._prefetch import read_in_process
    from crm_core.errors import HubError

    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:  # unpickling calls Odd(message): fails
            super().__init__(f"odd {a} {b}")

    def source() -> Iterator[int]:
        raise Odd(1, 2)
        yield 0

    with pytest.raises(HubError, match="Odd: odd 1 2"):
        list(read_in_process(source()))


def test_log_records_of_the_reader_process_reach_this_process_handlers(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from connectors._prefetch import read_in_process

    def source() -> Iterator[int]:
        logging.getLogger("connectors.email.imap").warning("UIDVALIDITY changed for %s", "INBOX")
        yield 1

    with caplog.at_level(logging.WARNING):
        assert list(read_in_process(source())) == [1]
    assert [r.getMessage() for r in caplog.records] == ["UIDVALIDITY changed for INBOX"]
    assert caplog.records[0].name == "connectors.email.imap"


def test_a_reader_process_that_dies_is_a_retriable_error() -> None:
    import os
    import signal

    from connectors._prefetch import read_in_process
    from crm_core.errors import RetriableError

    def source() -> Iterator[int]:
        os.kill(os.getpid(), signal.SIGKILL)  # out of memory, say
        yield 1

    with pytest.raises(RetriableError, match="ended without finishing"):
        list(read_in_process(source()))


def test_stopping_early_closes_the_source_in_the_reader_process(tmp_path: Path) -> None:
    import os

    from connectors._prefetch import read_in_process

    closed = tmp_path / "closed"

    def source() -> Iterator[int]:
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.write_text(str(os.getpid()))  # where the IMAP logout would run

    stream = read_in_process(source(), depth=1)
    assert next(stream) == 1
    stream.close()
    assert closed.read_text() not in ("", str(os.getpid()))


def test_a_reader_process_does_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    """A SIGKILLed lander must not leave its reader behind (it would hold the caller's pipes open)."""
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "reader.pid"
    script = f"""
import itertools, os, signal, sys
sys.path.insert(0, {str(Path.cwd())!r})
from connectors._prefetch import read_in_process

def source():
    open({str(pid_file)!r}, "w").write(str(os.getpid()))
    for n in itertools.count():
        yield n

stream = read_in_process(source(), depth=1)
next(stream)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert done.returncode == -9
    reader = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(reader):
        time.sleep(0.1)
    assert not _alive(reader)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead for our purpose
        return stat.read().split(")")[-1].split()[0] != "Z"
