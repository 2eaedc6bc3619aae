"""X (Twitter) API v2: mentions of our account and direct-message events, polled with ``since_id``.

Endpoints and parameter names follow X's published OpenAPI spec (``specs/x/api-v2.json``, xdk):

- ``GET /2/users/{id}/mentions`` with ``since_id``, ``pagination_token`` (from ``meta.next_token``),
  ``max_results`` 5–100, ``post.fields``, ``expansions=author_id``, ``user.fields``; newest first.
- ``GET /2/dm_events`` with ``event_types=MessageCreate`` and ``pagination_token``; it takes no ``since_id``, so
  paging stops at the first event already landed (see ``polling.PollingSource``).
- Auth: ``Authorization: Bearer <token>``, the token being the connection's password (an app bearer token reads
  mentions; DMs need a user-context OAuth 2 token). ``extra.user_id`` names our account; without it the source asks
  ``GET /2/users/me`` once per run (user-context tokens only).
- 429 answers carry ``x-rate-limit-reset`` (epoch seconds) rather than ``Retry-After``: both are honoured, capped.

Records: ``tweet:<id>`` (kind ``mention``) and ``dm:<id>`` (kind ``dm``) with the author's handle and name taken
from ``includes.users``.

Options: ``streams`` (default ``[mentions]``; add ``dm_events``), ``max_results`` (default 100).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from connectors._paging import TokenPaginator, get_json
from connectors.credentials import get_credentials
from connectors.social.polling import PollingSource, Stream
from crm_core.config import SourceConfig
from crm_core.errors import ConfigError, FatalError
from crm_core.records import SourceRecord

DEFAULT_BASE_URL = "https://api.x.com"
# the spec's enums: author_id and sender_id are not fields but come with the author_id / sender_id expansions
POST_FIELDS = "created_at,conversation_id,lang"
DM_FIELDS = "id,text,event_type,created_at,dm_conversation_id"
USER_FIELDS = "name,username"


def _users(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    includes = body.get("includes")
    users = includes.get("users") if isinstance(includes, Mapping) else None
    return {u["id"]: u for u in users or [] if isinstance(u, Mapping) and isinstance(u.get("id"), str)}


def _items(body: Any) -> tuple[list[Mapping[str, Any]], dict[str, Mapping[str, Any]]]:
    if not isinstance(body, Mapping):
        return [], {}
    data = body.get("data")
    items = [d for d in data if isinstance(d, Mapping) and isinstance(d.get("id"), str)] if isinstance(data, list) else []
    return items, _users(body)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_mentions(body: Any) -> list[SourceRecord]:
    """One page of ``/2/users/{id}/mentions`` → records; anything unexpected in the page is skipped, never raised."""
    posts, users = _items(body)
    records = []
    for post in posts:
        author = users.get(post.get("author_id"), {}) if isinstance(post.get("author_id"), str) else {}
        payload = {
            "channel": "x",
            "kind": "mention",
            "id": post["id"],
            "text": _str(post.get("text")),
            "created_at": _str(post.get("created_at")),
            "author_id": _str(post.get("author_id")),
            "author_username": _str(author.get("username")),
            "author_name": _str(author.get("name")),
            "conversation_id": _str(post.get("conversation_id")),
            "in_reply_to_user_id": _str(post.get("in_reply_to_user_id")),
            "lang": _str(post.get("lang")),
        }
        records.append(SourceRecord(key=f"tweet:{post['id']}"[:500], payload=payload, occurred_at=None))
    return records


def parse_dm_events(body: Any) -> list[SourceRecord]:
    """One page of ``/2/dm_events`` → records for ``MessageCreate`` events (joins/leaves carry no message)."""
    events, users = _items(body)
    records = []
    for event in events:
        if event.get("event_type") not in (None, "MessageCreate"):
            continue
        sender = users.get(event.get("sender_id"), {}) if isinstance(event.get("sender_id"), str) else {}
        payload = {
            "channel": "x",
            "kind": "dm",
            "id": event["id"],
            "text": _str(event.get("text")),
            "created_at": _str(event.get("created_at")),
            "sender_id": _str(event.get("sender_id")),
            "sender_username": _str(sender.get("username")),
            "sender_name": _str(sender.get("name")),
            "dm_conversation_id": _str(event.get("dm_conversation_id")),
        }
        records.append(SourceRecord(key=f"dm:{event['id']}"[:500], payload=payload))
    return records


def streams_for(user_id: str, names: list[str], max_results: int = 100) -> list[Stream]:
    page = str(max(5, min(100, max_results)))
    known = {
        "mentions": Stream(
            name="mentions",
            path=f"/2/users/{user_id}/mentions",
            params={"max_results": page, "post.fields": POST_FIELDS, "expansions": "author_id", "user.fields": USER_FIELDS},
            parse=parse_mentions,
            paginator=lambda: TokenPaginator(("meta", "next_token"), "pagination_token"),
        ),
        "dm_events": Stream(
            name="dm_events",
            path="/2/dm_events",
            params={"max_results": page, "event_types": "MessageCreate", "dm_event.fields": DM_FIELDS,
                    "expansions": "sender_id", "user.fields": USER_FIELDS},
            parse=parse_dm_events,
            paginator=lambda: TokenPaginator(("meta", "next_token"), "pagination_token"),
            since_param=None,
        ),
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError("hub.yaml", [f"x_api streams: unknown {unknown}; known: {sorted(known)}"])
    return [known[n] for n in names]


def bearer_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": "crmhub"})
    return session


def own_user_id(session: requests.Session, base_url: str) -> str:
    body = get_json(session, base_url + "/2/users/me", {"user.fields": "id"})
    user_id = body.get("data", {}).get("id") if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping) else None
    if not isinstance(user_id, str) or not user_id.isdigit():
        raise FatalError("X /2/users/me returned no user id: set extra.user_id on the connection")
    return user_id


def build(config: SourceConfig, hub: Any) -> PollingSource:
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"sources.{config.name}.connection_id: an X connection is required"])
    creds = get_credentials(config.connection_id)
    if not creds.password:
        raise FatalError(f"connection {config.connection_id!r} has no bearer token (its password)")
    base_url = creds.base_url() if (creds.host or creds.extra.get("base_url")) else DEFAULT_BASE_URL
    session = bearer_session(creds.password)
    opts = config.options
    user_id = str(creds.extra.get("user_id") or opts.get("user_id") or own_user_id(session, base_url))
    names = list(opts.get("streams") or ["mentions"])
    return PollingSource(
        name=config.name, base_url=base_url, session=session,
        streams=streams_for(user_id, names, int(opts.get("max_results", 100))),
    )
