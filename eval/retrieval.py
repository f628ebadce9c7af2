"""Retrieval evaluation: pool the items' passages into one index, then rank per retriever."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.retrieve import Mode
from rag.service import Service
from rag.types import content_hash

from .data import QAItem
from .metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k

KS = (1, 5, 10)


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


def evaluate(
    service: Service, items: Sequence[QAItem], retrievers: Sequence[Mode], k: int = max(KS),
    progress: Any = None,
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """Metrics per retriever and a record per item (ranked keys, gold, scores, latency)."""
    keys = service.store().article_keys()
    gold = [{passage_key(p) for p in it.gold_passages()} for it in items]
    results: dict[str, dict[str, float]] = {}
    per_item: list[dict[str, Any]] = [
        {"id": it.id, "question": it.question, "gold": sorted(g), "ranked": {}, "scores": {}}
        for it, g in zip(items, gold, strict=True)
    ]
    for mode in retrievers:
        ranked, texts, latencies = [], [], []
        for n, it in enumerate(items):
            t0 = time.perf_counter()
            hits = service.search(it.question, k=k, mode=mode)
            latencies.append(time.perf_counter() - t0)
            ranked.append([keys[h.passage.article_id] for h in hits])
            texts.append([h.passage.text for h in hits])
            if progress:
                progress(mode, n + 1, len(items))
        metrics: dict[str, float] = {}
        per_metric: dict[str, list[float]] = {}
        for kk in KS:
            metrics[f"recall@{kk}"], per_metric[f"recall@{kk}"] = recall_at_k(ranked, gold, kk)
            # Stricter: the retrieved passage itself holds the answer string (what a
            # reader model needs); the basis for choosing the chunk size.
            per = [answer_hits(t, it.answer, kk) for t, it in zip(texts, items, strict=True)]
            per_metric[f"answer@{kk}"] = per
            metrics[f"answer@{kk}"] = sum(per) / len(per) if per else 0.0
        metrics["mrr@10"], per_metric["mrr@10"] = mrr_at_k(ranked, gold, 10)
        metrics["ndcg@10"], per_metric["ndcg@10"] = ndcg_at_k(ranked, gold, 10)
        metrics["latency_p50_s"] = percentile(latencies, 50)
        metrics["latency_p95_s"] = percentile(latencies, 95)
        results[mode] = metrics
        for i, rec in enumerate(per_item):
            rec["ranked"][mode] = ranked[i]
            rec["scores"][mode] = {m: v[i] for m, v in per_metric.items()}
    return results, per_item
