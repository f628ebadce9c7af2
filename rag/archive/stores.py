"""Opening an archive by its URI, the `store` setting: which store keeps it is decided
here, once, and nowhere else.

A URI beginning with one of `SCHEMES` names Milvus (`milvus:FILE.db` for Milvus Lite, or
a server's `http://`, `https://` or `tcp://` address); anything else is a folder. Each
store class opens an archive by its URI with `open`, which creates it where there is none
when asked to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from rag.archive.base import ArchiveStore, NewArchive, Progress, write_in_steps
from rag.archive.milvus.store import MilvusStore
from rag.archive.store import Store

SCHEMES: dict[str, type[MilvusStore]] = {
    "milvus:": MilvusStore, "http://": MilvusStore, "https://": MilvusStore, "tcp://": MilvusStore,
}
COPY_COMMIT_EVERY = 100  # articles


def open_archive(
    uri: str, embedding_model: str | None = None, *, create: Callable[[], NewArchive] | None = None,
    upgrade: bool = False, vectors: Mapping[str, Any] | None = None, prefix: str = "rag",
) -> ArchiveStore:
    """The archive at `uri`, refused if another embedding model than `embedding_model`
    (None: any) made it, or if its vectors are not of the embedding `vectors` (see
    `base.check_manifest`). Where there is none: with `create`, a new empty one, as
    `create()` describes it (called only then: describing it may load a model); without,
    StoreError with advice.

    `upgrade` opens a folder index of an older format, to convert it (`rag reindex`);
    `prefix` names a Milvus archive's collections.
    """
    store: type[MilvusStore] | type[Store] = next(
        (kind for scheme, kind in SCHEMES.items() if uri.startswith(scheme)), Store)
    return store.open(uri, embedding_model, create=create, upgrade=upgrade, vectors=vectors, prefix=prefix)


def copy_archive(
    source: ArchiveStore, uri: str, progress: Progress | None = None, *, prefix: str = "rag",
    lexical: str = "tokens",
) -> tuple[int, int]:
    """Copy every article of `source` that the archive at `uri` lacks, with its passages,
    tokens and vectors as stored (nothing is embedded); the archive is created if there is
    none, and refused if its vectors are of another embedding. Returns (articles copied,
    articles already there)."""
    built = source.manifest["embedding"]
    target = open_archive(
        uri, built["model"], vectors=built, prefix=prefix,
        create=lambda: NewArchive(built["model"], int(built["dim"]), built.get("checksum"),
                                  source.manifest.get("chunking") or {}, built.get("runtime"), lexical),
    )
    present = 0
    try:
        with target.writer() as writer:

            def steps() -> Iterator[int]:
                nonlocal present
                for item in source.export():
                    if writer.source_of(item.article.id) is not None:
                        present += 1
                    else:
                        writer.put(item.article, item.passages, item.tokens, item.hashes, item.vectors)
                    yield 1

            done = write_in_steps(writer, steps(), source.counts()["articles"], COPY_COMMIT_EVERY, progress)
    finally:
        target.close()
    return done - present, present
