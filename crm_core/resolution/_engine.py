"""The matching core shared by ``resolve_pending`` (the store) and ``crmhub dedupe`` (files, in memory).

Given *existing* records (already clustered: each carries its cluster, i.e. customer id) and *new* records, it

1. drops hub identifiers (shared switchboards, role mailboxes) from the profiles,
2. pairs every new record with the records it shares a blocking key with (never existing with existing: those
   pairs were decided when they were new, which is what makes a batch cost independent of the base size),
3. scores each pair (deterministic keys first, then Fellegi–Sunter),
4. links in order of descending score with union-find, refusing unions that merge protection forbids and pairs
   that name another person (``is_other_person``),
5. sends pairs between the thresholds (and refused or held pairs) to review.

Linking is single-link over edges above the auto-link threshold, so the final clusters are the connected components
of those edges whichever order records arrive in: an incremental run gives what a full run gives, except where
merge protection or a review decision made an order-dependent choice.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein

from ._blocking import (
    KeyPolicy,
    blocking_keys,
    is_identity,
    key_blocks,
    key_is_hub,
    key_too_big,
    without_hub_identifiers,
)
from ._compare import COMPARISONS, NULL, gamma
from ._model import MatchModel
from ._parallel import MIN_PARALLEL_ITEMS, gamma_vectors
from ._profile import Profile, name_signature

log = logging.getLogger(__name__)

RecordId = int
_IDX = {c.name: i for i, c in enumerate(COMPARISONS)}
DETERMINISTIC = ("email", "handle", "national_id", "phone")
OTHER_PERSON = "different given name and birth date"


def is_other_person(vector: tuple[int, ...]) -> bool:
    """Both sides name a different given name *and* a different birth year: another person, however much contact
    data they share (a household: same family name, address and home phone). Such a pair never links
    automatically; it goes to review when it scores high enough. Fellegi–Sunter alone would link it, because it
    counts phone, street, postcode and city as independent evidence when in a household they are one fact."""
    return vector[_IDX["given_name"]] == 0 and vector[_IDX["birth_date"]] == 0


@dataclass
class MatchRecord:
    id: RecordId
    profile: Profile
    cluster: Hashable | None = None  # the existing customer, None for a record not linked yet
    new: bool = True


@dataclass(frozen=True)
class Thresholds:
    auto_link: float = 0.92
    review: float = 0.70


@dataclass
class Edge:
    a: RecordId
    b: RecordId
    score: float
    evidence: dict[str, Any]


@dataclass
class Outcome:
    """Final clusters (lists of record ids, with the existing clusters each absorbs), evidence and review pairs."""

    groups: list[tuple[list[Hashable], list[RecordId]]] = field(default_factory=list)
    evidence: dict[RecordId, dict[str, Any]] = field(default_factory=dict)
    reviews: list[Edge] = field(default_factory=list)
    pairs_scored: int = 0


def classify_keys(
    records: Iterable[MatchRecord],
    policy: KeyPolicy,
    keys: dict[RecordId, list[str]] | None = None,
    blocks: Mapping[str, list[RecordId]] | None = None,
) -> tuple[set[str], set[str]]:
    """(hub keys, oversized keys) seen among these records: the in-memory twin of the store's key statistics.

    ``blocks`` (from ``key_blocks`` over the same records) saves building the key -> holders mapping again. Name
    signatures are only needed for identity keys (a name key is never a hub), so only their holders compute one.
    """
    records = list(records)
    if blocks is None:
        blocks = key_blocks(keys if keys is not None else {r.id: blocking_keys(r.profile) for r in records})
    profile_of = {r.id: r.profile for r in records}
    signature_of: dict[RecordId, str] = {}

    def signature(rid: RecordId) -> str:
        sig = signature_of.get(rid)
        if sig is None:
            sig = signature_of[rid] = name_signature(profile_of[rid])
        return sig

    hub: set[str] = set()
    big: set[str] = set()
    for key, members in blocks.items():
        # fewer holders than the limit cannot be distinct people enough; only a role mailbox is a hub from one
        could_be_hub = len(members) > policy.hub_identifier_max_people or (
            key.startswith("e:") and policy.is_role_email(key[2:]))
        if could_be_hub and is_identity(key) and key_is_hub(key, map(signature, members), policy):
            hub.add(key)
        elif key_too_big(key, len(members), policy):
            big.add(key)
    return hub, big


class Matcher:
    def __init__(self, model: MatchModel, thresholds: Thresholds, policy: KeyPolicy, protect: bool = True) -> None:
        self.model = model
        self.thresholds = thresholds
        self.policy = policy
        self.protect = protect
        self._rules: dict[tuple[int, ...], str | None] = {}  # deterministic rule per distinct vector

    # ---------------------------------------------------------------------------------------------- pairs

    @staticmethod
    def candidate_pairs(
        records: list[MatchRecord],
        keys: dict[RecordId, list[str]],
        unusable: set[str],
        blocks: Mapping[str, list[RecordId]] | None = None,
    ) -> list[tuple[RecordId, RecordId]]:
        """Pairs sharing a usable key with at least one new side; existing-existing pairs were decided before.

        Only keys some new record holds make blocks: an existing record also holds keys no new record has, and
        those blocks could only pair existing with existing. ``blocks`` are ``key_blocks`` of these records' keys
        when the caller has them already. Pairs are collected as one integer each (``a * span + b``): the same
        pair turns up in several blocks (name, name + birth date, name + postcode…), and a set of a few million
        ints is far smaller and faster than one of tuples.
        """
        if not records:
            return []
        new_ids = {r.id for r in records if r.new}
        if blocks is None:
            blocks = key_blocks({r.id: keys[r.id] for r in records})
        # with every record new (a file deduplicated whole) every block qualifies: skip building the set of keys
        all_new = len(new_ids) == len(records)
        wanted = set() if all_new else {key for r in records if r.new for key in keys[r.id]}
        span = max(r.id for r in records) + 1
        seen: set[int] = set()
        for key, members in blocks.items():
            if len(members) < 2 or key in unusable or not (all_new or key in wanted):
                continue
            if all_new:
                ordered = sorted(members)
                for i, a in enumerate(ordered):
                    base = a * span
                    seen.update([base + b for b in ordered[i + 1:]])
                continue
            fresh = sorted(m for m in members if m in new_ids)
            existing = [m for m in members if m not in new_ids]
            seen.update(a * span + b for a, b in combinations(fresh, 2))
            seen.update(a * span + b if a < b else b * span + a for a in fresh for b in existing)
        return [(code // span, code % span) for code in sorted(seen)]

    # ---------------------------------------------------------------------------------------------- scoring

    def decide(self, vector: tuple[int, ...], a: Profile, b: Profile) -> tuple[float, str, float]:
        """(match probability, rule, weight): deterministic keys first, else the Fellegi–Sunter posterior.

        A trusted email, phone, handle or national id shared by both sides links them outright, unless the names
        disagree (a household sharing a phone) or the national ids differ.
        """
        weight = self.model.weight(vector, a, b)
        if vector in self._rules:
            rule = self._rules[vector]
        else:
            rule = self._rules[vector] = self._deterministic_rule(vector)
        if rule is not None:
            return 1.0, rule, weight
        return self.model.probability(weight), "probabilistic", weight

    def _below_review(self, vector: tuple[int, ...]) -> bool:
        """True when no pair with this vector can score at the review threshold (``MatchModel.max_weight``)."""
        if vector not in self._rules:
            self._rules[vector] = self._deterministic_rule(vector)
        if self._rules[vector] is not None:
            return False
        return self.model.probability(self.model.max_weight(vector)) < self.thresholds.review

    @staticmethod
    def _deterministic_rule(vector: tuple[int, ...]) -> str | None:
        given, family = vector[_IDX["given_name"]], vector[_IDX["family_name"]]
        if given != 0 and family != 0 and vector[_IDX["national_id"]] not in (0, 1):
            for name in DETERMINISTIC:
                level = vector[_IDX[name]]
                if level != NULL and level == len(COMPARISONS[_IDX[name]].levels) - 1:
                    return f"deterministic:{name}"
        return None

    def evidence(self, vector: tuple[int, ...], probability: float, rule: str, weight: float) -> dict[str, Any]:
        out = {"rule": rule, "score": round(probability, 4), "weight": round(weight, 2),
               "comparisons": self.model.explain(vector)}
        if is_other_person(vector):
            out["held"] = OTHER_PERSON
        return out

    def score_vector(self, vector: tuple[int, ...], a: Profile, b: Profile) -> tuple[float, dict[str, Any]]:
        probability, rule, weight = self.decide(vector, a, b)
        return probability, self.evidence(vector, probability, rule, weight)

    def score(self, a: Profile, b: Profile) -> tuple[float, dict[str, Any]]:
        return self.score_vector(gamma(a, b), a, b)

    # ---------------------------------------------------------------------------------------------- clustering

    def run(
        self,
        records: list[MatchRecord],
        hub_keys: set[str] | None = None,
        skip_keys: set[str] | None = None,
        cannot_link: set[tuple[RecordId, Hashable]] | None = None,
        estimate: bool = False,
        term_frequencies: bool = False,
        keys: dict[RecordId, list[str]] | None = None,
        workers: int = 1,
        min_parallel: int = MIN_PARALLEL_ITEMS,
    ) -> Outcome:
        """Match the new records (see the module docstring).

        ``estimate`` first fits the model by EM on these pairs; ``term_frequencies`` takes value frequencies from
        these records (right for a file deduplicated as a whole, wrong for one batch of a growing base). ``keys``
        are the records' blocking keys when the caller already has them (the store reads them with the records).
        ``workers`` > 1 compares the pairs in that many forked processes when there are at least ``min_parallel``
        of them (``gamma_vectors``); the outcome is the same whatever the number.
        """
        started = time.perf_counter()
        if keys is None:
            keys = {r.id: blocking_keys(r.profile) for r in records}
        blocks = key_blocks({r.id: keys[r.id] for r in records})
        if hub_keys is None or skip_keys is None:
            found_hub, found_big = classify_keys(records, self.policy, keys, blocks)
            hub_keys = found_hub if hub_keys is None else hub_keys
            skip_keys = found_big if skip_keys is None else skip_keys
        profiles = {r.id: without_hub_identifiers(r.profile, hub_keys) for r in records}
        pairs = self.candidate_pairs(records, keys, hub_keys | skip_keys, blocks)
        del blocks
        log.debug("%d records: %d candidate pairs in %.1f s", len(records), len(pairs), time.perf_counter() - started)
        vectors = gamma_vectors(profiles, pairs, workers, min_parallel)
        log.debug("compared in %.1f s (%d workers)", time.perf_counter() - started, workers)
        if estimate:
            self.model = self.model.estimate(Counter(vectors))
        if term_frequencies:
            self.model = self.model.with_term_frequencies(profiles.values())
        log.debug("model ready in %.1f s", time.perf_counter() - started)
        by_id = {r.id: r for r in records}
        edges: list[Edge] = []
        hopeless: dict[tuple[int, ...], bool] = {}  # per distinct vector: below review whatever the values
        for (a, b), vector in zip(pairs, vectors, strict=True):
            below = hopeless.get(vector)
            if below is None:
                below = hopeless[vector] = self._below_review(vector)
            if below:
                continue
            score, rule, weight = self.decide(vector, profiles[a], profiles[b])
            if score >= self.thresholds.review:
                edges.append(Edge(a, b, score, self.evidence(vector, score, rule, weight)))
        edges.sort(key=lambda e: (-e.score, e.a, e.b))
        log.debug("%d edges scored in %.1f s", len(edges), time.perf_counter() - started)
        forest = _Forest(records, profiles, self.protect, cannot_link or set())
        outcome = Outcome(pairs_scored=len(pairs))
        maybe_review: list[Edge] = []
        for edge in edges:
            if forest.forbidden_pair(edge.a, edge.b):
                continue  # a person already said no
            if edge.score >= self.thresholds.auto_link and "held" not in edge.evidence and forest.union(edge.a, edge.b):
                for rid, other in ((edge.a, edge.b), (edge.b, edge.a)):
                    if by_id[rid].new and rid not in outcome.evidence:
                        outcome.evidence[rid] = {**edge.evidence, "with_record": other}
            else:
                if edge.score >= self.thresholds.auto_link and "held" not in edge.evidence:
                    edge.evidence = {**edge.evidence, "held": "merge protection"}
                maybe_review.append(edge)
        seen_review: set[tuple[RecordId, RecordId]] = set()
        for edge in maybe_review:
            ra, rb = forest.find(edge.a), forest.find(edge.b)
            if ra != rb and (ra, rb) not in seen_review:
                seen_review.add((ra, rb))
                seen_review.add((rb, ra))
                outcome.reviews.append(edge)
        outcome.groups = forest.groups()
        for r in records:
            if r.new and r.id not in outcome.evidence:
                outcome.evidence[r.id] = {"rule": "kept" if r.cluster is not None else "new", "score": None}
        return outcome


class _Forest:
    """Union-find over records whose roots carry merge-protection facts (verified emails, national ids)."""

    def __init__(
        self, records: list[MatchRecord], profiles: dict[RecordId, Profile], protect: bool,
        cannot_link: set[tuple[RecordId, Hashable]],
    ) -> None:
        self.parent: dict[RecordId, RecordId] = {}
        self.clusters: dict[RecordId, list[Hashable]] = {}
        self.forbidden: dict[RecordId, set[Hashable]] = defaultdict(set)
        for rid, cluster in cannot_link:
            self.forbidden[rid].add(cluster)
        self.emails: dict[RecordId, set[str]] = {}
        self.nids: dict[RecordId, set[str]] = {}
        self.protect = protect
        first_of: dict[Hashable, RecordId] = {}
        for r in records:
            self.parent[r.id] = r.id
            self.clusters[r.id] = [r.cluster] if r.cluster is not None else []
            self.emails[r.id] = set(profiles[r.id].get("ev", ()))
            self.nids[r.id] = {profiles[r.id]["nid"]} if profiles[r.id].get("nid") else set()
        for r in records:  # records of one existing cluster start out united
            if r.cluster is not None:
                if r.cluster in first_of:
                    self._join(self.find(first_of[r.cluster]), self.find(r.id))
                else:
                    first_of[r.cluster] = r.id

    def find(self, x: RecordId) -> RecordId:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def forbidden_pair(self, a: RecordId, b: RecordId) -> bool:
        """A person decided one side is not (a customer now part of) the other side."""
        ra, rb = self.find(a), self.find(b)
        fa, fb = self.forbidden.get(ra), self.forbidden.get(rb)
        return bool((fa and fa.intersection(self.clusters[rb])) or (fb and fb.intersection(self.clusters[ra])))

    def _conflict(self, a: RecordId, b: RecordId) -> bool:
        if not self.protect:
            return False
        ea, eb = self.emails[a], self.emails[b]
        if ea and eb and not (ea & eb):
            return True
        na, nb = self.nids[a], self.nids[b]
        if na and nb and not (na & nb):
            # one typo apart is the same id mistyped, not two people
            return not any(DamerauLevenshtein.distance(x, y, score_cutoff=1) <= 1 for x in na for y in nb)
        return False

    def _join(self, ra: RecordId, rb: RecordId) -> None:
        if ra == rb:
            return
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        absorbed = self.clusters.pop(rb)
        if absorbed:
            self.clusters[ra] = sorted(set(self.clusters[ra]) | set(absorbed), key=str)
        self.emails[ra] |= self.emails.pop(rb)
        if rb in self.forbidden:
            self.forbidden[ra] |= self.forbidden.pop(rb)
        self.nids[ra] |= self.nids.pop(rb)

    def union(self, a: RecordId, b: RecordId) -> bool:
        """Join the clusters of a and b; False when they are already one or protection forbids it."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb or self._conflict(ra, rb):
            return False
        self._join(ra, rb)
        return True

    def groups(self) -> list[tuple[list[Hashable], list[RecordId]]]:
        members: dict[RecordId, list[RecordId]] = defaultdict(list)
        for x in self.parent:
            members[self.find(x)].append(x)
        return [(self.clusters[root], sorted(ids)) for root, ids in sorted(members.items())]
