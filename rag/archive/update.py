"""Ingest: read files, diff against the index, embed what is new, write in batches."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.archive.base import ArchiveStore, ArchiveWriter, Progress, write_in_steps
from rag.archive.store import Store
from rag.archive.writer import indexed_text
from rag.config import Settings
from rag.errors import StoreError
from rag.ingest import load_articles
from rag.models.embedder import Embedder
from rag.text.chunking import chunk_article
from rag.text.words import tokenize
from rag.types import Article, IngestReport, Passage, Skipped, content_hash


@dataclass
class Pending:
    """An article to write, with its passages and what is embedded and tokenized for them."""

    article: Article
    passages: list[Passage]
    texts: list[str]  # what is embedded and tokenized: title + passage
    hashes: list[str]


def passage_inputs(article: Article, passages: Sequence[Passage]) -> list[str]:
    """The text indexed for each passage (see `indexed_text`)."""
    return [indexed_text(article.title, p.text) for p in passages]


def reembed(
    store: ArchiveStore, embedder: Embedder, *, model: str, embed_group: int = Settings.embed_group,
    commit_every: int = Settings.commit_every, progress: Progress | None = None,
) -> tuple[int, bool]:
    """Embed every stored passage of a folder index again with `embedder` (of the
    embedding model `model`), from the archive's own text (no file is read), and record
    its runtime and checksum; returns the number of passages and whether they were
    embedded (rather than converted).

    An index of an older format whose vectors came from these very weights is converted
    without embedding anything: its float32 vectors are narrowed to float16.

    Until it finishes the manifest names the old embedding and format, so an interrupted
    run leaves an index that is refused with the advice to run it again.
    """
    if not isinstance(store, Store):
        raise StoreError(f"`rag reindex` converts a folder index; {store.location} is a Milvus "
                         "store: build a new one from a reindexed folder with `rag migrate`")
    if embedder.dim != store.dim:
        raise StoreError(
            f"index {store.location} holds {store.dim}-dimension vectors and {model!r} makes "
            f"{embedder.dim}: build a new index with `rag ingest --index NEWDIR`"
        )
    checksum = getattr(embedder, "checksum", None)
    with store.writer() as writer:
        if store.older_format() and checksum and store.manifest["embedding"].get("checksum") == checksum:
            n = writer.narrow_vectors()
            writer.commit()
            return n, False
        rows = writer.passage_inputs()

        def steps() -> Iterator[int]:
            for i in range(0, len(rows), embed_group):
                part = rows[i : i + embed_group]
                writer.set_vectors([r for r, _ in part], embedder.embed_passages([t for _, t in part]))
                yield len(part)

        write_in_steps(writer, steps(), len(rows), commit_every, progress)
        store.record_embedding(checksum, getattr(embedder, "runtime", None))
        writer.changed = True  # the manifest is written with the derived indexes
    return len(rows), True


def ingest(
    store: ArchiveStore,
    embedder: Embedder,
    paths: Iterable[str | Path],
    *,
    chunk_size: int,
    chunk_overlap: int,
    progress: Progress | None = None,
    embed_group: int = Settings.embed_group,
    commit_every: int = Settings.commit_every,
) -> IngestReport:
    """Bring the index up to date with `paths`; returns what happened to each article.

    Each file read is reconciled with what the index holds from it: articles whose
    content is already stored cost nothing; new content is embedded; an article whose
    key (record id, or position in its file) now carries new content is an update;
    stored articles no longer in the file are removed. A file that cannot be read, or
    that had unreadable records, removes nothing.
    """
    started = time.perf_counter()
    report = IngestReport()
    # Sources are absolute paths, so `docs/a.txt` and `./docs/a.txt` are one file.
    items = list(load_articles(Path(os.path.abspath(p)) for p in paths))
    with store.writer() as writer:
        pending = plan(writer, items, report, chunk_size, chunk_overlap)
        report.passages_embedded = _embed_and_store(
            writer, embedder, pending, progress, embed_group, commit_every)
    report.seconds = time.perf_counter() - started
    return report


def plan(
    writer: ArchiveWriter, items: Iterable[Article | Skipped], report: IngestReport, chunk_size: int,
    chunk_overlap: int,
) -> list[Pending]:
    """Reconcile what was read from files with what the index holds from them.

    Fills `report` (skipped, unchanged, duplicates, updated, added, removed), deletes
    from the index the articles replaced or gone from their file, and returns the
    articles to write, chunked into passages, in the order read. A file that cannot be
    read, or that had unreadable records, removes nothing.
    """
    by_source: dict[str, list[Article]] = {}
    damaged: set[str] = set()
    for item in items:
        if isinstance(item, Skipped):
            report.skipped.append(item)
            damaged.add(item.source)
        else:
            by_source.setdefault(item.source, []).append(item)

    pending: list[Pending] = []
    claimed: set[str] = set()  # ids queued in this run, to drop in-run duplicates
    for source, articles in by_source.items():
        stored = writer.articles_from_source(source)  # id -> key
        present = {a.id for a in articles}
        vanished = {aid: key for aid, key in stored.items() if aid not in present}
        replaced_keys = {key: aid for aid, key in vanished.items()}
        for article in articles:
            if article.id in stored:
                report.unchanged.append(article.id)
                continue
            elsewhere = writer.source_of(article.id)
            if elsewhere is not None or article.id in claimed:
                report.duplicates.append(Skipped(
                    article.key, f"duplicate of article {article.id} from {elsewhere or source}"
                ))
                continue
            old = replaced_keys.pop(article.key, None)
            if old is not None:
                writer.delete(old)
                del vanished[old]
                report.updated.append(article.id)
            else:
                report.added.append(article.id)
            claimed.add(article.id)
            passages = chunk_article(article, chunk_size, chunk_overlap)
            texts = passage_inputs(article, passages)
            pending.append(Pending(article, passages, texts, [content_hash(t) for t in texts]))
        if not any(s == source or s.startswith(source + ":") for s in damaged):
            for aid in vanished:
                writer.delete(aid)
                report.removed.append(aid)
    return pending


def group_pending(pending: list[Pending], embed_group: int) -> list[list[Pending]]:
    """Consecutive articles grouped so that each group has about `embed_group` passages
    (whole articles; a group is closed once it reaches that many): what one call to the
    model embeds. The vectors of the int8 model depend a little on which texts are
    embedded together, so every ingest groups alike."""
    groups: list[list[Pending]] = []
    size = 0
    for item in pending:
        if not groups or size >= embed_group:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += len(item.passages)
    return groups


def _embed_and_store(
    writer: ArchiveWriter, embedder: Embedder, pending: list[Pending], progress: Progress | None,
    embed_group: int, commit_every: int,
) -> int:
    """Embed passages not already stored (by text hash) and write, committing in batches.

    Articles are grouped so that each call to the model sees about `embed_group`
    passages. The work is pipelined: while the model embeds one group (ONNX Runtime and
    torch let go of the GIL), a second thread tokenizes the next one for BM25.
    """
    groups = group_pending(pending, embed_group)
    embedded = 0

    def steps() -> Iterator[int]:
        nonlocal embedded
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize") as pool:
            tokens = pool.submit(_tokens, groups[0]) if groups else None
            for n, group in enumerate(groups):
                current = tokens
                tokens = pool.submit(_tokens, groups[n + 1]) if n + 1 < len(groups) else None
                vectors, new = _vectors(writer, embedder, group)
                assert current is not None
                _store_group(writer, group, current.result(), vectors)
                embedded += new
                yield sum(len(g.passages) for g in group)

    write_in_steps(writer, steps(), sum(len(p.passages) for p in pending), commit_every, progress)
    return embedded


def _tokens(group: list[Pending]) -> list[list[list[str]]]:
    """BM25 tokens of each passage of each article of the group."""
    return [[tokenize(t) for t in g.texts] for g in group]


def _vectors(writer: ArchiveWriter, embedder: Embedder, group: list[Pending]) -> tuple[np.ndarray, int]:
    """The group's passage vectors, reusing stored ones (by text hash); and how many were new."""
    hashes = [h for g in group for h in g.hashes]
    texts = [t for g in group for t in g.texts]
    known = writer.vectors_for(hashes)
    vectors = np.empty((len(texts), writer.dim), dtype=np.float32)
    todo = [i for i, h in enumerate(hashes) if h not in known]
    for i, h in enumerate(hashes):
        if h in known:
            vectors[i] = known[h]
    if todo:
        vectors[todo] = embedder.embed_passages([texts[i] for i in todo])
    return vectors, len(todo)


def _store_group(
    writer: ArchiveWriter, group: list[Pending], tokens: list[list[list[str]]], vectors: np.ndarray,
) -> None:
    offset = 0
    for g, article_tokens in zip(group, tokens, strict=True):
        n = len(g.passages)
        writer.put(g.article, g.passages, article_tokens, g.hashes, vectors[offset : offset + n])
        offset += n
