"""Reading-comprehension search: a question sees only its own item's passages.

This tests the reader and its refusals apart from retrieval, as RGB does. The passages
are cut into the same windows an index would hold and ranked by reciprocal-rank fusion
of the embedder's cosine and character-bigram overlap with the question, so each hit
carries a real dense score and the `refuse_below` threshold applies as it does in
`Service.ask`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.answer import Search
from rag.chunking import windows
from rag.embed import Embedder
from rag.retrieve import rrf
from rag.types import Hit, Passage, content_hash

from .data import QAItem
from .retrieval import passage_key


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1) if not text[i : i + 2].isspace()}


class ItemPassages:
    """Builds, per item, a search over that item's passages alone.

    Passage vectors are cached by text: datasets like SQuAD ask many questions of one
    paragraph, which is then embedded once.
    """

    def __init__(
        self, embedder: Embedder, chunk_size: int = 240, chunk_overlap: int = 1, k: int = 5,
        rrf_k: int = 60,
    ) -> None:
        self.embedder = embedder
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.k = k
        self.rrf_k = rrf_k
        self._vectors: dict[str, np.ndarray] = {}

    def passages(self, item: QAItem) -> list[Passage]:
        """The windows of the item's passages; `article_id` is the passage's key."""
        out: list[Passage] = []
        for text in dict.fromkeys(item.passages):
            key = passage_key(text)
            for n, (start, end) in enumerate(windows(text, self.chunk_size, self.chunk_overlap)):
                out.append(Passage(content_hash(key, str(start), str(end)), key, n, start, end,
                                   text[start:end]))
        return out

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for text, vec in zip(missing, self.embedder.embed_passages(missing), strict=True):
                self._vectors[text] = vec
        return np.stack([self._vectors[t] for t in texts])

    def search_for(self, item: QAItem) -> Search:
        """`search(query, since, until)` over the item's passages (dates are ignored: the
        passages are the question's evidence by construction)."""
        passages = self.passages(item)
        title = str(item.meta.get("title") or "")
        published = item.meta.get("published") or item.meta.get("date")

        def search(query: str, since: str | None, until: str | None) -> list[Hit]:
            if not passages or not query.strip():
                return []
            vectors = self._embed([p.text for p in passages])
            dense = vectors @ self.embedder.embed_queries([query])[0]
            wanted = _bigrams(query)
            overlap = [len(wanted & _bigrams(p.text)) for p in passages]
            dense_order = sorted(range(len(passages)), key=lambda i: -float(dense[i]))
            lexical_order = sorted(range(len(passages)), key=lambda i: -overlap[i])
            fused = rrf([dense_order, lexical_order], self.rrf_k)
            order = sorted(fused, key=lambda i: -fused[i])[: self.k]
            return [
                Hit(rank, passages[i], title, published if isinstance(published, str) else None,
                    "", fused[i], dense_rank=dense_order.index(i) + 1,
                    bm25_rank=lexical_order.index(i) + 1, dense_score=float(dense[i]),
                    bm25_score=float(overlap[i]))
                for rank, i in enumerate(order, start=1)
            ]

        return search
