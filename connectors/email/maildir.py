"""A local Maildir (or a folder of ``.eml`` files) read like an IMAP mailbox: the demo's mail source.

Same parser and payload as IMAP (``_message.payload_from_bytes``), same per-folder, ordered cursor, with the file
name standing in for the UID: ``{"folders": {"INBOX": {"last_name": "1724390000.M1P1.host"}}}``. Maildir names
begin with the delivery time in seconds, so name order is delivery order and a new message sorts after the
cursor. Layouts: Maildir++ (``cur/``, ``new/`` and ``.Sub.Folder/`` subfolders) or plain ``*.eml`` files, read
in name order as ``INBOX``; each subdirectory of ``.eml`` files is a folder of its own name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from crm_core.errors import ConfigError
from crm_core.records import Batch, SourceRecord

from ._message import occurred_at, payload_from_bytes

log = logging.getLogger(__name__)


def _base_name(path: Path) -> str:
    return path.name.split(":2,")[0]  # flags after ":2," change when a message is read; the name before does not


def folders_of(root: Path) -> dict[str, list[Path]]:
    """Folder name → message files, sorted by their stable base name."""
    found: dict[str, list[Path]] = {}
    if (root / "cur").is_dir() or (root / "new").is_dir():
        boxes = {"INBOX": root}
        boxes.update({d.name[1:]: d for d in sorted(root.iterdir()) if d.is_dir() and d.name.startswith(".")})
        for folder, box in boxes.items():
            files = [f for sub in ("cur", "new") if (box / sub).is_dir() for f in (box / sub).iterdir() if f.is_file()]
            found[folder] = sorted(files, key=_base_name)
    else:
        found["INBOX"] = sorted(root.glob("*.eml"))
        for sub in sorted(d for d in root.iterdir() if d.is_dir()):
            found[sub.name] = sorted(sub.glob("*.eml"))
    return found


class MaildirSource:
    ordered = True

    def __init__(self, name: str, root: Path, options: Any) -> None:
        if not root.is_dir():
            raise ConfigError("hub.yaml", [f"sources.{name}.options.maildir: {root} is not a directory"])
        self.name = name
        self.root = root
        self.options = options
        self.own_addresses = tuple(a.lower() for a in options.own_addresses)

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Batch]:
        state: dict[str, dict[str, str]] = {
            folder: dict(value) for folder, value in ((cursor or {}).get("folders") or {}).items()
        }
        available = folders_of(self.root)
        wanted = [f for f in self.options.folders if f in available] if self.options.folders != ("INBOX",) else list(
            available
        )
        for folder in wanted:
            last = state.get(folder, {}).get("last_name", "")
            files = [f for f in available[folder] if _base_name(f) > last]
            for start in range(0, len(files), self.options.chunk_size):
                chunk = files[start : start + self.options.chunk_size]
                records = []
                for path in chunk:
                    try:
                        raw = path.read_bytes()
                    except FileNotFoundError:  # moved or deleted since listing, like an IMAP expunge
                        continue
                    key, payload = payload_from_bytes(
                        raw, folder, self.own_addresses, self.options.text_cap, self.options.summary_chars
                    )
                    records.append(SourceRecord(key, payload, occurred_at(payload)))
                state[folder] = {"last_name": _base_name(chunk[-1])}
                yield Batch(records=records, cursor={"folders": {k: dict(v) for k, v in state.items()}})
