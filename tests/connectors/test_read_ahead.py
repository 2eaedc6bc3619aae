"""Reading ahead: the next batch is produced while the current one is consumed, and nothing else changes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

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
