"""Search over a few given texts, with no index: "answer from these passages only".

The texts are cut into the same windows an index would hold and ranked by
reciprocal-rank fusion of the embedder's cosine and character-bigram overlap with the
query, so each hit carries a real dense score and the refusal threshold applies as it
does over the archive. Evaluation's reading mode asks each question of its own passages
this way, which tests the reader and its refusals apart from retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rag.archive.search import rrf
from rag.models.embedder import Embedder
from rag.text.bigrams import char_bigrams
from rag.text.chunking import windows
from rag.types import Hit, Passage, Search, content_hash

_NOT_SPACE = re.compile(r"\S+")


class ReadingSearch:
    """Builds searches over given texts. Vectors are cached by text: datasets like SQuAD
    ask many questions of one paragraph, which is then embedded once."""

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

    def passages(self, texts: Sequence[tuple[str, str]]) -> list[Passage]:
        """The windows of `(article_id, text)` pairs, each pointing into its text."""
        out: list[Passage] = []
        for key, text in dict.fromkeys(texts):
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

    def over(
        self, texts: Sequence[tuple[str, str]], title: str = "", published: str | None = None,
    ) -> Search:
        """`search(query, since, until)` over `(article_id, text)` pairs only (dates are
        ignored: the texts are the question's evidence by construction)."""
        passages = self.passages(texts)

        def search(query: str, since: str | None, until: str | None) -> list[Hit]:
            if not passages or not query.strip():
                return []
            vectors = self._embed([p.text for p in passages])
            dense = vectors @ self.embedder.embed_queries([query])[0]
            wanted = char_bigrams(query, _NOT_SPACE)
            overlap = [len(wanted & char_bigrams(p.text, _NOT_SPACE)) for p in passages]
            dense_order = sorted(range(len(passages)), key=lambda i: -float(dense[i]))
            lexical_order = sorted(range(len(passages)), key=lambda i: -overlap[i])
            fused = rrf([dense_order, lexical_order], self.rrf_k)
            order = sorted(fused, key=lambda i: -fused[i])[: self.k]
            return [
                Hit(rank, passages[i], title, published, "", fused[i],
                    dense_rank=dense_order.index(i) + 1, bm25_rank=lexical_order.index(i) + 1,
                    dense_score=float(dense[i]), bm25_score=float(overlap[i]))
                for rank, i in enumerate(order, start=1)
            ]

        return search
