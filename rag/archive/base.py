"""The search-store boundary: what the service asks of an archive, whoever keeps it.

Two stores implement it:

- `store.Store`, the embedded folder (SQLite + FAISS + bm25s): the default, one machine;
- `milvus.store.MilvusStore`, Milvus (a server or cluster, or Milvus Lite in one file), where
  passages, vectors, article metadata and the lexical index all live, so any number of
  readers answer from one Milvus with no local file.

Both return the same values (`rag.types`), take the same filters, and leave ranking to
`search.Retriever`, which fuses each store's dense and lexical candidates by reciprocal
rank. Which one is used is one setting, `store` (`open_store`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rag import __version__
from rag.archive.writer import timestamp
from rag.results import ArticleInfo
from rag.types import Article, Hit, Passage


@dataclass(frozen=True)
class Filters:
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive
    sources: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.sources)


# (passage key, score) pairs, best first: a store's dense or lexical candidates.
Ranked = list[tuple[int, float]]


@dataclass(frozen=True)
class Stored:
    """One article as a store holds it, for moving archives between stores: the article,
    its passages with their BM25 tokens, text hashes and vectors (float32 rows)."""

    article: Article
    passages: list[Passage]
    tokens: list[list[str]]
    hashes: list[str]
    vectors: np.ndarray


class ArchiveWriter(Protocol):
    """Changes to an archive, made by its one writer (see `ArchiveStore.writer`)."""

    dim: int
    changed: bool
    deleted: list[str]

    def articles_from_source(self, source: str) -> dict[str, str]: ...

    def source_of(self, article_id: str) -> str | None: ...

    def vectors_for(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put(self, article: Article, passages: Sequence[Passage], tokens: Sequence[list[str]],
            text_hashes: Sequence[str], vectors: np.ndarray) -> None: ...

    def delete(self, article_id: str) -> bool: ...

    def commit(self) -> None: ...


class ReplyCache(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, reply: str, article_ids: Sequence[str]) -> None: ...

    def forget(self, article_ids: Sequence[str]) -> int: ...


class ArchiveStore(Protocol):
    """An open archive."""

    kind: str  # "folder" or "milvus"
    location: str  # where it is, as the user names it (a folder, or a Milvus URI)
    manifest: dict[str, Any]  # embedding, chunking, format, dates

    @property
    def replies(self) -> ReplyCache: ...

    @property
    def dim(self) -> int: ...

    def counts(self) -> dict[str, int]: ...

    def list_articles(self) -> list[ArticleInfo]: ...

    def article(self, article_id: str) -> Article | None: ...

    def latest_published(self) -> str | None: ...

    def article_keys(self) -> dict[str, str]: ...

    def find_articles(self, prefix: str) -> list[str]: ...

    def passages_of(self, article_id: str) -> list[Passage]: ...

    def article_vectors(self, article_ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def candidates(
        self, query_vector: np.ndarray | None, query_tokens: list[str] | None, n: int,
        filters: Filters, nprobe: int,
    ) -> tuple[Ranked, Ranked]: ...

    def passages_by_rowid(self, rowids: Sequence[int]) -> dict[int, Hit]: ...

    def writer(self) -> AbstractContextManager[ArchiveWriter]: ...

    def export(self) -> Iterator[Stored]: ...

    def warm(self) -> None: ...

    def size_bytes(self) -> int | None: ...

    def close(self) -> None: ...


def new_manifest(
    format_name: str, version: int, embedding_model: str, dim: int, model_checksum: str | None,
    runtime: str | None, chunking: dict[str, int], **extra: Any,
) -> dict[str, Any]:
    """The manifest of a new, empty archive: its format, how its vectors were made (model,
    dimension, weights' checksum, runtime) and how its passages were cut; each store adds
    its own keys (`extra`)."""
    return {
        "format": format_name,
        "format_version": version,
        "embedding": {"model": embedding_model, "dim": dim, "checksum": model_checksum,
                      "runtime": runtime},
        "chunking": chunking,
        "created_at": timestamp(),
        "updated_at": timestamp(),
        "rag_version": __version__,
        **extra,
    }


def is_milvus(uri: str) -> bool:
    """Whether a store setting names Milvus: `milvus:FILE.db` (Milvus Lite) or a server's
    `http://`, `https://` or `tcp://` address; anything else is a folder."""
    return uri.startswith(("milvus:", "http://", "https://", "tcp://"))
