"""Ingest: read files, diff against the index, embed what is new, write in batches."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.archive.store import Store, Writer
from rag.archive.writer import indexed_text
from rag.config import Settings
from rag.ingest import load_articles
from rag.models.embedder import Embedder
from rag.text.chunking import chunk_article
from rag.text.words import tokenize
from rag.types import Article, IngestReport, Passage, Skipped, content_hash

# Called with (passages done, passages to embed) as embedding proceeds.
Progress = Callable[[int, int], None]

# Commit to SQLite every this many passages, so a crash loses little work.


@dataclass
class _Pending:
    article: Article
    passages: list[Passage]
    texts: list[str]  # what is embedded and tokenized: title + passage
    hashes: list[str]


def passage_inputs(article: Article, passages: Sequence[Passage]) -> list[str]:
    """The text indexed for each passage (see `indexed_text`)."""
    return [indexed_text(article.title, p.text) for p in passages]


def reembed(
    store: Store, embedder: Embedder, *, embed_group: int = Settings.embed_group,
    commit_every: int = Settings.commit_every, progress: Progress | None = None,
) -> int:
    """Embed every stored passage again with `embedder`, from the archive's own text (no
    file is read), and record its runtime and checksum; returns the passages embedded.

    Until it finishes the manifest names the old embedding, so an interrupted run leaves
    an index that is refused with the advice to run it again.
    """
    with store.writer() as writer:
        rows = writer.passage_inputs()
        if progress:
            progress(0, len(rows))
        since_commit = 0
        for i in range(0, len(rows), embed_group):
            part = rows[i : i + embed_group]
            writer.set_vectors([r for r, _ in part], embedder.embed_passages([t for _, t in part]))
            since_commit += len(part)
            if since_commit >= commit_every:
                writer.commit()
                since_commit = 0
            if progress:
                progress(min(i + embed_group, len(rows)), len(rows))
        store.record_embedding(getattr(embedder, "checksum", None), getattr(embedder, "runtime", None))
        writer.changed = True  # the manifest is written with the derived indexes
        writer.commit()
    return len(rows)


def ingest(
    store: Store,
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
    by_source: dict[str, list[Article]] = {}
    damaged: set[str] = set()
    # Sources are absolute paths, so `docs/a.txt` and `./docs/a.txt` are one file.
    for item in load_articles(Path(os.path.abspath(p)) for p in paths):
        if isinstance(item, Skipped):
            report.skipped.append(item)
            damaged.add(item.source)
        else:
            by_source.setdefault(item.source, []).append(item)

    with store.writer() as writer:
        pending: list[_Pending] = []
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
                pending.append(_Pending(article, passages, texts, [content_hash(t) for t in texts]))
            if not any(s == source or s.startswith(source + ":") for s in damaged):
                for aid in vanished:
                    writer.delete(aid)
                    report.removed.append(aid)
        report.passages_embedded = _embed_and_store(
            writer, embedder, pending, progress, embed_group, commit_every)
    report.seconds = time.perf_counter() - started
    return report


def _embed_and_store(
    writer: Writer, embedder: Embedder, pending: list[_Pending], progress: Progress | None,
    embed_group: int, commit_every: int,
) -> int:
    """Embed passages not already stored (by text hash) and write, committing in batches.

    Articles are grouped so that each call to the model sees about `embed_group` passages.
    """
    total = sum(len(p.passages) for p in pending)
    done = embedded = since_commit = 0
    if progress:
        progress(0, total)
    group: list[_Pending] = []
    for n, item in enumerate(pending):
        group.append(item)
        if sum(len(g.passages) for g in group) < embed_group and n + 1 < len(pending):
            continue
        embedded += _store_group(writer, embedder, group)
        size = sum(len(g.passages) for g in group)
        done += size
        since_commit += size
        group = []
        if since_commit >= commit_every:
            writer.commit()
            since_commit = 0
        if progress:
            progress(done, total)
    writer.commit()
    return embedded


def _store_group(writer: Writer, embedder: Embedder, group: list[_Pending]) -> int:
    hashes = [h for g in group for h in g.hashes]
    texts = [t for g in group for t in g.texts]
    known = writer.vectors_for(hashes)
    vectors = np.empty((len(texts), writer.dim), dtype=np.float32)
    todo = [i for i, h in enumerate(hashes) if h not in known]
    for i, h in enumerate(hashes):
        if h in known:
            vectors[i] = np.frombuffer(known[h], dtype=np.float32)
    if todo:
        vectors[todo] = embedder.embed_passages([texts[i] for i in todo])
    offset = 0
    for g in group:
        n = len(g.passages)
        tokens = [tokenize(t) for t in g.texts]
        writer.put(g.article, g.passages, tokens, g.hashes, vectors[offset : offset + n])
        offset += n
    return len(todo)
