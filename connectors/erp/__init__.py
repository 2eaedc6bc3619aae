"""ERP destinations: one ``ErpDestination`` over an ``ErpBackend`` per ERP (Tryton today; see ``_base`` for Odoo/REST)."""

from ._base import PARTY_FIELDS, ConcurrencyConflict, ErpBackend, ErpParty
from ._destination import ErpDestination

__all__ = ["PARTY_FIELDS", "ConcurrencyConflict", "ErpBackend", "ErpDestination", "ErpParty"]
