"""Retrieval, citation and refusal metrics as pure functions.

List-level functions return (mean score, per-item scores); a per-item score is None where
the metric does not apply to the item (and the mean is over the others).
"""

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


def mean_defined(values: Sequence[float | None]) -> float:
    """Mean of the values that are not None (0.0 if none is)."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else 0.0


# ---------------------------------------------------------------- citations


def citation_precision_one(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Share of (sentence, cited passage) pairs where the passage supports the sentence
    (`Service.supports`: its numbers, dates and names occur in the passage); None
    for an answer that cites nothing."""
    if not pairs:
        return None
    from rag.service import Service

    return sum(Service.supports(s, p) for s, p in pairs) / len(pairs)


def citation_precision(
    pairs: Sequence[Sequence[tuple[str, str]]],
) -> tuple[float, list[float | None]]:
    """Mean per-answer citation precision, over answers that cite something."""
    per = [citation_precision_one(p) for p in pairs]
    return mean_defined(per), per


def citation_recall(
    cited: Sequence[Set[str] | None], gold: Sequence[Set[str]]
) -> tuple[float, list[float | None]]:
    """Share of answers that cite at least one of their gold passages.

    `cited[i]` is None for an item that was not answered (refused) and `gold[i]` empty
    for one without gold passages; both are left out (None).
    """
    per: list[float | None] = [
        None if c is None or not g else (1.0 if c & g else 0.0)
        for c, g in zip(cited, gold, strict=True)
    ]
    return mean_defined(per), per


# ---------------------------------------------------------------- refusals


def refusal_rates(refused: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float]:
    """Refusal rate on unanswerable items (higher is better) and false-refusal rate on
    answerable ones (lower is better), with the counts they are taken over."""
    no = [r for r, a in zip(refused, answerable, strict=True) if not a]
    yes = [r for r, a in zip(refused, answerable, strict=True) if a]
    return {
        "n_unanswerable": len(no),
        "refusal_rate": sum(no) / len(no) if no else 0.0,
        "n_answerable": len(yes),
        "false_refusal_rate": sum(yes) / len(yes) if yes else 0.0,
    }


def latency(values: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of some durations, in seconds."""
    return {"p50": percentile(values, 50), "p95": percentile(values, 95)}


# ---------------------------------------------------------------- selective answering


def risk_coverage(
    confidence: Sequence[float], correct: Sequence[bool]
) -> list[tuple[float, float, float]]:
    """The risk–coverage curve of answering the most confident items first: for each
    number of items answered, (coverage, risk, confidence of the last one answered),
    where coverage is the share of all items answered and risk the share of the answered
    ones that are wrong. An item that cannot be right (an unanswerable question, a
    refusal) counts as wrong whenever it is answered."""
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    points, right = [], 0
    for k, i in enumerate(order, start=1):
        right += bool(correct[i])
        points.append((k / len(order), 1 - right / k, float(confidence[i])))
    return points


def aurc(confidence: Sequence[float], correct: Sequence[bool]) -> float:
    """Area under the risk–coverage curve (the mean risk over all coverages; lower is
    better; 0 only when every answer ranked before any wrong one is right)."""
    points = risk_coverage(confidence, correct)
    return _mean([risk for _, risk, _ in points])


def at_precision(
    confidence: Sequence[float], correct: Sequence[bool], precision: float
) -> dict[str, float]:
    """The most items answered while the answered ones are still right at `precision`
    or more: the confidence threshold that does it, the coverage, the precision reached,
    and the accuracy (right answers as a share of all items). Nothing answered gives
    threshold +inf and zeros."""
    best = {"threshold": math.inf, "coverage": 0.0, "precision": 0.0, "accuracy": 0.0}
    n = len(confidence)
    points = risk_coverage(confidence, correct)
    for k, (coverage, risk, threshold) in enumerate(points, start=1):
        tied_next = k < n and points[k][2] == threshold
        if 1 - risk >= precision and not tied_next:
            best = {"threshold": threshold, "coverage": coverage, "precision": 1 - risk,
                    "accuracy": (1 - risk) * k / n}
    return best


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half); None without both kinds."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def selective(confidence: Sequence[float | None], correct: Sequence[bool]) -> dict[str, float | None]:
    """Selective answering in one table: AURC, the confidence's AUROC, and the threshold,
    coverage and accuracy at 90 % and 95 % precision. Items without a confidence rank last."""
    scores = [-1.0 if c is None else float(c) for c in confidence]
    out: dict[str, float | None] = {"aurc": aurc(scores, correct), "auroc": auroc(scores, correct)}
    for target in (90, 95):
        best = at_precision(scores, correct, target / 100)
        out[f"threshold_at_{target}"] = None if math.isinf(best["threshold"]) else best["threshold"]
        out[f"coverage_at_{target}"] = best["coverage"]
        out[f"accuracy_at_{target}"] = best["accuracy"]
    return out
