"""Recorded social payloads (JSON lines) in a folder, read with the live adapters' own parsers (``social_files``).

This is the offline demo of the social channel and a way to backfill from archived webhook logs. Each line is one
recorded delivery::

    {"channel": "whatsapp", "body": {"object": "whatsapp_business_account", "entry": [...]}}
    {"channel": "wechat", "body": "<xml><ToUserName>…</ToUserName>…</xml>"}
    {"channel": "x", "stream": "mentions", "body": {"data": [...], "includes": {...}, "meta": {...}}}
    {"channel": "x", "stream": "dm_events", "body": {...}}

The records are exactly what the webhook routes and the X poller produce (same keys, same payloads), so a payload
recorded here and later received live lands once. Options: ``path`` (required), ``patterns`` (default
``*.jsonl``, ``*.ndjson``). A line that cannot be read lands as an "unreadable" record for the dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors._filedrop import FileDropSource, RawRecord, unreadable
from connectors.forms._payload import BadSubmission, loads_json
from connectors.social import wechat, whatsapp
from connectors.social.x import parse_dm_events, parse_mentions
from crm_core.config import SourceConfig
from crm_core.errors import ConfigError
from crm_core.records import SourceRecord

DEFAULT_PATTERNS = ("*.jsonl", "*.ndjson")


def parse_recorded(line: Any) -> list[SourceRecord]:
    """Records of one recorded delivery; ``ValueError`` with a reason when it is not one."""
    if not isinstance(line, dict):
        raise ValueError("line is not a JSON object")
    channel, body = line.get("channel"), line.get("body")
    if channel == "whatsapp":
        return whatsapp.parse_webhook(body)[0]
    if channel == "wechat":
        if not isinstance(body, str):
            raise ValueError("a wechat body is the XML text")
        return [wechat.parse_message(body.encode("utf-8"))]
    if channel == "x":
        stream = line.get("stream", "mentions")
        if stream == "mentions":
            return parse_mentions(body)
        if stream == "dm_events":
            return parse_dm_events(body)
        raise ValueError(f"unknown x stream {stream!r}")
    raise ValueError(f"unknown channel {channel!r}: expected whatsapp, wechat or x")


@dataclass
class RecordedPayloadParser:
    csv_quotes: bool = False

    def __call__(self, raw: RawRecord) -> list[SourceRecord]:
        try:
            return parse_recorded(loads_json(raw.data, max_depth=64))
        except (BadSubmission, ValueError) as exc:  # BadPayload and BadMessage are ValueErrors too
            return [unreadable(raw, str(exc))]


def build(config: SourceConfig, hub: Any) -> FileDropSource:
    opts = config.options
    if not opts.get("path"):
        raise ConfigError("hub.yaml", [f"sources.{config.name}.options.path: the folder of recordings is required"])
    folder = Path(str(opts["path"]))
    if not folder.is_absolute() and getattr(getattr(hub, "config", None), "base_dir", None):
        folder = hub.config.base_dir / folder
    return FileDropSource(
        name=config.name,
        folder=folder,
        patterns=tuple(opts.get("patterns") or DEFAULT_PATTERNS),
        parser_for=lambda _path: RecordedPayloadParser(),
        batch_size=int(opts.get("batch_size", 500)),
        settle_seconds=float(opts.get("settle_seconds", 2.0)),
    )
