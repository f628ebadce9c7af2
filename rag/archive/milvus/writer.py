"""Changes to an archive in Milvus (the `ArchiveWriter` of `archive/base.py`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.archive.milvus.client import query_all
from rag.archive.milvus.expressions import lexical_text, quote
from rag.archive.milvus.schema import BATCH, TEXT_PART, VARCHAR_MAX, fit, passage_key
from rag.archive.writer import indexed_text, timestamp
from rag.types import Article, Passage


class MilvusWriter:
    """Writes to the collections `passages` and `articles`; `lexical` says what their
    BM25 indexes (see the package's text)."""

    def __init__(self, client: Any, passages: str, articles: str, dim: int, lexical: str) -> None:
        self.client = client
        self.passages = passages
        self.articles = articles
        self.dim = dim
        self.lexical = lexical
        self.changed = False
        self.deleted: list[str] = []

    def articles_from_source(self, source: str) -> dict[str, str]:
        rows = query_all(self.client, self.articles, f"part == 0 and source == {quote(source)}",
                         ["article_id", "key"])
        return {r["article_id"]: r["key"] for r in rows}

    def source_of(self, article_id: str) -> str | None:
        rows = self.client.query(self.articles, filter=f"part == 0 and article_id == {quote(article_id)}",
                                 output_fields=["source"], limit=1)
        return rows[0]["source"] if rows else None

    def vectors_for(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(text_hashes))
        for i in range(0, len(unique), BATCH):
            part = unique[i : i + BATCH]
            rows = self.client.query(self.passages, filter=f"text_hash in {json.dumps(part)}",
                                     output_fields=["text_hash", "vector"], limit=16_384)
            for r in rows:
                found.setdefault(r["text_hash"], np.asarray(r["vector"], dtype=np.float32))
        return found

    def put(
        self, article: Article, passages: Sequence[Passage], tokens: Sequence[list[str]],
        text_hashes: Sequence[str], vectors: np.ndarray,
    ) -> None:
        # float16 precision, as the folder stores them: a copied archive and one ingested
        # afresh hold the same vectors, and both stores score a passage alike.
        vectors = np.asarray(vectors, dtype=np.float16).astype(np.float32).reshape(-1, self.dim)
        lexical = self.lexical
        meta = {"title": fit(article.title), "published": article.published or "",
                "source": fit(article.source), "source_name": fit(article.source_name or "")}
        rows = [
            {"rowid": passage_key(p.id), "passage_id": p.id, "article_id": article.id,
             "ordinal": p.ordinal, "start": p.start, "end": p.end, "text": fit(p.text),
             "text_hash": h, "vector": v.tolist(), **meta,
             "tokens": fit(lexical_text(t) if lexical == "tokens" else indexed_text(article.title, p.text))}
            for p, t, h, v in zip(passages, tokens, text_hashes, vectors, strict=True)
        ]
        for i in range(0, len(rows), BATCH):
            self.client.upsert(self.passages, rows[i : i + BATCH])
        mean = vectors.mean(axis=0) if len(vectors) else np.zeros(self.dim, dtype=np.float32)
        norm = float(np.linalg.norm(mean))
        mean = mean / norm if norm else mean
        if not norm:
            mean[0] = 1.0  # an article with no passages still needs a valid vector
        seq = time.time_ns()  # orders articles as they were added (one writer at a time)
        text = article.text
        parts = [text[i : i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]
        captions = list(article.captions)
        while len(json.dumps(captions, ensure_ascii=False).encode("utf-8")) > VARCHAR_MAX:
            captions.pop()
        self.client.upsert(self.articles, [
            {"pk": f"{article.id}#{n}", "article_id": article.id, "part": n, "passages": len(passages),
             "length": len(text), "key": fit(article.key), "title": meta["title"], "text": part,
             "source": meta["source"], "source_name": meta["source_name"],
             "reporters": fit(json.dumps(list(article.reporters), ensure_ascii=False)),
             "captions": json.dumps(captions, ensure_ascii=False),
             "section": fit(article.section or ""), "subtitle": fit(article.subtitle or ""),
             "published": article.published or "", "added_at": timestamp(), "seq": seq,
             "vector": mean.tolist()}
            for n, part in enumerate(parts)
        ])
        self.changed = True

    def delete(self, article_id: str) -> bool:
        if self.source_of(article_id) is None:
            return False
        expr = f"article_id == {quote(article_id)}"
        self.client.delete(self.articles, filter=expr)  # first: the article is gone
        self.client.delete(self.passages, filter=expr)
        self.deleted.append(article_id)
        self.changed = True
        return True

    def commit(self) -> None:
        """Milvus applies each write as it is made; nothing is pending here."""
