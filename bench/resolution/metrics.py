"""Pairwise precision, recall and F1 of a clustering against entity labels (counting pairs, never enumerating them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int


def _pairs(counter: Counter[object]) -> int:
    return sum(n * (n - 1) // 2 for n in counter.values())


def pairwise(truth: Mapping[str, str], predicted: Mapping[str, str]) -> Scores:
    """truth/predicted: record id -> entity / cluster; records missing from ``predicted`` count as singletons."""
    predicted = {r: predicted.get(r, f"__single_{r}") for r in truth}
    true_pairs = _pairs(Counter(truth.values()))
    pred_pairs = _pairs(Counter(predicted.values()))
    both = _pairs(Counter((truth[r], predicted[r]) for r in truth))
    precision = both / pred_pairs if pred_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, true_pairs, pred_pairs)


def pairwise_touching(truth: Mapping[str, str], predicted: Mapping[str, str], new: set[str]) -> Scores:
    """Like ``pairwise``, but only over pairs with at least one record in ``new`` (an incremental batch).

    Pairs among existing records were decided before the batch arrived; counting them would flatter the batch.
    Per cluster with ``b`` new and ``o`` old records that is ``b(b-1)/2 + b·o`` pairs, again never enumerated.
    """
    predicted = {r: predicted.get(r, f"__single_{r}") for r in truth}

    def touching(labels: Mapping[str, object]) -> int:
        sizes: dict[object, list[int]] = {}
        for r, label in labels.items():
            cell = sizes.setdefault(label, [0, 0])
            cell[0 if r in new else 1] += 1
        return sum(b * (b - 1) // 2 + b * o for b, o in sizes.values())

    true_pairs = touching(truth)
    pred_pairs = touching(predicted)
    both = touching({r: (truth[r], predicted[r]) for r in truth})
    precision = both / pred_pairs if pred_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, true_pairs, pred_pairs)
