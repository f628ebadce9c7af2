"""Opening an archive by its `store` setting: a folder path, or a Milvus URI (base.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.archive.base import ArchiveStore, is_milvus


def store_exists(uri: str, prefix: str = "rag") -> bool:
    if is_milvus(uri):
        from rag.archive.milvus.store import MilvusStore

        return MilvusStore.exists(uri, prefix)
    from rag.archive.store import Store

    return Store.exists(Path(uri))


def open_store(
    uri: str, embedding_model: str | None = None, *, upgrade: bool = False, prefix: str = "rag",
) -> ArchiveStore:
    """The archive at `uri`; raises StoreError with advice when there is none."""
    if is_milvus(uri):
        from rag.archive.milvus.store import MilvusStore

        return MilvusStore.open(uri, embedding_model, prefix)
    from rag.archive.store import Store

    return Store.open(Path(uri), embedding_model, upgrade=upgrade)


def create_store(
    uri: str, embedding_model: str, dim: int, model_checksum: str | None,
    chunking: dict[str, int], runtime: str | None = None, prefix: str = "rag",
    lexical: str = "tokens",
) -> ArchiveStore:
    """The archive at `uri`, created empty if there is none (`lexical`: see the milvus package)."""
    if is_milvus(uri):
        from rag.archive.milvus.store import MilvusStore

        return MilvusStore.open_or_create(uri, embedding_model, dim, model_checksum, chunking,
                                          runtime, prefix, lexical)
    from rag.archive.store import Store

    return Store.open_or_create(Path(uri), embedding_model, dim, model_checksum, chunking, runtime)


def copy_archive(
    source: ArchiveStore, target: ArchiveStore, progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Copy every article of `source` that `target` lacks, with its passages, tokens and
    vectors as stored (nothing is embedded); returns (articles copied, already there)."""
    total = source.counts()["articles"]
    copied = present = 0
    with target.writer() as writer:
        for n, item in enumerate(source.export(), start=1):
            if writer.source_of(item.article.id) is not None:
                present += 1
            else:
                writer.put(item.article, item.passages, item.tokens, item.hashes, item.vectors)
                copied += 1
            if n % 100 == 0:
                writer.commit()
            if progress:
                progress(n, total)
        writer.commit()
    return copied, present
