"""Fellegi–Sunter scoring: per-level m/u probabilities, a prior, and EM to estimate them from unlabelled pairs.

The match weight of a pair is ``log2(λ/(1-λ)) + Σ log2(m/u)`` over the comparisons that have a value on both sides;
its match probability is the logistic of that in base 2. EM runs over the *counts of distinct comparison vectors*,
not over pairs, so estimating from a million candidate pairs costs a few hundred vector updates per iteration.

Exact agreement on a name or city gets a term-frequency adjustment when frequencies are known: two "Wang"s agree
far more often by chance than two "Ouyang"s, so a rare value adds more evidence (``log2(u_exact / tf(value))``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._compare import COMPARISONS, NULL
from ._profile import Profile

FLOOR = 1e-5
TF_CLAMP = (-3.0, 6.0)


@dataclass
class MatchModel:
    """m/u per comparison level and the prior λ (the share of candidate pairs that are matches)."""

    m: list[list[float]] = field(default_factory=lambda: [list(c.m) for c in COMPARISONS])
    u: list[list[float]] = field(default_factory=lambda: [list(c.u) for c in COMPARISONS])
    prior: float = 0.02
    estimated: bool = False
    # per tf_key: value -> relative frequency, and the chance two random values agree (Σ f²)
    term_freq: dict[str, dict[str, float]] = field(default_factory=dict)
    tf_agree: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._weights = [
            [math.log2(max(m, FLOOR) / max(u, FLOOR)) for m, u in zip(ms, us, strict=True)]
            for ms, us in zip(self.m, self.u, strict=True)
        ]
        # A million candidate pairs share a few thousand distinct vectors: the vector's part of the weight and its
        # explanation are computed once per vector, only the term-frequency part once per pair.
        self._vector_weights: dict[tuple[int, ...], tuple[float, tuple[str, ...]]] = {}
        self._explained: dict[tuple[int, ...], dict[str, dict[str, Any]]] = {}
        self._tf_cache: dict[tuple[str, Any], float] = {}

    # ---------------------------------------------------------------------------------------------- scoring

    def _vector_weight(self, vector: tuple[int, ...]) -> tuple[float, tuple[str, ...]]:
        """(prior + Σ level weights, the tf keys of the comparisons that agree exactly) of one vector."""
        cached = self._vector_weights.get(vector)
        if cached is None:
            total = math.log2(self.prior / (1 - self.prior))
            exact_tf: list[str] = []
            for i, level in enumerate(vector):
                if level == NULL:
                    continue
                total += self._weights[i][level]
                comp = COMPARISONS[i]
                if comp.tf_key and level == len(comp.levels) - 1:
                    exact_tf.append(comp.tf_key)
            cached = self._vector_weights[vector] = (total, tuple(exact_tf))
        return cached

    def weight(self, vector: tuple[int, ...], a: Profile | None = None, b: Profile | None = None) -> float:
        total, exact_tf = self._vector_weight(vector)
        if a is not None:
            for key in exact_tf:
                total += self._tf_adjustment(key, a.get(key))
        return total

    def max_weight(self, vector: tuple[int, ...]) -> float:
        """An upper bound of ``weight(vector, a, b)`` for any profiles: every term-frequency adjustment at its clamp.

        Lets a caller skip the pairs whose vector cannot reach a threshold without looking at their values (most
        candidate pairs of a full run disagree on enough to be hopeless whatever their names' frequencies).
        """
        total, exact_tf = self._vector_weight(vector)
        return total + max(TF_CLAMP[1], 0.0) * len(exact_tf) + 1e-9  # the margin absorbs rounding in the sum

    def _tf_adjustment(self, key: str, value: Any) -> float:
        cached = self._tf_cache.get((key, value))
        if cached is not None:
            return cached
        freqs = self.term_freq.get(key)
        if not freqs or value is None:
            return 0.0
        freq = freqs.get(value)
        if not freq:
            return 0.0
        adj = math.log2(self.tf_agree[key] / freq)
        adj = self._tf_cache[(key, value)] = min(max(adj, TF_CLAMP[0]), TF_CLAMP[1])
        return adj

    @staticmethod
    def probability(weight: float) -> float:
        if weight > 60:
            return 1.0
        odds = 2.0**weight
        return odds / (1 + odds)

    def explain(self, vector: tuple[int, ...]) -> dict[str, dict[str, Any]]:
        """Per comparison: the level's name and the bits of evidence it added (for ``customers show --why``).

        Computed once per distinct vector; callers get their own copy of the outer dict.
        """
        out = self._explained.get(vector)
        if out is None:
            out = {}
            for i, level in enumerate(vector):
                if level != NULL:
                    comp = COMPARISONS[i]
                    out[comp.name] = {"level": comp.levels[level], "bits": round(self._weights[i][level], 2)}
            self._explained[vector] = out
        return dict(out)

    # ---------------------------------------------------------------------------------------------- training

    def with_term_frequencies(self, profiles: Iterable[Profile]) -> MatchModel:
        keys = [c.tf_key for c in COMPARISONS if c.tf_key]
        counts: dict[str, Counter[str]] = {k: Counter() for k in keys}
        for p in profiles:
            for k in keys:
                v = p.get(k)
                if v:
                    counts[k][v] += 1
        term_freq: dict[str, dict[str, float]] = {}
        tf_agree: dict[str, float] = {}
        for k, counter in counts.items():
            n = sum(counter.values())
            if n < 50:  # too few values to tell common from rare
                continue
            term_freq[k] = {v: c / n for v, c in counter.items()}
            tf_agree[k] = sum((c / n) ** 2 for c in counter.values())
        return MatchModel(self.m, self.u, self.prior, self.estimated, term_freq, tf_agree)

    def estimate(self, vectors: Mapping[tuple[int, ...], int], iterations: int = 40) -> MatchModel:
        """EM over comparison-vector counts; returns self unchanged when there is too little to learn from."""
        total = sum(vectors.values())
        if total < 200:
            return self
        m = [list(x) for x in self.m]
        u = [list(x) for x in self.u]
        prior = self.prior
        # each vector as its (comparison, level) pairs with a value: NULLs are skipped once, not every iteration
        items = [([(i, level) for i, level in enumerate(vector) if level != NULL], count)
                 for vector, count in vectors.items()]
        for _ in range(iterations):
            m_acc = [[0.0] * len(c.levels) for c in COMPARISONS]
            u_acc = [[0.0] * len(c.levels) for c in COMPARISONS]
            log_m = [[math.log(max(x, FLOOR)) for x in row] for row in m]
            log_u = [[math.log(max(x, FLOOR)) for x in row] for row in u]
            log_odds = math.log(prior) - math.log(1 - prior)
            matched = 0.0
            for present, count in items:
                diff = log_odds
                for i, level in present:
                    diff += log_m[i][level] - log_u[i][level]
                p = 1.0 / (1.0 + math.exp(-diff)) if diff > -700 else 0.0
                pm, pu = p * count, (1 - p) * count
                matched += pm
                for i, level in present:
                    m_acc[i][level] += pm
                    u_acc[i][level] += pu
            new_prior = min(max(matched / total, 1e-6), 1 - 1e-6)
            m = [_normalise(acc, old) for acc, old in zip(m_acc, m, strict=True)]
            u = [_normalise(acc, old) for acc, old in zip(u_acc, u, strict=True)]
            converged = abs(new_prior - prior) < 1e-6
            prior = new_prior
            if converged:
                break
        if not (1e-5 < prior < 0.999):
            return self  # degenerate fit: keep the defaults rather than a model that calls everything one class
        return MatchModel(m, u, prior, True, self.term_freq, self.tf_agree)

    # ---------------------------------------------------------------------------------------------- storage

    def as_dict(self) -> dict[str, Any]:
        return {"m": self.m, "u": self.u, "prior": self.prior, "estimated": self.estimated,
                "comparisons": [c.name for c in COMPARISONS]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchModel:
        if data.get("comparisons") != [c.name for c in COMPARISONS]:
            return cls()  # stored for another comparison library: start from the defaults
        return cls(data["m"], data["u"], float(data["prior"]), bool(data.get("estimated")))


def _normalise(acc: list[float], old: list[float]) -> list[float]:
    total = sum(acc)
    if total <= 0:
        return old
    return [max(x / total, FLOOR) for x in acc]
