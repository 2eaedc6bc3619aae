"""Keys for encryption at rest (Fernet) and for keyed hashes (HMAC-SHA256) of identifiers.

Where a key comes from, first match wins:

1. the environment: ``HUB_SECRET_KEY`` / ``HUB_HASH_KEY``, or Airflow's variable form ``AIRFLOW_VAR_HUB_SECRET_KEY``
   / ``AIRFLOW_VAR_HUB_HASH_KEY``;
2. a provider installed with ``set_key_provider`` (the Airflow tasks install one that reads the ``hub_secret_key``
   and ``hub_hash_key`` Variables, since ``crm_core`` never imports Airflow);
3. a key file in the hub home (``secret.key`` / ``hash.key``, mode 0600), created on first use so a single-machine
   hub is protected without set-up. Several machines must share the key through 1 or 2.

Both keys take a comma-separated list, newest first. Fernet keys rotate through ``MultiFernet``: new payloads are
encrypted with the first key, old ones still decrypt with any listed key, and ``rotate_dead_letter_keys``
re-encrypts everything with the first. Hash keys cannot re-hash old values (the values are gone by design), so
lookups try every listed hash key and new entries use the first.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from ..errors import HubError

KeyProvider = Callable[[str], "str | None"]
_provider: KeyProvider | None = None
_ENV = {"secret": ("HUB_SECRET_KEY", "AIRFLOW_VAR_HUB_SECRET_KEY"), "hash": ("HUB_HASH_KEY", "AIRFLOW_VAR_HUB_HASH_KEY")}


def set_key_provider(provider: KeyProvider | None) -> None:
    """Install a lookup ``provider("hub_secret_key" | "hub_hash_key") -> value or None`` (e.g. Airflow Variables)."""
    global _provider
    _provider = provider


def _key_file(kind: str) -> Path:
    home = Path(os.environ.get("HUB_HOME") or ".crmhub").resolve()
    return home / f"{kind}.key"


def _read_or_create_key_file(path: Path, make: Callable[[], str]) -> str:
    """Create the key atomically (write a temp file, hard-link it into place) so racing processes agree on one key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text(encoding="ascii").strip()


def _raw_keys(kind: str, make: Callable[[], str]) -> list[str]:
    for name in _ENV[kind]:
        if os.environ.get(name):
            return [k.strip() for k in os.environ[name].split(",") if k.strip()]
    if _provider is not None:
        value = _provider(f"hub_{kind}_key")
        if value:
            return [k.strip() for k in value.split(",") if k.strip()]
    return [k.strip() for k in _read_or_create_key_file(_key_file(kind), make).split(",") if k.strip()]


def fernet() -> MultiFernet:
    """The dead letter's cipher: encrypts with the first configured key, decrypts with any."""
    keys = _raw_keys("secret", lambda: Fernet.generate_key().decode("ascii"))
    try:
        return MultiFernet([Fernet(k.encode("ascii")) for k in keys])
    except (ValueError, UnicodeEncodeError):
        raise HubError(
            "HUB_SECRET_KEY must be a comma-separated list of Fernet keys (32 url-safe base64-encoded bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from None


def _hash_keys() -> list[bytes]:
    return [k.encode("utf-8") for k in _raw_keys("hash", lambda: secrets.token_urlsafe(32))]


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of ``value`` under the current hash key: a stable, non-reversible stand-in for an identifier."""
    return hmac.new(_hash_keys()[0], value.encode("utf-8"), hashlib.sha256).hexdigest()


def keyed_hashes(value: str) -> list[str]:
    """The hash of ``value`` under every configured hash key (for lookups that must survive a key change)."""
    return [hmac.new(k, value.encode("utf-8"), hashlib.sha256).hexdigest() for k in _hash_keys()]
