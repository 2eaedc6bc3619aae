"""Protection of personal data and secrets: log masking, keys for encryption at rest and keyed hashes.

Public surface: ``install_log_masking`` (every entry point calls it), ``PiiMaskingFilter``, ``mask_email``,
``mask_phone``, ``mask_text``, ``register_secret``; ``fernet`` / ``keyed_hashes`` for the dead letter and the
suppression list; ``spreadsheet_safe`` / ``spreadsheet_row`` for every CSV or spreadsheet the hub writes.
"""

from ._keys import fernet, keyed_hash, keyed_hashes, set_key_provider
from ._logging import PiiMaskingFilter, install_log_masking, register_environment_secrets
from ._masking import mask_email, mask_phone, mask_text, register_secret
from ._spreadsheet import spreadsheet_row, spreadsheet_safe

__all__ = [
    "PiiMaskingFilter",
    "fernet",
    "install_log_masking",
    "keyed_hash",
    "keyed_hashes",
    "mask_email",
    "mask_phone",
    "mask_text",
    "register_environment_secrets",
    "register_secret",
    "set_key_provider",
    "spreadsheet_row",
    "spreadsheet_safe",
]
