"""Reading ahead: a source's next batch is fetched while the hub lands the current one.

For a network source much of a batch's time is the server answering; with one batch read ahead that wait overlaps
the landing transaction of the batch before. Nothing changes for delivery: the cursor still moves only when the
hub commits a batch, so a crash loses the read-ahead batch's work, never its records. The producer is the only
one touching the connection; closing the consumer stops it and closes the source generator where it ran.

Two ways to run the producer:

* ``read_ahead``: a thread. Overlaps waiting on the server, but parsing and landing still share one core (the GIL).
* ``read_in_process``: a forked child process, batches pickled back through a pipe. Parsing (IMAP responses,
  MIME headers, canonical JSON) runs on the second core while this process lands: the same split Airbyte makes
  between a source and a destination container, for the same reason.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from crm_core.errors import HubError, RetriableError
from crm_core.forked import reset_inherited_signals

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


# what the child sends: ("item", value), ("log", LogRecord), ("end",), ("error", exception, traceback text)


def read_in_process(
    items: Iterator[T], depth: int = 1, prepare: Callable[[T], Any] | None = None, join_timeout: float = 10.0
) -> Iterator[T]:
    """Yield from ``items`` run in a forked child, up to ``depth`` items ahead; its exceptions re-raise here.

    ``items`` must not have started (a generator object is fine: fork copies it). ``prepare`` runs in the child on
    each item before it is sent, for work the consumer would otherwise do (e.g. serialising payloads). The child's
    traceback is attached to a re-raised exception as a note; an exception that does not survive pickling arrives
    as a ``HubError`` with its type and message. A child that dies without a word (killed, out of memory) is a
    ``RetriableError``: the next run starts again from the last committed cursor.
    """
    context = multiprocessing.get_context("fork")
    channel: Any = context.Queue(maxsize=max(depth, 1))
    stop = context.Event()
    parent = os.getpid()

    def produce() -> None:
        reset_inherited_signals()

        def deliver(value: object) -> bool:
            while not stop.is_set():
                if os.getppid() != parent:  # the lander was killed: nobody will ever read this, and an orphan
                    os._exit(1)  # holding its pipes would keep the caller of the dead process waiting
                try:
                    channel.put(value, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            channel.cancel_join_thread()  # nobody reads any more: do not wait to flush at exit
            return False

        _send_logs_to_parent(lambda record: deliver(("log", record)))
        try:
            for item in items:
                if prepare is not None:
                    prepare(item)
                if not deliver(("item", item)):
                    return
            deliver(("end",))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            deliver(("error", _portable(exc), traceback.format_exc()))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    child = context.Process(target=produce, name="source-reader", daemon=True)
    child.start()
    try:
        while True:
            try:
                value = channel.get(timeout=0.5)
            except queue.Empty:
                if child.is_alive():
                    continue
                try:  # it may have delivered its last words just before it ended
                    value = channel.get(timeout=1.0)
                except queue.Empty:
                    raise RetriableError(
                        f"the source's reader process ended without finishing (exit code {child.exitcode})"
                    ) from None
            if value[0] == "log":  # through this process's handlers: its log file, Airflow's masking, pytest
                record = value[1]
                logging.getLogger(record.name).handle(record)
                continue
            if value[0] == "end":
                return
            if value[0] == "error":
                _, exc, where = value
                exc.add_note(f"in the source's reader process (pid {child.pid}):\n{where}")
                raise exc
            yield value[1]
    finally:
        stop.set()
        child.join(join_timeout)
        if child.is_alive():
            child.terminate()
            child.join()
        channel.close()


class _ToParent(logging.Handler):
    """The child's only log handler: records go up the channel, in order with the batches, already formatted."""

    def __init__(self, send: Callable[[logging.LogRecord], object]) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args = record.getMessage(), None  # the arguments may not survive pickling
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            self.send(record)
        except Exception:  # noqa: BLE001 - logging must never break the reader
            self.handleError(record)


def _send_logs_to_parent(send: Callable[[logging.LogRecord], object]) -> None:
    """Route every log record of this (child) process to the parent instead of the handlers fork copied."""
    root = logging.getLogger()
    root.handlers[:] = [_ToParent(send)]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.handlers[:] = []
            logger.propagate = True


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a ``HubError`` with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure: fall back to the text
        return HubError(f"{type(exc).__name__}: {exc}")
