"""Per-record results for the marketing destinations: our error class, the vendor's code, never the vendor's body."""

from __future__ import annotations

from crm_core.errors import ConnectorError, RetriableError, SkippableError
from crm_core.records import PushResult


class Conflict(SkippableError):
    """The record changed at the vendor between the planner's read and our write: re-plan, do not overwrite."""


def failed(customer_id: int, exc: ConnectorError, external_id: str | None = None) -> PushResult:
    """``error_class`` is ``conflict`` (re-plan), ``transient`` (retries spent; retry later) or ``invalid``.

    A conflict is ``stale``: that is what makes the engine read the record again and re-plan it instead of sending
    it to the dead letter."""
    error_class = "conflict" if isinstance(exc, Conflict) else "transient" if isinstance(exc, RetriableError) else "invalid"
    return PushResult(
        customer_id=customer_id, ok=False, external_id=external_id, error_class=error_class,
        error_message=str(exc), retriable=isinstance(exc, RetriableError), stale=isinstance(exc, Conflict),
        extra={"vendor_code": exc.vendor_code, "status": exc.status},
    )
