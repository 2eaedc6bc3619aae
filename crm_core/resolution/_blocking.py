"""Blocking: the keys that decide which pairs are compared at all, and per-key trust.

Every record emits a handful of keys; only records sharing a key are scored, so cost grows with the sizes of the
blocks, not with the square of the base. Several keys per record keep recall when one value has a typo: a misspelt
family name is still caught by given name + birth date, a wrong birth date by name + postcode.

Identity keys (``e:`` email, ``p:`` phone, ``h:`` handle, ``n:`` national id) double as deterministic match keys. A
key held by more distinct people than ``hub_identifier_max_people`` (a company switchboard, ``sales@``) is a *hub*
identifier: it neither blocks nor counts as evidence. Role mailboxes (``info@``…) are hubs from the start.

Every other key is a *name* key (name, date, place combinations). Their blocks grow with the base: against 1M
people ``nm:john|smith`` holds hundreds of records, and one new John Smith would be compared with all of them.
``max_name_block`` caps those blocks separately from identity blocks (the store sets it from
``resolution.max_name_block_size``). A capped block loses nothing when the pair shares a narrower key, which is why
a record holds several: family name + birth date, given name + postcode, and ``nc:`` name + city for people whose
records carry neither a birth date nor a postcode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._profile import Profile

IDENTITY_PREFIXES = ("e:", "p:", "h:", "n:")


@dataclass(frozen=True)
class KeyPolicy:
    hub_identifier_max_people: int = 3
    untrusted_email_locals: frozenset[str] = field(
        default_factory=lambda: frozenset({"info", "sales", "support", "admin", "contact", "office", "hello",
                                           "noreply", "no-reply"})
    )
    # blocks larger than this are not expanded into pairs (a common name alone is not worth n² comparisons)
    max_block: int = 200
    max_identity_block: int = 2000
    # name (non-identity) blocks larger than this are not expanded; None = ``max_block`` (see the module docstring)
    max_name_block: int | None = None

    def is_role_email(self, email: str) -> bool:
        return email.partition("@")[0] in self.untrusted_email_locals


def identity_keys(profile: Profile) -> list[str]:
    keys = [f"e:{e}" for e in profile.get("em", ())]
    keys += [f"p:{p}" for p in profile.get("ph", ())]
    keys += [f"h:{h}" for h in profile.get("hd", ())]
    if profile.get("nid"):
        keys.append(f"n:{profile['nid']}")
    return keys


def blocking_keys(profile: Profile) -> list[str]:
    """Identity keys plus name/date/place combinations (see the module docstring)."""
    keys = identity_keys(profile)
    gn, fn, dob, pc = profile.get("gn"), profile.get("fn"), profile.get("dob"), profile.get("pc")
    gx = profile.get("gx")
    if gn and fn:
        name = "|".join(sorted((gx or gn, fn)))
        keys.append("nm:" + name)
        if profile.get("ct"):
            keys.append(f"nc:{name}|{profile['ct']}")
    if profile.get("hz"):
        keys.append("hz:" + profile["hz"])
    if dob:
        if fn:
            keys.append(f"fd:{fn}|{dob}")
        if gx:
            keys.append(f"gd:{gx}|{dob}")
        if pc:
            keys.append(f"dp:{dob}|{pc}")
    if pc:
        if fn:
            keys.append(f"fp:{fn}|{pc}")
        if gx:
            keys.append(f"gp:{gx}|{pc}")
    if profile.get("st") and profile.get("sn"):
        keys.append(f"as:{profile['st']}|{profile['sn']}|{(fn or '')[:1]}")
    if fn and gn and dob:
        keys.append(f"ny:{fn[:2]}{gn[:2]}|{dob[:4]}")
    return keys


def is_identity(key: str) -> bool:
    return key.startswith(IDENTITY_PREFIXES)


def is_name_key(key: str) -> bool:
    """Name/date/place keys: everything that is not an identity key (see the module docstring)."""
    return not key.startswith(IDENTITY_PREFIXES)


def key_is_hub(key: str, name_signatures: Iterable[str], policy: KeyPolicy) -> bool:
    """True for identity keys that several different people share (see the module docstring)."""
    if not is_identity(key):
        return False
    if key.startswith("e:") and policy.is_role_email(key[2:]):
        return True
    return len({s for s in name_signatures if s}) > policy.hub_identifier_max_people


def key_too_big(key: str, holders: int, policy: KeyPolicy) -> bool:
    """More holders than the block of this kind of key may have: the block is not expanded into pairs."""
    if is_name_key(key):
        limit = policy.max_block if policy.max_name_block is None else policy.max_name_block
    else:
        limit = policy.max_identity_block
    return holders > limit


def key_blocks(keys: Mapping[int, Iterable[str]]) -> dict[str, list[int]]:
    """Key -> the ids of the records holding it, each id once, in the order of ``keys``.

    Built once per run and shared by the key statistics and pair generation: at a million records the two used to
    build the same million-entry mapping twice.
    """
    blocks: dict[str, list[int]] = {}
    for rid, record_keys in keys.items():
        for key in record_keys:
            members = blocks.get(key)
            if members is None:
                blocks[key] = [rid]
            elif members[-1] != rid:  # a record repeating a key was the last one added to its block
                members.append(rid)
    return blocks


def without_hub_identifiers(profile: Profile, hub_keys: set[str] | frozenset[str]) -> Profile:
    """The profile with hub emails/phones/handles removed, so they neither block nor score."""
    if not hub_keys:
        return profile
    out = dict(profile)
    for attr, prefix in (("em", "e:"), ("ph", "p:"), ("hd", "h:"), ("ev", "e:")):
        values = out.get(attr)
        if values:
            kept = [v for v in values if f"{prefix}{v}" not in hub_keys]
            if kept:
                out[attr] = kept
            else:
                out.pop(attr)
    if out.get("nid") and f"n:{out['nid']}" in hub_keys:
        out.pop("nid")
    return out
