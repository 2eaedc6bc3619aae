"""The hub's error classes.

    HubError                      anything the hub raises on purpose; the CLI prints it as one line, no traceback
    ├── ConfigError               hub.yaml / mapping spec is wrong; carries every problem with its path
    ├── StoreError                the database is missing, not migrated, or refused the work
    ├── LeaseHeld                 another run of the same source/target holds the lease
    └── ConnectorError            raised at a vendor boundary, chained (``from``) to the vendor's own exception
        ├── RetriableError        timeouts, 5xx, 429: retried with backoff, honouring ``retry_after``
        ├── FatalError            401/403/400, bad credentials, quota for the day: stop the run, say why
        └── SkippableError        this one record is bad: dead letter it and carry on with the batch

Connector errors carry vendor context as attributes (status, vendor code, object, our record id), never secrets or
bodies with personal data: ``__str__`` is safe to log.
"""

from __future__ import annotations


class HubError(Exception):
    """Base class; its message is meant for a person and must be safe to log."""


class ConfigError(HubError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class StoreError(HubError):
    pass


class LeaseHeld(HubError):
    pass


class ConnectorError(HubError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        vendor_code: str | None = None,
        obj: str | None = None,
        record_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.vendor_code = vendor_code
        self.obj = obj
        self.record_id = record_id
        self.retry_after = retry_after
        parts = [message]
        if status is not None:
            parts.append(f"status={status}")
        if vendor_code:
            parts.append(f"code={vendor_code}")
        if obj:
            parts.append(f"object={obj}")
        if record_id:
            parts.append(f"record={record_id}")
        super().__init__(" ".join(parts))


class RetriableError(ConnectorError):
    pass


class FatalError(ConnectorError):
    pass


class SkippableError(ConnectorError):
    pass
