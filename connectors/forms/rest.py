"""Form backends that expose submissions over REST (``form_rest``): pages plus an ``updated_since`` cursor.

The wire contract, with every name configurable under ``options`` for a given vendor::

    GET {base}{path}?updated_since=<ISO 8601>&page_size=100[&page_token=T]
    Authorization: Bearer <connection password>
    → {"submissions": [{"id": …, "updated_at": …, "fields": {…}}, …], "next_page_token": "T2" | null}

    options: path (/submissions), items_field (submissions), next_token_field (next_page_token),
             page_token_param (page_token), since_param (updated_since), updated_field (updated_at),
             page_size_param (page_size), page_size (100), form, id_field

"Updated since" is not an ordered cursor: a submission edited during the run moves to a later page, and pages of
one run are not in cursor order. So every batch but the last carries the cursor the run started from, and the last
carries the newest ``updated_at`` seen. The vendor's filter is inclusive, so the boundary submissions are read
again next run and landing drops them as duplicates: at-least-once reading, exactly-once effect.

Errors: 429 (Retry-After honoured, capped) and 5xx are retried; 401/403 fail the run at once with the vendor's own
message; a page token returned twice stops the run instead of looping.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from connectors._paging import TokenPaginator, dig, get_json
from connectors.credentials import get_credentials
from connectors.forms._payload import parse_time, submission_record
from crm_core.config import SourceConfig
from crm_core.errors import ConfigError
from crm_core.records import Batch, SourceRecord

DEFAULTS = {
    "path": "/submissions",
    "items_field": "submissions",
    "next_token_field": "next_page_token",
    "page_token_param": "page_token",
    "since_param": "updated_since",
    "updated_field": "updated_at",
    "page_size_param": "page_size",
    "page_size": 100,
}


@dataclass
class FormRestSource:
    name: str
    base_url: str
    session: requests.Session
    options: Mapping[str, Any]
    attempts: int = 5
    max_pages: int = 10_000
    ordered: bool = False

    def _opt(self, key: str) -> Any:
        return self.options.get(key, DEFAULTS.get(key))

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        since = (cursor or {}).get("updated_since")
        start = {"updated_since": since} if since else {}
        newest: datetime | None = parse_time(since) if since else None
        paginator = TokenPaginator(str(self._opt("next_token_field")).split("."), str(self._opt("page_token_param")))
        pending: list[SourceRecord] | None = None
        url = self.base_url + str(self._opt("path"))
        for _ in range(self.max_pages):
            params = {str(self._opt("page_size_param")): str(self._opt("page_size")), **paginator.params()}
            if since:
                params[str(self._opt("since_param"))] = str(since)
            body = get_json(self.session, url, params, attempts=self.attempts)
            records, page_newest = self._records(body)
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            if pending is not None:
                yield Batch(records=pending, cursor=start)
            pending = records
            paginator.update(body)
            if not paginator.has_next:
                break
        end = {"updated_since": newest.isoformat()} if newest is not None else start
        yield Batch(records=pending or [], cursor=end)

    def _records(self, body: Any) -> tuple[list[SourceRecord], datetime | None]:
        items = dig(body, str(self._opt("items_field")).split("."))
        records: list[SourceRecord] = []
        newest: datetime | None = None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping):
                continue
            record = submission_record(item, form=self._opt("form") or self.name, id_field=self._opt("id_field"))
            updated = parse_time(item.get(str(self._opt("updated_field"))))
            if updated is not None and (newest is None or updated > newest):
                newest = updated
            records.append(record)
        return records, newest


def build(config: SourceConfig, hub: Any) -> FormRestSource:
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"sources.{config.name}.connection_id: the form backend's connection is required"])
    creds = get_credentials(config.connection_id)
    session = requests.Session()
    if creds.password:
        session.headers["Authorization"] = f"Bearer {creds.password}"
    session.headers["User-Agent"] = "crmhub"
    return FormRestSource(name=config.name, base_url=creds.base_url(), session=session, options=dict(config.options))
