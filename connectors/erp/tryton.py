"""Tryton ERP: customers as ``party.party`` with contact mechanisms and an address, over JSON-RPC.

The hub key ("hub-42") is stored in the party's ``code``: Tryton keeps party codes unique, so a create re-sent after
a lost response fails instead of making a duplicate, and the next run finds the party by its code. Configure
Tryton's party sequence so people do not hand-type ``hub-`` codes (or set ``options.key_field`` to another unique
char field).

Fields the destination reads and writes (the target mapping names these):

    name                     party name
    email, phone, mobile     the first contact mechanism of that type (created, rewritten or deleted as needed)
    street, postal_code,     the first address
    city, country            country as ISO 3166-1 alpha-2, resolved to Tryton's ``country.country``

The version marker is ``<newest _timestamp>/<hash of every _timestamp>`` of the party, its contact mechanisms and
addresses: editing a phone number in Tryton changes the mechanism's timestamp but not the party's, and must still
count as a change. A guarded update re-reads those timestamps and sends them in the write context, so Tryton itself
refuses (``ConcurrencyException``) if anything changed in between.

Connection (``connection_id``): host, port, login, password, schema = database name; ``extra.scheme`` (default
``http``) or ``extra.base_url``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.credentials import get_credentials
from crm_core.errors import ConfigError, SkippableError

from ._base import PARTY_FIELDS, ErpParty
from ._destination import ErpDestination
from ._jsonrpc import TrytonRpc

MECHANISMS = ("email", "phone", "mobile")
ADDRESS_FIELDS = ("street", "postal_code", "city", "country")
_READ = [
    "_timestamp", "write_date", "name",
    "contact_mechanisms.type", "contact_mechanisms.value", "contact_mechanisms._timestamp",
    "contact_mechanisms.write_date",
    "addresses.street", "addresses.postal_code", "addresses.city", "addresses.country.code",
    "addresses._timestamp", "addresses.write_date",
]


class TrytonBackend:
    """``ErpBackend`` for Tryton's ``party`` module."""

    def __init__(self, rpc: TrytonRpc, name: str = "tryton", batch_size: int = 100, key_field: str = "code") -> None:
        self.rpc = rpc
        self.name = name
        self.batch_size = batch_size
        self.key_field = key_field
        self._countries: dict[str, int] = {}

    # ------------------------------------------------------------------------------------------ reading

    def _search_read(self, domain: list[Any], offset: int = 0, limit: int | None = None) -> list[ErpParty]:
        rows = self.rpc.call("model.party.party.search_read", domain, offset, limit, [["id", "ASC"]],
                             [*_READ, self.key_field], {})
        return [self._party(row) for row in rows]

    def _party(self, row: Mapping[str, Any]) -> ErpParty:
        stamps = {f"party.party,{row['id']}": row["_timestamp"]}
        dates = [row.get("write_date")]
        fields: dict[str, Any] = {"name": row.get("name") or None}
        mechanisms: dict[str, int] = {}
        for mech in row.get("contact_mechanisms.") or []:
            stamps[f"party.contact_mechanism,{mech['id']}"] = mech["_timestamp"]
            dates.append(mech.get("write_date"))
            if mech["type"] in MECHANISMS and mech["type"] not in mechanisms:
                mechanisms[mech["type"]] = mech["id"]
                fields[mech["type"]] = mech["value"] or None
        addresses = row.get("addresses.") or []
        for address in addresses:
            stamps[f"party.address,{address['id']}"] = address["_timestamp"]
            dates.append(address.get("write_date"))
        if addresses:
            first = addresses[0]
            fields.update({k: first.get(k) or None for k in ("street", "postal_code", "city")})
            fields["country"] = (first.get("country.") or {}).get("code")
        newest = max(stamps.values(), key=float)
        digest = hashlib.sha256(repr(sorted(stamps.items())).encode()).hexdigest()[:12]
        return ErpParty(
            erp_id=str(row["id"]), hub_key=row.get(self.key_field) or None,
            fields={k: fields.get(k) for k in PARTY_FIELDS},
            version=f"{newest}/{digest}", updated_at=max((d for d in dates if d), default=None),
            internals={"stamps": stamps, "mechanisms": mechanisms,
                       "address": addresses[0]["id"] if addresses else None},
        )

    def read(self, hub_keys: Sequence[str], erp_ids: Sequence[str]) -> list[ErpParty]:
        domain: list[Any] = ["OR", [self.key_field, "in", list(hub_keys)], ["id", "in", [int(i) for i in erp_ids]]]
        return self._search_read(domain)

    def changed(self, since: datetime | None, offset: int, limit: int) -> list[ErpParty]:
        if since is None:
            return self._search_read([], offset, limit)
        domain = ["OR", ["write_date", ">=", since], ["contact_mechanisms.write_date", ">=", since],
                  ["addresses.write_date", ">=", since]]
        return self._search_read(domain, offset, limit)

    # ------------------------------------------------------------------------------------------ writing

    def _country_ids(self, rows: Sequence[Mapping[str, Any]]) -> None:
        codes = {str(r["country"]).upper() for r in rows if r.get("country")} - set(self._countries)
        if codes:
            for found in self.rpc.call("model.country.country.search_read", [["code", "in", sorted(codes)]],
                                       0, None, None, ["code"], {}):
                self._countries[found["code"]] = found["id"]

    def _address_values(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        values = {k: fields[k] for k in ("street", "postal_code", "city") if k in fields}
        if "country" in fields:
            code = fields["country"]
            if code and str(code).upper() not in self._countries:
                raise SkippableError(f"country {code!r} is not defined in Tryton", vendor_code="UnknownCountry")
            values["country"] = self._countries[str(code).upper()] if code else None
        return values

    def create(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
        self._country_ids([f for _, f in rows])
        values = []
        for hub_key, fields in rows:
            party: dict[str, Any] = {self.key_field: hub_key, "name": fields.get("name")}
            mechs = [{"type": t, "value": fields[t]} for t in MECHANISMS if fields.get(t)]
            if mechs:
                party["contact_mechanisms"] = [["create", mechs]]
            address = {k: v for k, v in self._address_values(fields).items() if v is not None}
            if address:
                party["addresses"] = [["create", [address]]]
            values.append(party)
        return [str(i) for i in self.rpc.call("model.party.party.create", values, {})]

    def _changes(self, party: ErpParty, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Only what differs, as Tryton one2many actions on the party."""
        internals = party.internals
        values: dict[str, Any] = {}
        if "name" in fields and fields["name"] != party.fields.get("name"):
            values["name"] = fields["name"]
        actions: list[Any] = []
        for kind in MECHANISMS:
            if kind not in fields or fields[kind] == party.fields.get(kind):
                continue
            existing = internals["mechanisms"].get(kind)
            if existing and fields[kind]:
                actions.append(["write", [existing], {"value": fields[kind]}])
            elif existing:
                actions.append(["delete", [existing]])
            elif fields[kind]:
                actions.append(["create", [{"type": kind, "value": fields[kind]}]])
        if actions:
            values["contact_mechanisms"] = actions
        address = {k: v for k, v in self._address_values(fields).items()
                   if (party.fields.get(k) if k != "country" else self._countries.get(party.fields.get(k) or ""))
                   != v}
        if address and internals["address"]:
            values["addresses"] = [["write", [internals["address"]], address]]
        elif any(v is not None for v in address.values()):
            values["addresses"] = [["create", [{k: v for k, v in address.items() if v is not None}]]]
        return values

    def update(self, rows: Sequence[tuple[ErpParty, Mapping[str, Any]]], guard: bool) -> None:
        self._country_ids([f for _, f in rows])
        args: list[Any] = []
        stamps: dict[str, str] = {}
        for party, fields in rows:
            values = self._changes(party, fields)
            if values:
                args += [[int(party.erp_id)], values]
                stamps.update(party.internals["stamps"])
        if not args:
            return
        context = {"_timestamp": stamps} if guard else {}
        self.rpc.call("model.party.party.write", *args, context)

    def delete(self, erp_ids: Sequence[str]) -> None:
        self.rpc.call("model.party.party.delete", [int(i) for i in erp_ids], {})


def build(config: Any, hub: Any) -> ErpDestination:
    """Factory for ``kind: tryton`` targets."""
    if not config.connection_id:
        raise ConfigError("hub.yaml", [f"targets.{config.name}.connection_id: a Tryton target needs a connection"])
    creds = get_credentials(config.connection_id)
    if not (creds.schema and creds.login and creds.password):
        raise ConfigError("hub.yaml", [f"connection {config.connection_id}: Tryton needs schema (database), "
                                       "login and password"])
    rpc = TrytonRpc(creds.base_url(default_scheme="http"), creds.schema, creds.login, creds.password)
    options = dict(config.options)
    backend = TrytonBackend(rpc, name=config.name, batch_size=int(options.get("batch_size", 100)),
                            key_field=str(options.get("key_field", "code")))
    return ErpDestination(backend, name=config.name)
