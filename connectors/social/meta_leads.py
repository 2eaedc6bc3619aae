"""Meta Lead Ads (Facebook / Instagram instant forms) as a polling source, kind ``meta_leads``: the lead-forms
adapter of the social channel, read through the Graph API's bulk read.

The contract (Meta's "Retrieving Leads", "Paginated Results" and "Handling Errors" guides):

- ``GET /{version}/{form_id}/leads`` with ``fields`` (``id, created_time, field_data`` and the ad's ids), ``limit``
  and ``filtering=[{"field": "time_created", "operator": "GREATER_THAN", "value": <unix seconds>}]``, one form per
  request, several forms per source (``options.forms``).
- Cursor paging: ``paging.cursors.after`` goes back as ``after``; a page without ``paging.next`` is the last one.
  We send our own query with ``after`` instead of following ``paging.next``, because that URL may carry the access
  token as a query parameter, and URLs end up in logs and error messages.
- Auth: the page (or system-user) access token is the connection's password, sent as ``Authorization: Bearer``,
  never in a URL; error texts are scrubbed of it in case a proxy echoes it. With the app secret in the connection
  (``extra.app_secret``) every call also carries ``appsecret_proof``, the hex HMAC-SHA256 of the token keyed by the
  app secret ("Securing Graph API Requests"). Meta refuses calls without it once the app's *Require App Secret*
  setting is on, which is what makes a stolen token alone useless; a missing or wrong proof is error 100, fatal.
- Errors come as ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id", "is_transient"}}`` and Meta
  puts throttling in the body, not the status (a rate limit is often a 400 or 403), so the class is chosen by the
  code: throttling (4, 17, 32, 613, 80000–80014) and temporary trouble (1, 2, 341, ``is_transient``, 5xx, network
  errors) → ``RetriableError``, retried with jittered backoff up to ``attempts``, waiting at least the
  ``estimated_time_to_regain_access`` of ``X-Business-Use-Case-Usage`` (or ``Retry-After``), capped by
  ``connectors.http``; anything else — 190 / ``OAuthException`` (token expired or revoked), 10 and 200–299
  (permission), 100 (no such form) — is what a person must fix: ``FatalError`` at once, with Meta's own message,
  code, subcode and ``fbtrace_id`` (what Meta support asks for).

Leads are listed newest first, so the source is *unordered*: every page's batch but a form's last carries the
cursor the run started from; the last one moves that form's window to ``newest created_time - overlap_minutes``
(never backwards). The overlap re-reads leads that Meta made readable a little after their ``created_time``; a
lead read twice is the same ``lead:<id>`` with the same content, a no-op at landing. Cursor:
``{"forms": {"<form_id>": {"time_created_after": <unix seconds>}}}``.

Records: ``lead:<id>``, payload ``{"channel": "meta_leads", "kind": "lead", "id", "created_time" (ISO 8601 UTC),
"form_id", "ad_id", "adset_id", "campaign_id", "is_organic", "platform", "fields": {question key: answer}}``; an
answer with several values (multiple choice) stays a list. Question keys are Meta's (``email``, ``phone_number``,
``full_name``, ``first_name``, ``city``, …) or the form's own custom keys (``购房预算``); ``builtin:meta_leads``
maps them.

Options: ``forms`` (required: form ids), ``api_version`` (``v22.0``), ``page_size`` (100), ``overlap_minutes``
(60), ``since`` (ISO 8601 start of a form's first window; default 90 days back, as long as Meta keeps leads),
``attempts`` (5), ``timeout`` (30 s). Connection: password = access token; ``extra.app_secret`` (optional, see
Auth); ``extra.base_url`` replaces ``https://graph.facebook.com`` (a proxy, a test server).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors._paging import dig
from connectors.credentials import get_credentials
from connectors.http import parse_retry_after, redact_url, request, retrying, truncate
from crm_core.config import SourceConfig
from crm_core.errors import ConfigError, ConnectorError, FatalError, RetriableError
from crm_core.records import Batch, SourceRecord
from crm_core.security import register_secret

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v22.0"
LEAD_FIELDS = "id,created_time,ad_id,adset_id,campaign_id,form_id,is_organic,platform,field_data"
RETENTION_DAYS = 90  # Meta keeps leads retrievable for 90 days: an older first window would only read nothing
# throttling (app, user, page, custom-rate, business-use-case limits) and Meta's own "temporary, retry" codes
RETRIABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, *range(80000, 80015)})


@dataclass(frozen=True)
class MetaLeadsOptions:
    forms: tuple[str, ...]
    api_version: str = DEFAULT_VERSION
    page_size: int = 100
    overlap_minutes: int = 60
    since: str | None = None
    attempts: int = 5
    timeout: float = 30.0


def parse_time(value: Any) -> datetime | None:
    """Graph writes ``2025-08-23T09:12:44+0000``; anything unreadable is None, never an exception."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _answer(values: Any) -> str | list[str] | None:
    """One answer stays text (what a spec reads); a multiple-choice answer stays a list; no answer is None."""
    if not isinstance(values, list):
        return str(values) if values not in (None, "") else None
    texts = [str(v) for v in values if v not in (None, "")]
    if not texts:
        return None
    return texts[0] if len(texts) == 1 else texts


def lead_payload(lead: Mapping[str, Any]) -> dict[str, Any]:
    """A lead as the mapping spec reads it: ``field_data`` becomes ``fields`` {question key: answer}."""
    fields: dict[str, Any] = {}
    for item in lead.get("field_data") or []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
            fields[item["name"]] = _answer(item.get("values"))
    created = parse_time(lead.get("created_time"))
    is_organic = lead.get("is_organic")
    return {
        "channel": "meta_leads",
        "kind": "lead",
        "id": str(lead["id"]),
        "created_time": created.isoformat() if created else None,
        "form_id": _text(lead.get("form_id")),
        "ad_id": _text(lead.get("ad_id")),
        "adset_id": _text(lead.get("adset_id")),
        "campaign_id": _text(lead.get("campaign_id")),
        "is_organic": is_organic if isinstance(is_organic, bool) else None,
        "platform": _text(lead.get("platform")),
        "fields": fields,
    }


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else None


def parse_leads(body: Any) -> list[SourceRecord]:
    """One page of ``/{form_id}/leads`` → records; an item without an id is skipped, never raised."""
    data = body.get("data") if isinstance(body, Mapping) else None
    records = []
    for lead in data if isinstance(data, list) else []:
        if not isinstance(lead, Mapping) or not isinstance(lead.get("id"), str | int) or lead.get("id") == "":
            continue
        payload = lead_payload(lead)
        records.append(SourceRecord(key=f"lead:{payload['id']}"[:500], payload=payload,
                                    occurred_at=parse_time(lead.get("created_time"))))
    return records


class GraphCursorPaginator:
    """Graph cursor paging: ``after`` from ``paging.cursors.after``; ``paging.next`` absent means the last page
    (the last page still carries an ``after`` cursor, so its presence alone proves nothing)."""

    def __init__(self) -> None:
        self.after: str | None = None
        self.has_next = True
        self._seen: set[str] = set()

    def params(self) -> dict[str, str]:
        return {"after": self.after} if self.after else {}

    def update(self, body: Any) -> None:
        after = dig(body, ("paging", "cursors", "after"))
        if not dig(body, ("paging", "next")) or not isinstance(after, str) or not after:
            self.after, self.has_next = None, False
            return
        if after in self._seen:
            raise FatalError(f"Meta returned the paging cursor {truncate(after, 40)!r} twice; stopping instead of looping")
        self._seen.add(after)
        self.after, self.has_next = after, True


def _regain_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds until Meta lifts a throttle: ``Retry-After``, else the largest ``estimated_time_to_regain_access``
    (minutes) in ``X-Business-Use-Case-Usage`` (``{"<business id>": [{"type": ..., "estimated_time_...": 5}]}``)."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    try:
        usage = json.loads(headers.get("X-Business-Use-Case-Usage") or "{}")
    except ValueError:
        return None
    minutes = [
        float(entry["estimated_time_to_regain_access"])
        for entries in (usage.values() if isinstance(usage, Mapping) else [])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, Mapping) and isinstance(entry.get("estimated_time_to_regain_access"), int | float)
    ]
    return max(minutes) * 60 if minutes and max(minutes) > 0 else None


def graph_error(response: requests.Response, secret: str | None = None) -> ConnectorError | None:
    """Our error class for a failed Graph answer, chosen by Meta's code; the text is safe to log."""
    status = response.status_code
    if status < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    said = str(error.get("message") or "").strip() or truncate(response.text.strip()) or response.reason or ""
    if secret:
        said = said.replace(secret, "***")
    context = ", ".join(
        f"{name} {value}" for name, value in (("type", error.get("type")), ("code", code), ("subcode", subcode),
                                               ("fbtrace_id", error.get("fbtrace_id"))) if value not in (None, "")
    )
    text = f"GET {redact_url(response.url)}: Meta says {truncate(said)!r}" + (f" ({context})" if context else "")
    vendor_code = None if code is None else (f"{code}/{subcode}" if subcode is not None else str(code))
    if status >= 500 or status in (408, 429) or code in RETRIABLE_CODES or error.get("is_transient") is True:
        return RetriableError(text, status=status, vendor_code=vendor_code, retry_after=_regain_seconds(response.headers))
    return FatalError(text, status=status, vendor_code=vendor_code)


@dataclass
class MetaLeadsSource:
    name: str
    base_url: str
    session: requests.Session
    options: MetaLeadsOptions
    secret: str | None = field(default=None, repr=False)
    proof: str | None = field(default=None, repr=False)  # appsecret_proof, when the connection has the app secret
    ordered: bool = False

    def __post_init__(self) -> None:
        self._get = retrying(attempts=self.options.attempts)(self._get_once)

    def _get_once(self, url: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        sent = dict(params) if self.proof is None else {**params, "appsecret_proof": self.proof}
        response = request(self.session, "GET", url, params=sent, timeout=self.options.timeout)
        error = graph_error(response, self.secret)
        if error is not None:
            raise error
        try:
            body = response.json()
        except ValueError as exc:
            raise RetriableError(f"GET {redact_url(url)}: the answer is not JSON", status=response.status_code) from exc
        if not isinstance(body, Mapping):
            raise RetriableError(f"GET {redact_url(url)}: the answer is not a JSON object", status=response.status_code)
        return body

    def _first_window(self) -> int:
        start = parse_time(self.options.since) if self.options.since else None
        start = start or datetime.now(UTC) - timedelta(days=RETENTION_DAYS)
        return int(start.timestamp())

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        known = (cursor or {}).get("forms")
        state: dict[str, dict[str, int]] = {
            str(form): {"time_created_after": int(v["time_created_after"])}
            for form, v in (known.items() if isinstance(known, Mapping) else [])
            if isinstance(v, Mapping) and isinstance(v.get("time_created_after"), int)
        }
        for form in self.options.forms:
            yield from self._read_form(form, state)

    def _read_form(self, form: str, state: dict[str, dict[str, int]]) -> Iterator[Batch]:
        window = state.get(form, {}).get("time_created_after", self._first_window())
        query = {
            "fields": LEAD_FIELDS,
            "limit": str(self.options.page_size),
            "filtering": json.dumps([{"field": "time_created", "operator": "GREATER_THAN", "value": window}],
                                    separators=(",", ":")),
        }
        url = f"{self.base_url}/{self.options.api_version}/{form}/leads"
        paging = GraphCursorPaginator()
        newest: int | None = None
        while True:
            body = self._get(url, {**query, **paging.params()})
            records = parse_leads(body)
            for record in records:
                if record.occurred_at is not None:
                    newest = max(newest or 0, int(record.occurred_at.timestamp()))
            paging.update(body)
            if not paging.has_next:
                break
            yield Batch(records=records, cursor=_snapshot(state))
        if newest is not None:
            state[form] = {"time_created_after": max(window, newest - self.options.overlap_minutes * 60)}
        else:
            state[form] = {"time_created_after": window}
        yield Batch(records=records, cursor=_snapshot(state))


def _snapshot(state: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    return {"forms": {form: dict(v) for form, v in state.items()}}


def appsecret_proof(app_secret: str, token: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def bearer_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": "crmhub", "Accept": "application/json"})
    return session


def _options(config: SourceConfig) -> MetaLeadsOptions:
    where = f"sources.{config.name}.options"
    known = set(MetaLeadsOptions.__dataclass_fields__)
    unknown = sorted(set(config.options) - known)
    if unknown:
        raise ConfigError("hub.yaml", [f"{where}: unknown option(s) {', '.join(unknown)}; known: {sorted(known)}"])
    forms = config.options.get("forms")
    if isinstance(forms, str | int):
        forms = [forms]
    if not isinstance(forms, Sequence) or not forms or not all(str(f).isdigit() for f in forms):
        raise ConfigError("hub.yaml", [f"{where}.forms: a list of lead form ids (digits) is required"])
    since = config.options.get("since")
    if since is not None and parse_time(str(since)) is None:
        raise ConfigError("hub.yaml", [f"{where}.since: {since!r} is not an ISO 8601 date-time"])
    return MetaLeadsOptions(**{**config.options, "forms": tuple(dict.fromkeys(str(f) for f in forms))})


def build(config: SourceConfig, hub: Any) -> MetaLeadsSource:
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"sources.{config.name}.connection_id: a Meta connection (access token) is required"])
    options = _options(config)
    creds = get_credentials(config.connection_id)
    if not creds.password:
        raise ConfigError("connections", [f"connection {config.connection_id!r} has no access token (its password)"])
    base_url = creds.base_url() if (creds.host or creds.extra.get("base_url")) else DEFAULT_BASE_URL
    app_secret = creds.extra.get("app_secret")
    if app_secret is not None and (not isinstance(app_secret, str) or not app_secret):
        raise ConfigError("connections", [f"connection {config.connection_id!r}: extra.app_secret must be a non-empty string"])
    proof = appsecret_proof(app_secret, creds.password) if app_secret else None
    register_secret(proof)  # it travels in the query string, which urllib3's debug lines print; token + proof = access
    return MetaLeadsSource(name=config.name, base_url=base_url, session=bearer_session(creds.password),
                           options=options, secret=creds.password, proof=proof)


__all__ = ["GraphCursorPaginator", "MetaLeadsOptions", "MetaLeadsSource", "appsecret_proof", "build", "graph_error",
           "lead_payload", "parse_leads"]
