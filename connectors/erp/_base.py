"""The ERP interface: what an ERP backend must offer so one ``ErpDestination`` can sync customers to it.

Tryton implements it over JSON-RPC (``tryton.py``). Another ERP implements the same five methods:

- **Odoo** over XML-RPC (``/xmlrpc/2/object`` ``execute_kw``): ``res.partner`` keyed by ``ref``; ``read``/``search_read``
  with ``write_date`` as the version; Odoo has no server-side stale-write check, so ``update(guard=True)`` re-reads
  ``write_date`` in the same call sequence and raises ``ConcurrencyConflict`` itself (a narrower window than Tryton's).
- **A generic REST ERP**: ``GET /customers?key=…`` for ``read``, ``POST`` for ``create``, ``PATCH`` with
  ``If-Match: <etag>`` for a guarded ``update`` (412 → ``ConcurrencyConflict``), ``GET ?updated_since=`` for changes.

A backend speaks in flat, ERP-named fields (``name, email, phone, mobile, street, postal_code, city, country``) and
raises our error classes; it never knows about customers, sync state or the database.

Batch calls are all-or-nothing on the ERP side (Tryton runs one RPC in one transaction), so the destination tries a
whole batch first and, only when the ERP refuses it, repeats it record by record to find which record is at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from crm_core.errors import ConnectorError, FatalError, RetriableError, SkippableError

from ._jsonrpc import ConcurrencyConflict

PARTY_FIELDS = ("name", "email", "phone", "mobile", "street", "postal_code", "city", "country")


@dataclass(frozen=True)
class ErpParty:
    """One customer as the ERP holds it now."""

    erp_id: str
    hub_key: str | None
    fields: Mapping[str, Any]
    version: str  # changes whenever the party or any of its contact mechanisms / addresses changes
    updated_at: datetime | None = None
    # backend-private details a guarded update needs (Tryton: the ``_timestamp`` of every record involved)
    internals: Mapping[str, Any] = field(default_factory=dict, compare=False)


class ErpBackend(Protocol):
    name: str
    batch_size: int

    def read(self, hub_keys: Sequence[str], erp_ids: Sequence[str]) -> list[ErpParty]:
        """Parties whose hub key or ERP id is among those given (one request)."""
        ...

    def create(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """Create parties from (hub_key, fields), all or none; returns ERP ids in order."""
        ...

    def update(self, rows: Sequence[tuple[ErpParty, Mapping[str, Any]]], guard: bool) -> None:
        """Write the given fields, all or none. With ``guard``, raise ``ConcurrencyConflict`` if any party changed
        since it was read as that ``ErpParty``."""
        ...

    def changed(self, since: datetime | None, offset: int, limit: int) -> list[ErpParty]:
        """Parties changed at or after ``since`` (all when None), in a stable order, one page."""
        ...

    def delete(self, erp_ids: Sequence[str]) -> None: ...


def result_error(customer_id: int, exc: ConnectorError, external_id: str | None = None) -> Any:
    """A failed per-record ``PushResult`` carrying the vendor's own code and message."""
    from crm_core.records import PushResult

    if isinstance(exc, ConcurrencyConflict):
        error_class = "conflict"
    elif isinstance(exc, RetriableError):
        error_class = "transient"
    else:
        error_class = "invalid"
    return PushResult(
        customer_id=customer_id, ok=False, external_id=external_id, error_class=error_class,
        error_message=str(exc), retriable=isinstance(exc, RetriableError),
        stale=isinstance(exc, ConcurrencyConflict),  # the engine reads it again and re-plans, never overwrites
        extra={"vendor_code": exc.vendor_code, "status": exc.status},
    )


def isolate(rows: Sequence[Any], run: Any) -> list[Any | ConnectorError]:
    """Run ``run(rows)`` once; if the ERP refuses the batch for a record-level reason, run each row alone.

    Returns, per row, ``run``'s per-row result or the ``ConnectorError`` that row alone raised. Fatal errors (and
    retriable ones that outlived their retries) stop here: they are not about one record.
    """
    if not rows:
        return []
    try:
        return list(run(rows))
    except RetriableError as exc:  # retries already spent on the whole batch: every row is still pending
        return [exc] * len(rows)
    except SkippableError as exc:
        if len(rows) == 1:
            return [exc]
    outcomes: list[Any | ConnectorError] = []
    for row in rows:
        try:
            outcomes.extend(run([row]))
        except (SkippableError, RetriableError) as exc:
            outcomes.append(exc)
    return outcomes


__all__ = ["PARTY_FIELDS", "ConcurrencyConflict", "ErpBackend", "ErpParty", "FatalError", "isolate", "result_error"]
