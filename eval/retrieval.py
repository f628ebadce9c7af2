"""Retrieval evaluation: pool the items' passages into one index, then rank per retriever."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.config import SearchMode as Mode
from rag.service import Service
from rag.types import content_hash

from .data import QAItem
from .metrics import latency, mean_defined, mrr_at_k, ndcg_at_k, recall_at_k

KS = (1, 5, 10)
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def passage_key(text: str) -> str:
    return "p" + content_hash(text)


def write_pool(items: Sequence[QAItem], path: Path) -> int:
    """Write every distinct passage of `items` as one JSONL record; returns the count."""
    seen: dict[str, str] = {}
    for item in items:
        for p in item.passages:
            seen.setdefault(passage_key(p), p)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for key, text in seen.items():
            fh.write(json.dumps({"id": key, "text": text}, ensure_ascii=False) + "\n")
    return len(seen)


def answer_hits(texts: Sequence[str], answers: Sequence[str], k: int) -> float:
    """1.0 if one of the first `k` retrieved texts contains an answer string."""
    return 1.0 if any(a and a in t for t in texts[:k] for a in answers) else 0.0


def rank_scores(ranked: Sequence[str], gold: set[str]) -> dict[str, float]:
    """recall@1/5/10, MRR@10 and nDCG@10 of one ranking against its gold ids."""
    scores = {f"recall@{k}": recall_at_k([ranked], [gold], k)[0] for k in KS}
    scores["mrr@10"] = mrr_at_k([ranked], [gold], 10)[0]
    scores["ndcg@10"] = ndcg_at_k([ranked], [gold], 10)[0]
    return scores


def score_item(
    service: Service, item: QAItem, retrievers: Sequence[Mode], keys: dict[str, str],
    k: int = max(KS),
) -> dict[str, Any]:
    """One item's record: per retriever the ranked passage keys, scores and latency."""
    gold = {passage_key(p) for p in item.gold_passages()}
    record: dict[str, Any] = {
        "id": item.id, "question": item.question, "gold": list(item.answer),
        "gold_passages": sorted(gold), "ranked": {}, "scores": {}, "timings": {},
    }
    for mode in retrievers:
        t0 = time.perf_counter()
        hits = service.search(item.question, k=k, mode=mode)
        record["timings"][mode] = time.perf_counter() - t0
        ranked = [keys[h.passage.article_id] for h in hits]
        texts = [h.passage.text for h in hits]
        scores = rank_scores(ranked, gold)
        # Stricter: the retrieved passage itself holds the answer string (what a reader
        # model needs); the basis for choosing the chunk size.
        for kk in KS:
            scores[f"answer@{kk}"] = answer_hits(texts, item.answer, kk)
        record["ranked"][mode] = ranked
        record["scores"][mode] = scores
    return record


def summarize(records: Sequence[dict[str, Any]], retrievers: Sequence[str]) -> dict[str, dict[str, float]]:
    """Metrics per retriever over the item records (means, and latency percentiles)."""
    results: dict[str, dict[str, float]] = {}
    for mode in retrievers:
        rows = [r for r in records if mode in r.get("scores", {})]
        names = list(METRICS) + [f"answer@{k}" for k in KS]
        metrics = {m: mean_defined([r["scores"][mode].get(m) for r in rows]) for m in names}
        times = latency([r["timings"][mode] for r in rows])
        metrics["latency_p50_s"], metrics["latency_p95_s"] = times["p50"], times["p95"]
        results[mode] = metrics
    return results
