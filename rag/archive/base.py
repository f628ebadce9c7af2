"""The search-store boundary: what the service asks of an archive, whoever keeps it.

Two stores implement it:

- `store.Store`, the embedded folder (SQLite + FAISS + bm25s): the default, one machine;
- `milvus.store.MilvusStore`, Milvus (a server or cluster, or Milvus Lite in one file),
  where passages, vectors, article metadata and the lexical index all live, so any number
  of readers answer from one Milvus with no local file.

Both return the same values (`rag.types`), take the same filters, and leave ranking to
`search.Retriever`, which fuses each store's dense and lexical candidates by reciprocal
rank. Which one keeps an archive is said by its URI, the `store` setting
(`stores.open_archive`). What every archive is checked for — its format, the embedding
that made its vectors — is written here once, for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rag import __version__
from rag.archive.writer import timestamp
from rag.errors import StoreError
from rag.models.embedder import Embedder
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

# Called with (items done, items in all) as writing proceeds (passages, or articles).
Progress = Callable[[int, int], None]


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


def write_in_steps(
    writer: ArchiveWriter, steps: Iterable[int], total: int, every: int, progress: Progress | None,
) -> int:
    """Write in steps, committing as it goes: each item of `steps` is one step's writes
    done (the number of items it wrote). A commit follows whenever `every` items have
    been written since the last, and the last step, so a crash loses little work;
    `progress(done, total)` hears of (0, total) first and of each step. Returns the items
    written."""
    if progress:
        progress(0, total)
    done = since_commit = 0
    for n in steps:
        done += n
        since_commit += n
        if since_commit >= every:
            writer.commit()
            since_commit = 0
        if progress:
            progress(done, total)
    writer.commit()
    return done


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
    def lexical_index(self) -> str:
        """What ranks by words, as `rag stats` names it."""
        ...

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


@dataclass(frozen=True)
class NewArchive:
    """What a new, empty archive records: how its vectors are made (model, dimension,
    the weights' checksum and runtime) and how its passages are cut."""

    embedding_model: str
    dim: int
    checksum: str | None
    chunking: dict[str, int] = field(default_factory=dict)
    runtime: str | None = None
    lexical: str = "tokens"  # what a Milvus archive's BM25 indexes (config.MILVUS_LEXICAL)


def new_manifest(format_name: str, version: int, new: NewArchive, **extra: Any) -> dict[str, Any]:
    """The manifest of a new, empty archive: its format and what `new` says; each store
    adds its own keys (`extra`)."""
    return {
        "format": format_name,
        "format_version": version,
        "embedding": {"model": new.embedding_model, "dim": new.dim, "checksum": new.checksum,
                      "runtime": new.runtime},
        "chunking": new.chunking,
        "created_at": timestamp(),
        "updated_at": timestamp(),
        "rag_version": __version__,
        **extra,
    }


def check_manifest(
    manifest: Mapping[str, Any], location: str, embedding_model: str | None, *,
    format_name: str, version: int, noun: str, elsewhere: str, rebuild: str = "",
    older: bool = False, vectors: Mapping[str, Any] | None = None,
) -> None:
    """Refuse, with advice, an archive this program must not use:

    - one of another format, or of another version of it (with `older`, an older version
      is let through: the caller converts it);
    - one built with another embedding model than `embedding_model` (None: any), whose
      vectors the questions' would not compare with;
    - given `vectors` (another archive's manifest `embedding`), one whose vectors another
      embedding made: what copying that archive into this one asks.

    `noun` is what the store calls an archive ("index", "archive"); `elsewhere`, where
    else the user can turn; `rebuild`, what to do with an archive of another format.
    """
    found, found_version = manifest.get("format"), manifest.get("format_version")
    readable = found_version == version or (
        older and isinstance(found_version, int) and found_version < version)
    if found != format_name or not readable:
        raise StoreError(
            f"{location} holds an {noun} of format {found!r} version {found_version!r}; this "
            f"program reads {format_name!r} version {version}{rebuild}"
        )
    built = manifest["embedding"]
    if embedding_model is not None and embedding_model != built["model"]:
        raise StoreError(
            f"{noun} {location} was built with embedding model {built['model']!r} (dimension "
            f"{built['dim']}), but the settings ask for {embedding_model!r}. "
            f"Use RAG_EMBEDDING_MODEL={built['model']} or {elsewhere}."
        )
    if vectors is not None and (built["dim"] != vectors["dim"]
                                or other_weights(built, vectors.get("checksum"))):
        raise StoreError(f"{location} holds vectors of another embedding ({built['model']}, "
                         f"{str(built.get('checksum'))[:12]}); copy into a new store")


def other_weights(built: Mapping[str, Any], checksum: str | None) -> bool:
    """Whether weights of `checksum` make other vectors than those of an archive's
    embedding (`built`, its manifest's): both checksums known, and different."""
    return bool(built.get("checksum") and checksum and built["checksum"] != checksum)


def check_embedder(store: ArchiveStore, embedder: Embedder) -> None:
    """Refuse to mix vectors: the archive's must come from the weights and runtime that
    `embedder` embeds with (`rag reindex` embeds them again)."""
    built = store.manifest["embedding"]
    mine = getattr(embedder, "checksum", None)
    if other_weights(built, mine):
        was = built.get("runtime") or "sentence-transformers"
        now = getattr(embedder, "runtime", "another runtime")
        raise StoreError(
            f"index {store.location} was embedded with {was} ({built['checksum'][:12]}), "
            f"but this program embeds with {now} ({(mine or '')[:12]}), and their vectors do not mix. "
            f"Run `rag reindex --index {store.location}` to embed its "
            f"{store.counts()['passages']:,} passages again from the archive (no file is read "
            f"again), or set RAG_EMBEDDING_RUNTIME={was} to use it as it is."
        )


def archive_stats(store: ArchiveStore) -> dict[str, Any]:
    """What an archive holds (articles, passages, sources, the span of their dates) and
    how it was built (embedding, chunking, format, indexes), and its size on disk."""
    articles = store.list_articles()
    dates = sorted(a.published[:10] for a in articles if a.published)
    m = store.manifest
    return {
        "store": store.kind,
        "index": store.location,
        "articles": len(articles),
        "passages": store.counts()["passages"],
        "sources": len({a.source for a in articles}),
        "earliest": dates[0] if dates else None,
        "latest": dates[-1] if dates else None,
        "embedding_model": m["embedding"]["model"],
        "embedding_runtime": m["embedding"].get("runtime") or "sentence-transformers",
        "dim": m["embedding"]["dim"],
        "chunking": m.get("chunking"),
        "format_version": m["format_version"],
        "vector_index": m.get("vector_index", "exact"),
        "lexical_index": store.lexical_index,
        "created_at": m.get("created_at"),
        "updated_at": m.get("updated_at"),
        "disk_bytes": store.size_bytes(),
    }
