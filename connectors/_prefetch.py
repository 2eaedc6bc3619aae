"""Reading ahead: a source's next batch is fetched in a thread while the hub lands the current one.

For a network source most of a batch's time is the server answering; with one batch read ahead that wait overlaps
the landing transaction of the batch before. Nothing changes for delivery: the cursor still moves only when the
hub commits a batch, so a crash loses the read-ahead batch's work, never its records. The producer thread is the
only one touching the connection; closing the consumer stops it and closes the source generator in that thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield from ``items`` while a thread produces up to ``depth`` items ahead; its exceptions re-raise here."""
    if depth < 1:
        yield from items
        return
    channel: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        channel.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            _deliver(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            _deliver(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _deliver(value: object) -> None:
        while not stop.is_set():
            try:
                channel.put(value, timeout=0.1)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=produce, name="source-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            value = channel.get()
            if value is _DONE:
                return
            if isinstance(value, BaseException):
                raise value
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
