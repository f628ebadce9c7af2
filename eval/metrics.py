"""Retrieval metrics as pure functions: each returns (mean score, per-item scores)."""

from __future__ import annotations

import math
from collections.abc import Sequence, Set


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def recall_at_k(
    ranked: Sequence[Sequence[str]], gold: Sequence[Set[str]], k: int
) -> tuple[float, list[float]]:
    """Share of items with at least one gold id in the first `k` ranked ids ("hit rate").

    Items without gold ids score 0: a question whose answer is nowhere cannot be found.
    """
    per = [1.0 if g and any(r in g for r in ranks[:k]) else 0.0 for ranks, g in zip(ranked, gold, strict=True)]
    return _mean(per), per


def mrr_at_k(
    ranked: Sequence[Sequence[str]], gold: Sequence[Set[str]], k: int = 10
) -> tuple[float, list[float]]:
    """Mean reciprocal rank of the first gold id within the first `k`, 0 if none."""
    per = []
    for ranks, g in zip(ranked, gold, strict=True):
        per.append(next((1.0 / i for i, r in enumerate(ranks[:k], start=1) if r in g), 0.0))
    return _mean(per), per


def ndcg_at_k(
    ranked: Sequence[Sequence[str]], gold: Sequence[Set[str]], k: int = 10
) -> tuple[float, list[float]]:
    """Binary-relevance nDCG@k; a gold id counts once even if ranked twice."""
    per = []
    for ranks, g in zip(ranked, gold, strict=True):
        seen: set[str] = set()
        dcg = 0.0
        for i, r in enumerate(ranks[:k], start=1):
            if r in g and r not in seen:
                seen.add(r)
                dcg += 1.0 / math.log2(i + 1)
        ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(g), k) + 1))
        per.append(dcg / ideal if ideal else 0.0)
    return _mean(per), per


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
