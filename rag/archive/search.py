"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rag.archive.base import ArchiveStore, Filters
from rag.archive.vectors import NPROBE
from rag.config import SearchMode
from rag.models.embedder import Embedder
from rag.text.words import tokenize_query
from rag.types import Hit

__all__ = ["Filters", "Retriever", "rrf"]


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (k + rank(d))."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return scores


class Retriever:
    """Searches one store with one embedder."""

    def __init__(
        self, store: ArchiveStore, embedder: Embedder, *, candidates: int = 50, rrf_k: int = 60,
        max_per_article: int = 2, nprobe: int = NPROBE,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.max_per_article = max_per_article
        self.nprobe = nprobe

    def search(
        self, query: str, k: int = 5, filters: Filters | None = None, mode: SearchMode = "hybrid",
        max_per_article: int | None = None,
    ) -> list[Hit]:
        """The `k` best passages for `query`, at most `max_per_article` from one article."""
        query = query.strip()
        if not query or k <= 0:
            return []
        filters = filters or Filters()
        # Ask each retriever for more than k so the per-article cap can still fill k.
        n = max(self.candidates, 3 * k)
        qvec = self.embedder.embed_queries([query])[0] if mode in ("hybrid", "dense") else None
        tokens = tokenize_query(query) if mode in ("hybrid", "bm25") else None
        dense, lexical = self.store.candidates(qvec, tokens, n, filters, self.nprobe)
        fused = rrf([[d for d, _ in dense], [d for d, _ in lexical]], self.rrf_k)
        order = sorted(fused, key=lambda d: -fused[d])
        dense_rank = {d: i for i, (d, _) in enumerate(dense, start=1)}
        bm25_rank = {d: i for i, (d, _) in enumerate(lexical, start=1)}
        dense_score = dict(dense)
        bm25_score = dict(lexical)
        cap = self.max_per_article if max_per_article is None else max_per_article
        stored = self.store.passages_by_rowid(order[: max(n, 4 * k)])
        hits: list[Hit] = []
        per_article: dict[str, int] = {}
        for rowid in order:
            hit = stored.get(rowid)
            if hit is None:
                continue
            aid = hit.passage.article_id
            if per_article.get(aid, 0) >= cap:
                continue
            per_article[aid] = per_article.get(aid, 0) + 1
            hits.append(replace(
                hit, rank=len(hits) + 1, score=fused[rowid],
                dense_rank=dense_rank.get(rowid), bm25_rank=bm25_rank.get(rowid),
                dense_score=dense_score.get(rowid), bm25_score=bm25_score.get(rowid),
            ))
            if len(hits) == k:
                break
        return hits
