"""IMAP mailbox folders as a source (kind ``imap``), read with imapclient.

Cursor, per folder: ``{"folders": {"INBOX": {"uidvalidity": 1795386297, "last_uid": 812}}}``. The source is
*ordered*: UIDs only grow within one UIDVALIDITY, so every chunk's batch carries the cursor up to its highest UID
and a killed run resumes after the last committed chunk.

What the protocol does that surprises:

* ``UID SEARCH UID n:*`` always returns the highest message, even when its UID is below n (``*`` is "the last
  message", and ``n:*`` is a range in either order). UIDs at or below the cursor are filtered out here.
* UIDVALIDITY changes when the server rebuilds the mailbox (restore, migration): every UID is new. The folder is
  read again from the start; the landing key is the Message-ID and the payload holds nothing UID-dependent, so the
  landing's content hash turns the rescan into no-ops instead of duplicates.
* A message expunged between SEARCH and FETCH is simply absent from the FETCH answer; the cursor still moves past
  its UID.
* Only headers, BODYSTRUCTURE and the first ``text_cap`` bytes of the first text part are fetched: attachments are
  listed by name and size, never downloaded.

Options (``sources[].options``): ``folders`` (default ``[INBOX]``), ``chunk_size`` (200), ``text_cap`` (65536
bytes), ``summary_chars`` (300), ``own_addresses`` (mail from these is ``direction: outbound``; the login is
included), ``timeout`` (30 s), ``prefetch`` (1: the next chunk is fetched while the hub lands this one, see
``connectors/_prefetch.py``; 0 reads strictly one chunk at a time), ``ssl`` (default true unless the connection's extra says ``ssl=false``), or
``maildir``: read a local Maildir / folder of ``.eml`` files instead (see ``maildir.py``), used by the demo.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl as ssl_lib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from connectors._prefetch import read_ahead, read_in_process
from connectors.credentials import Credentials, get_credentials
from crm_core.errors import ConfigError, FatalError, RetriableError
from crm_core.records import Batch, SourceRecord

from ._fetch import uid_fetch
from ._message import (
    Part,
    choose_text_part,
    decode_text,
    landing_key,
    message_payload,
    occurred_at,
)
from ._message import payload_from_bytes as _payload_from_bytes
from ._structure import parts_from_structure

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT = (OSError, socket.timeout, IMAPClientAbortError, imaplib.IMAP4.abort, ssl_lib.SSLError)


@dataclass(frozen=True)
class MailOptions:
    folders: tuple[str, ...] = ("INBOX",)
    chunk_size: int = 200
    text_cap: int = 65536
    summary_chars: int = 300
    own_addresses: tuple[str, ...] = ()
    timeout: float = 30.0
    ssl: bool | None = None
    attempts: int = 4
    prefetch: int = 1  # chunks fetched ahead while the previous one lands (0: strictly one at a time)
    reader_process: bool = True  # fetch and parse in a child process (on another core) while this one lands
    maildir: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, options: Mapping[str, Any], where: str) -> MailOptions:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError("hub.yaml", [f"{where}.options: unknown option(s) {', '.join(unknown)}"])
        values = dict(options)
        for key in ("folders", "own_addresses"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


@dataclass(frozen=True)
class FetchedMessage:
    header: bytes
    parts: list[Part]
    text_part: Part | None
    text: bytes  # the first ``text_cap`` bytes of ``text_part``, still transfer-encoded
    size: int


@dataclass
class Fetched:
    """One chunk as the server answered it; crosses from the reader process to the lander (pickled)."""

    folder: str
    messages: list[FetchedMessage] = field(default_factory=list)
    whole: list[tuple[bytes, int]] = field(default_factory=list)  # (first bytes, size) of unparseable structures


class ImapSource:
    """Reads new messages of each configured folder since the cursor."""

    ordered = True

    def __init__(self, name: str, credentials: Credentials, options: MailOptions) -> None:
        self.name = name
        self.credentials = credentials
        self.options = options
        own = set(options.own_addresses)
        if credentials.login and "@" in credentials.login:
            own.add(credentials.login)
        self.own_addresses = tuple(sorted(a.lower() for a in own))
        self._client: IMAPClient | None = None
        self._selected: str | None = None

    # ----------------------------------------------------------------------------------------- connection

    def _connect(self) -> IMAPClient:
        creds = self.credentials
        use_ssl = self.options.ssl
        if use_ssl is None:
            use_ssl = str(creds.extra.get("ssl", "true")).lower() not in ("false", "0", "no")
        client = IMAPClient(
            creds.host or "127.0.0.1", port=creds.port or (993 if use_ssl else 143), ssl=use_ssl,
            timeout=self.options.timeout,
        )
        # imapclient sets imaplib's debug level to 5, which formats every answer line and literal (mail content,
        # the people in it) for the "imapclient.imaplib" debug logger: personal data in a debug log, and a third
        # of the reader's time spent on repr() of bytes nobody reads
        client._imap.debug = 0
        try:
            client.login(creds.login or "", creds.password or "")
        except LoginError as exc:
            _close(client)
            # the server's own words (e.g. "[AUTHENTICATIONFAILED] Authentication failed."), never the login
            raise FatalError(
                f"IMAP login refused for connection {creds.conn_id!r}: {_server_text(exc)}", obj="login"
            ) from exc
        return client

    def _call(self, operation: Callable[[IMAPClient], T]) -> T:
        """Run one IMAP operation; on a dropped connection reconnect, reselect the folder and try again."""

        def attempt() -> T:
            if self._client is None:
                self._client = self._connect()
                if self._selected is not None:
                    self._client.select_folder(self._selected, readonly=True)
            try:
                return operation(self._client)
            except TRANSIENT:
                _close(self._client)
                self._client = None
                raise

        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            stop=stop_after_attempt(self.options.attempts),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except TRANSIENT as exc:
            raise RetriableError(f"IMAP connection to {self.credentials.host} kept failing: {type(exc).__name__}") from exc

    def close(self) -> None:
        if self._client is not None:
            _close(self._client)
            self._client = None

    # ---------------------------------------------------------------------------------------------- reading

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        """Batches per folder and chunk; the next chunks are fetched and built while the hub lands this one.

        Three stages, each ``prefetch`` chunks ahead of the next: fetching (imaplib and ``_fetch``'s parsing of
        the answers) in a child process (``reader_process``, the default) so it has a core of its own; building
        payloads in a thread, which runs while the landing thread waits on the database; landing in the caller.
        Per 5,000 bench messages the fetch costs about 0.6 CPU seconds and build+land about 1.1, so the child
        never holds the lander up and Dovecot gets what is left of its core. With ``reader_process: false``
        the fetch runs in a thread instead (it then only overlaps the wait on the server); ``prefetch: 0`` runs
        everything in turn, one chunk at a time.
        """
        chunks = self._fetch_chunks(cursor)
        depth = self.options.prefetch
        if depth < 1 or not self.options.reader_process:
            return self._built(read_ahead(chunks, depth))
        return read_ahead(self._built(read_in_process(chunks, depth)), depth)

    def _built(self, fetched: Iterator[tuple[Fetched, dict[str, Any]]]) -> Iterator[Batch]:
        for chunk, chunk_cursor in fetched:
            yield Batch(records=self.build_records(chunk), cursor=chunk_cursor)

    def _fetch_chunks(self, cursor: Mapping[str, Any] | None) -> Iterator[tuple[Fetched, dict[str, Any]]]:
        state: dict[str, dict[str, int]] = {
            folder: dict(value) for folder, value in ((cursor or {}).get("folders") or {}).items()
        }
        try:
            for folder in self.options.folders:
                yield from self._fetch_folder(folder, state)
        finally:
            self.close()
    def _select(self, folder: str) -> dict[bytes, Any]:
        def select(client: IMAPClient) -> dict[bytes, Any]:
            try:
                return client.select_folder(folder, readonly=True)
            except IMAPClientError as exc:
                if isinstance(exc, IMAPClientAbortError):
                    raise
                raise FatalError(f"IMAP folder {folder!r} cannot be opened: {_server_text(exc)}") from exc

        info = self._call(select)
        self._selected = folder
        return info

    def _fetch_folder(
        self, folder: str, state: dict[str, dict[str, int]]
    ) -> Iterator[tuple[Fetched, dict[str, Any]]]:
        info = self._select(folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        uidnext = int(info.get(b"UIDNEXT") or 0)
        previous = state.get(folder, {})
        last_uid = int(previous.get("last_uid", 0))
        if previous and int(previous.get("uidvalidity", 0)) != uidvalidity:
            log.warning("source %s: %s UIDVALIDITY changed; rescanning, deduplicated by Message-ID", self.name, folder)
            last_uid = 0
        elif uidnext and last_uid >= uidnext:
            raise FatalError(
                f"IMAP folder {folder!r}: cursor UID {last_uid} is beyond the server's UIDNEXT {uidnext} with the same "
                "UIDVALIDITY; the mailbox went backwards, refusing to guess"
            )
        moved = previous.get("uidvalidity") != uidvalidity
        state[folder] = {"uidvalidity": uidvalidity, "last_uid": last_uid}

        found = self._call(lambda c: c.search(["UID", f"{last_uid + 1}:*"]))
        uids = sorted(u for u in found if u > last_uid)  # the `UID n:*` trap
        if not uids and moved:
            yield Fetched(folder), _snapshot(state)
        for start in range(0, len(uids), self.options.chunk_size):
            chunk = uids[start : start + self.options.chunk_size]
            fetched = self.fetch(folder, chunk)
            state[folder] = {"uidvalidity": uidvalidity, "last_uid": chunk[-1]}
            yield fetched, _snapshot(state)

    def fetch_records(self, folder: str, uids: list[int]) -> list[SourceRecord]:
        """Records for the UIDs that still exist (expunged ones are skipped), in UID order."""
        return self.build_records(self.fetch(folder, uids))

    def fetch(self, folder: str, uids: list[int]) -> Fetched:
        """What the server says of these UIDs: headers, MIME leaves and the capped text part; nothing decoded."""
        meta = self._call(lambda c: uid_fetch(c, uids, [b"BODYSTRUCTURE", b"RFC822.SIZE", b"BODY.PEEK[HEADER]"]))
        chosen: dict[int, tuple[list[Part], Part | None]] = {}
        unreadable: list[int] = []
        for uid, data in meta.items():
            if b"BODY[HEADER]" not in data:
                continue
            try:
                parts = parts_from_structure(data[b"BODYSTRUCTURE"])
            except (AttributeError, IndexError, KeyError, TypeError, ValueError):
                unreadable.append(uid)
                continue
            chosen[uid] = (parts, choose_text_part(parts))
        texts = self._fetch_texts({uid: part for uid, (_, part) in chosen.items() if part is not None})
        fetched = Fetched(folder)
        for uid in sorted(chosen):
            data = meta[uid]
            parts, part = chosen[uid]
            fetched.messages.append(
                FetchedMessage(
                    bytes(data[b"BODY[HEADER]"]), parts, part, texts.get(uid, b""), int(data.get(b"RFC822.SIZE") or 0)
                )
            )
        fetched.whole = self._fetch_whole(unreadable, meta)
        return fetched

    def build_records(self, fetched: Fetched) -> list[SourceRecord]:
        """Payloads of fetched messages: decoding and parsing happen here, in the landing process."""
        cap = self.options.text_cap
        records: list[SourceRecord] = []
        for message in fetched.messages:
            part = message.text_part
            text, truncated = decode_text(part, message.text, cap) if part is not None else ("", False)
            payload = message_payload(
                message.header, message.parts, text, truncated, message.size, fetched.folder,
                self.own_addresses, self.options.summary_chars,
            )
            records.append(SourceRecord(landing_key(payload, message.header), payload, occurred_at(payload)))
        for raw, size in fetched.whole:
            key, payload = _payload_from_bytes(raw, fetched.folder, self.own_addresses, cap, self.options.summary_chars)
            payload["size"] = size
            records.append(SourceRecord(key, payload, occurred_at(payload)))
        return records

    def _fetch_texts(self, wanted: dict[int, Part]) -> dict[int, bytes]:
        """First ``text_cap`` bytes of each chosen section, one FETCH per distinct section number."""
        by_section: dict[str, list[int]] = {}
        for uid, part in wanted.items():
            by_section.setdefault(part.section, []).append(uid)
        cap = self.options.text_cap
        out: dict[int, bytes] = {}
        for section, uids in by_section.items():
            item = f"BODY.PEEK[{section}]<0.{cap}>".encode()
            answer = self._call(lambda c, uids=uids, item=item: uid_fetch(c, uids, [item]))
            for uid, data in answer.items():
                for key, value in data.items():
                    if key.startswith(b"BODY[") and value is not None:
                        out[uid] = bytes(value)
        return out

    def _fetch_whole(self, uids: list[int], meta: Mapping[int, Any]) -> list[tuple[bytes, int]]:
        """Fallback for a structure imapclient could not parse: the first ``text_cap`` bytes, parsed locally."""
        if not uids:
            return []
        cap = self.options.text_cap
        answer = self._call(lambda c: uid_fetch(c, uids, [f"BODY.PEEK[]<0.{cap}>".encode()]))
        whole = []
        for uid in sorted(answer):
            raw = next((bytes(v) for k, v in answer[uid].items() if k.startswith(b"BODY[") and v), b"")
            whole.append((raw, int(meta[uid].get(b"RFC822.SIZE") or len(raw))))
        return whole


def _snapshot(state: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    return {"folders": {folder: dict(value) for folder, value in state.items()}}


def _server_text(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text[:200]


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection is going away either way
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


def build(config: Any, hub: Any) -> Any:
    """Factory for ``kind: imap``: an IMAP mailbox, or a local Maildir when ``options.maildir`` is set."""
    options = MailOptions.from_config(config.options, f"sources.{config.name}")
    if options.maildir:
        from .maildir import MaildirSource

        path = Path(options.maildir)
        if not path.is_absolute() and hub is not None:
            path = Path(getattr(hub.config, "base_dir", None) or hub.home) / path
        return MaildirSource(config.name, path, options)
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"sources.{config.name}: kind imap needs connection_id (or options.maildir)"])
    return ImapSource(config.name, get_credentials(config.connection_id), options)
