"""Values that travel between stages. Immutable: a stage never edits what the previous one produced."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

from .errors import FatalError


@dataclass(frozen=True)
class SourceRecord:
    """One raw record from a source.

    ``key`` is stable within the source (Message-ID, CallSid, submission id, file+line) so a later version of the
    same thing is recognised; ``payload`` must be JSON-serialisable and is what the source's mapping spec reads.
    """

    key: str
    payload: Mapping[str, Any]
    occurred_at: datetime | None = None

    @cached_property
    def canonical(self) -> str:
        """The payload as canonical JSON, computed once: its hash is the landing key and its text the stored row.

        Cached on the instance (and pickled with it), so a reader process can pay for it instead of the lander.
        """
        return canonical_json(dict(self.payload))

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Batch:
    """Records plus the cursor that is true once they are landed."""

    records: Sequence[SourceRecord]
    cursor: Mapping[str, Any]


@runtime_checkable
class Source(Protocol):
    """A stream with a declared cursor.

    ``ordered`` sources (IMAP UIDs, file offsets) may have their cursor committed per batch and resume mid-way after a
    crash. Unordered ones ("updated since" APIs) yield intermediate batches with the *previous* cursor and only the
    last batch carries the advanced cursor, so a crash re-reads the window instead of skipping part of it.
    """

    name: str
    ordered: bool

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]: ...


@dataclass(frozen=True)
class PushResult:
    """Outcome of writing one customer to one target."""

    customer_id: int
    ok: bool
    external_id: str | None = None
    created: bool = False
    error_class: str | None = None
    error_message: str | None = None
    retriable: bool = False
    # the target refused because the record changed after it was read (412, ConcurrencyException): re-plan it
    stale: bool = False
    remote_version: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


class SerializedJSON(str):
    """JSON text that a JSON column stores as it is (see ``store_json``), instead of encoding a dict again."""


def store_json(value: Any) -> str:
    """The engines' JSON serializer: already-serialised text passes through, anything else is encoded as usual."""
    return str.__str__(value) if isinstance(value, SerializedJSON) else json.dumps(value)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------- outbound


@dataclass(frozen=True)
class RemoteRecord:
    """A target's current state of one record, in the target's own field names."""

    external_id: str
    fields: Mapping[str, Any]
    # the target's version marker for optimistic concurrency and echo suppression (SystemModstamp, _timestamp, …)
    version: str | None = None
    updated_at: datetime | None = None
    # the value of the target's external-id field (the hub key, e.g. "hub-42"); None for records made in the target
    hub_key: str | None = None


@dataclass(frozen=True)
class RemoteBatch:
    """Records a target changed, plus the pull-back cursor that is true once they are processed."""

    records: Sequence[RemoteRecord]
    cursor: Mapping[str, Any]


@dataclass(frozen=True)
class OutboundItem:
    """One upsert: the customer, the key the target can find it by, and the target-named fields to write."""

    customer_id: int
    hub_key: str  # value of the target's external-id field holding the hub customer id (e.g. "hub-42")
    fields: Mapping[str, Any]
    external_id: str | None = None  # the target's own id, once known
    expected_version: str | None = None  # write only if the remote is still at this version


class QuotaExceeded(FatalError):
    """The target's daily allowance is used up (Salesforce ``REQUEST_LIMIT_EXCEEDED`` arrives as 403, not 429).

    A destination raises it from ``fetch``/``upsert``; the push stops cleanly, keeps what it finished, and the next
    run resumes: nothing is dead-lettered for it.
    """


@runtime_checkable
class Destination(Protocol):
    """A target system. Batch sizes follow the vendor's limits; every call returns per-record results.

    Optional capabilities are separate methods a destination may lack: ``changed_since(cursor)`` for pulling edits
    back (yields ``RemoteBatch``es of ``RemoteRecord``s with ``hub_key`` set where the target holds one; only the
    last batch carries the advanced cursor), ``delete(external_ids) -> [external ids gone]`` for erasure, and
    ``fetch_by_external_id = True`` for a target that cannot look records up by the hub key (Mailchimp): the engine
    then fetches known records by the external id it stored in ``sync_state``.

    ``upsert`` must be idempotent by ``hub_key`` (a re-send after a lost response updates, never duplicates), and
    should honour ``expected_version`` where the target can: a record changed since then comes back as
    ``PushResult(ok=False, stale=True)`` and is re-planned. ``fetch`` is keyed by ``hub_key``.
    """

    name: str
    batch_size: int

    def fetch(self, keys: Sequence[str]) -> dict[str, RemoteRecord]:
        """Current remote state by hub_key (or external id) for one batch; missing keys are absent from the dict."""
        ...

    def upsert(self, items: Sequence[OutboundItem]) -> list[PushResult]: ...
