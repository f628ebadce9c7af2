"""The index directory: SQLite (the truth) + FAISS + BM25 (derived) + manifest.json.

Layout of an index directory::

    manifest.json   format version, embedding model and dimension, counts, generation
    archive.db      SQLite: articles, passages (text, offsets, tokens, float16 vectors)
    vectors.faiss   FAISS index over passage vectors, ids = passage row ids (see vectors.py)
    bm25/           bm25s index over passage tokens
    replies.db      SQLite: model replies for summaries and briefs (see replies.py)
    .write.lock     held by the one process allowed to write

Every write is a SQLite transaction that bumps `generation`. The FAISS and BM25 files
are rebuilt from SQLite after a write and stamped with that generation in the
manifest. If a process dies between the two (kill -9 mid-ingest), the next reader sees
the generations differ and rebuilds the derived files from SQLite, so an interrupted
ingest never leaves an index that cannot be searched.

Readers never wait for a writer. The writer has its own SQLite connection, so readers
see only committed transactions (WAL), and while a write is under way they keep the
FAISS and BM25 indexes they have: a consistent snapshot, at worst a little old. The
writing process swaps new ones in as it commits (at most every `REFRESH_S` seconds,
or `REFRESH_COST` times as long as the last rebuild took, since a rebuild reads every passage) and
when it finishes; readers of other processes
load the new files when the writer is done.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from rag import __version__
from rag.archive.base import Filters, NewArchive, Ranked, Stored, check_manifest, new_manifest
from rag.archive.lexical import BM25Index
from rag.archive.replies import Replies
from rag.archive.vectors import FaissIndex, decode_vectors
from rag.archive.writer import Writer, connect, timestamp
from rag.errors import StoreError
from rag.results import ArticleInfo
from rag.types import Article, Hit, Passage

FORMAT = "rag-news-index"
FORMAT_VERSION = 2  # 1 stored float32 vectors; `rag reindex` converts it
REFRESH_S = 30.0  # while writing, readers of the writing process see new passages this soon,
REFRESH_COST = 10  # or after this many times the last rebuild's time, if that is longer
log = logging.getLogger(__name__)


class Store:
    """An open index directory. Reading needs no lock; writing goes through `writer()`."""

    kind = "folder"
    lexical_index = "bm25s"

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.location = str(self.directory)
        self.manifest = manifest
        self._db = connect(self.directory / "archive.db")
        # (FAISS, BM25, generation): replaced as one tuple, so a reader never mixes two
        self._derived: tuple[FaissIndex, BM25Index, int] | None = None
        self._refreshed = 0.0  # time.monotonic() of the last swap during a write
        self._rebuild_s = 0.0  # how long the last rebuild of the derived indexes took
        self.replies = Replies(self.directory / "replies.db")
        # (generation, passage ids, article row ids, dates): see `allowed_rowids`
        self._dates: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None

    # ----------------------------------------------------------------- open/create
    @classmethod
    def open(
        cls, uri: str | Path, embedding_model: str | None = None, *,
        create: Callable[[], NewArchive] | None = None, upgrade: bool = False,
        vectors: Mapping[str, Any] | None = None, prefix: str = "rag",
    ) -> Store:
        """Open the index in the folder `uri`; refuse one of another format or embedding
        model (see `base.check_manifest`). Where there is none: with `create`, a new
        empty one as `create()` describes it (`_create`); without, StoreError with advice.
        `prefix` names Milvus's collections (a folder holds one archive).

        An index of an older version of this format is refused with the advice to run
        `rag reindex`, which opens it with `upgrade` and converts it.
        """
        directory = Path(uri)
        path = directory / "manifest.json"
        if not path.exists() and create is not None:
            return cls._create(directory, create())
        if not path.exists():
            raise StoreError(
                f"no index at {directory}: build one with `rag ingest --index {directory} PATH...`"
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path} is unreadable ({exc}); the index cannot be used") from None
        version = manifest.get("format_version")
        older = manifest.get("format") == FORMAT and isinstance(version, int) and version < FORMAT_VERSION
        if older and not upgrade:
            raise StoreError(
                f"index {directory} was written by an older version of rag (format {version}: "
                f"float32 vectors stored twice). Run `rag reindex --index {directory}` once to "
                "convert it in place; no file is read again."
            )
        check_manifest(manifest, str(directory), embedding_model, format_name=FORMAT,
                       version=FORMAT_VERSION, older=True, vectors=vectors, noun="index",
                       elsewhere="build a new index with --index NEWDIR",
                       rebuild=". Rebuild it with `rag ingest` into a new --index directory.")
        return cls(directory, manifest)

    @classmethod
    def _create(cls, directory: Path, new: NewArchive) -> Store:
        """A new, empty index in `directory`, which must be new or empty."""
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        stray = [p.name for p in directory.iterdir() if not p.name.startswith(".")]
        if stray:
            raise StoreError(
                f"{directory} is not empty and holds no index (found {', '.join(sorted(stray)[:3])}); "
                "choose an empty or new --index directory"
            )
        manifest = new_manifest(FORMAT, FORMAT_VERSION, new, generation=0,
                                counts={"articles": 0, "passages": 0})
        _write_json(directory / "manifest.json", manifest)
        return cls(directory, manifest)

    def close(self) -> None:
        self._db.close()
        self.replies.close()

    def record_embedding(self, checksum: str | None, runtime: str | None) -> None:
        """Say in the manifest which runtime and weights made the vectors; written with
        the derived indexes when the current write ends (see `writer`)."""
        self.manifest = {**self.manifest, "embedding": {
            **self.manifest["embedding"], "checksum": checksum, "runtime": runtime}}

    # --------------------------------------------------------------------- reading
    def older_format(self) -> bool:
        """Whether this index is of an older format version, opened to be converted."""
        return int(self.manifest.get("format_version", FORMAT_VERSION)) < FORMAT_VERSION

    @property
    def dim(self) -> int:
        return int(self.manifest["embedding"]["dim"])

    def generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def counts(self) -> dict[str, int]:
        a = self._db.execute("SELECT count(*) FROM articles").fetchone()[0]
        p = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return {"articles": int(a), "passages": int(p)}

    def list_articles(self) -> list[ArticleInfo]:
        rows = self._db.execute(
            "SELECT a.id, a.title, a.published, a.source, a.source_name, "
            "(SELECT count(*) FROM passages p WHERE p.article_rowid = a.rowid), length(a.text) "
            "FROM articles a ORDER BY a.published IS NULL, a.published DESC, a.rowid"
        ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def article(self, article_id: str) -> Article | None:
        row = self._db.execute(
            "SELECT id, key, title, text, source, published, source_name, reporters, captions, "
            "section, subtitle FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        if row is None:
            return None
        return Article(
            id=row[0], key=row[1], title=row[2], text=row[3], source=row[4], published=row[5],
            source_name=row[6], reporters=tuple(json.loads(row[7])),
            captions=tuple(json.loads(row[8])), section=row[9], subtitle=row[10],
        )

    def latest_published(self) -> str | None:
        row = self._db.execute("SELECT max(published) FROM articles").fetchone()
        return row[0] if row else None

    def article_keys(self) -> dict[str, str]:
        """{article id: key} for every article."""
        return dict(self._db.execute("SELECT id, key FROM articles").fetchall())

    def find_articles(self, prefix: str) -> list[str]:
        """Ids of articles whose id starts with `prefix` (ids may be abbreviated)."""
        rows = self._db.execute(
            "SELECT id FROM articles WHERE id >= ? AND id < ? ORDER BY id",
            (prefix, prefix + "\uffff"),
        ).fetchall()
        return [r[0] for r in rows]

    def passages_of(self, article_id: str) -> list[Passage]:
        rows = self._db.execute(
            "SELECT p.id, a.id, p.ordinal, p.start, p.end, a.text FROM passages p "
            "JOIN articles a ON a.rowid = p.article_rowid WHERE a.id = ? ORDER BY p.ordinal",
            (article_id,),
        ).fetchall()
        return [Passage(r[0], r[1], r[2], r[3], r[4], r[5][r[3]:r[4]]) for r in rows]

    def article_vectors(self, article_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Each article's mean passage vector, normalized: what the article is about."""
        out: dict[str, np.ndarray] = {}
        for article_id in article_ids:
            rows = self._db.execute(
                "SELECT p.vector FROM passages p JOIN articles a ON a.rowid = p.article_rowid "
                "WHERE a.id = ?", (article_id,),
            ).fetchall()
            if not rows:
                continue
            mean = decode_vectors([r[0] for r in rows], self.dim).mean(axis=0)
            norm = float(np.linalg.norm(mean))
            out[article_id] = mean / norm if norm else mean
        return out

    def passages_by_rowid(self, rowids: Sequence[int]) -> dict[int, Hit]:
        """The passages at `rowids` with their articles' metadata, as unranked hits."""
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = self._db.execute(
            "SELECT p.rowid, p.id, a.id, p.ordinal, p.start, p.end, "
            "substr(a.text, p.start + 1, p.end - p.start), a.title, a.published, a.source "
            f"FROM passages p JOIN articles a ON a.rowid = p.article_rowid WHERE p.rowid IN ({marks})",
            list(rowids),
        ).fetchall()
        return {
            r[0]: Hit(0, Passage(r[1], r[2], r[3], r[4], r[5], r[6]), r[7], r[8], r[9], 0.0)
            for r in rows
        }

    def allowed_rowids(
        self, since: str | None = None, until: str | None = None,
        sources: Sequence[str] | None = None,
    ) -> np.ndarray | None:
        """Passage row ids passing the filters (sorted), or None when nothing filters.

        Dates compare as ISO strings; `until` is inclusive of the whole day. Dates are
        compared in memory, over every passage's article date read once per generation
        (milliseconds at 300,000 passages, where a query joining the two tables took a
        quarter of a second); sources are matched in SQL over the articles.
        """
        if not (since or until or sources):
            return None
        ids, article_rowids, published = self._passage_dates()
        keep = np.ones(len(ids), dtype=bool)
        if since:
            keep &= published >= since
        if until:
            keep &= (published < until + "\uffff") & (published != "")
        if sources:
            where = " OR ".join("source LIKE ? ESCAPE '\\' OR source_name = ?" for _ in sources)
            args: list[str] = []
            for s in sources:  # % and _ in a source name are characters, not wildcards
                literal = s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                args += [f"%{literal}%", s]
            rows = self._db.execute(f"SELECT rowid FROM articles WHERE {where}", args).fetchall()
            keep &= np.isin(article_rowids, np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
        return ids[keep]

    def _passage_dates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(passage row ids sorted, their articles' row ids, their articles' dates or "")."""
        generation = self.generation()
        if self._dates is None or self._dates[0] != generation:
            rows = self._db.execute(
                "SELECT p.rowid, p.article_rowid, coalesce(a.published, '') FROM passages p "
                "JOIN articles a ON a.rowid = p.article_rowid ORDER BY p.rowid"
            ).fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            articles = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            published = np.array([r[2] for r in rows], dtype=str) if rows else np.array([], dtype=str)
            self._dates = (generation, ids, articles, published)
        return self._dates[1], self._dates[2], self._dates[3]

    def candidates(
        self, query_vector: np.ndarray | None, query_tokens: list[str] | None, n: int,
        filters: Filters, nprobe: int,
    ) -> tuple[Ranked, Ranked]:
        """Up to `n` dense and `n` BM25 candidates (passage row id, score), best first,
        from one snapshot of the derived indexes."""
        allowed = self.allowed_rowids(filters.since, filters.until, filters.sources)
        if allowed is not None and len(allowed) == 0:
            return [], []
        vectors, bm25, _generation = self.derived()
        dense = vectors.search(query_vector, n, allowed, nprobe=nprobe) if query_vector is not None else []
        lexical = bm25.search(query_tokens, n, allowed) if query_tokens else []
        return dense, lexical

    def export(self) -> Iterator[Stored]:
        """Every article with its passages, BM25 tokens, text hashes and vectors, in the
        order they were added: what moving the archive to another store needs."""
        rows = self._db.execute("SELECT rowid, id FROM articles ORDER BY rowid").fetchall()
        for article_rowid, article_id in rows:
            article = self.article(article_id)
            if article is None:
                continue
            parts = self._db.execute(
                "SELECT id, ordinal, start, end, tokens, text_hash, vector FROM passages "
                "WHERE article_rowid = ? ORDER BY ordinal", (article_rowid,)).fetchall()
            yield Stored(
                article,
                [Passage(r[0], article_id, r[1], r[2], r[3], article.text[r[2]:r[3]]) for r in parts],
                [r[4].split(" ") if r[4] else [] for r in parts],
                [r[5] for r in parts],
                decode_vectors([r[6] for r in parts], self.dim),
            )

    def warm(self) -> None:
        """Load the derived indexes now, not at the first search."""
        self.derived()

    def size_bytes(self) -> int | None:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())

    # ------------------------------------------------------------- derived indexes
    def vector_index(self) -> FaissIndex:
        return self.derived()[0]

    def bm25_index(self) -> BM25Index:
        return self.derived()[1]

    def derived(self) -> tuple[FaissIndex, BM25Index, int]:
        """The FAISS and BM25 indexes and the generation they hold, as one snapshot."""
        current = self._derived
        generation = self.generation()
        if current is not None and current[2] == generation:
            return current
        self.manifest = _read_json(self.directory / "manifest.json") or self.manifest
        if self.manifest.get("generation") == generation:
            try:
                self._derived = (FaissIndex.load(self.directory / "vectors.faiss"),
                                 BM25Index.load(self.directory / "bm25"), generation)
                return self._derived
            except (OSError, RuntimeError, ValueError) as exc:
                log.warning("index files in %s unreadable (%s); rebuilding", self.directory, exc)
        lock = self._try_persist_lock()
        if lock is None and current is not None:
            return current  # a write is under way: keep reading the snapshot we have
        if lock is not None and generation:
            log.warning(
                "index files in %s are older than the database (an interrupted ingest?); "
                "rebuilding them", self.directory,
            )
        return self._rebuild_derived(persist=lock)

    def _try_persist_lock(self) -> FileLock | None:
        lock = FileLock(str(self.directory / ".write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return None  # a writer is busy; it will write the files itself
        return lock

    def _rebuild_derived(self, persist: FileLock | None) -> tuple[FaissIndex, BM25Index, int]:
        """Build the derived indexes from one committed state of SQLite and swap them in;
        with `persist` (the write lock, released here), also write them to disk."""
        try:
            db = sqlite3.connect(str(self.directory / "archive.db"))
            try:
                db.execute("BEGIN")  # generation and rows from one snapshot
                row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
                generation = int(row[0]) if row else 0
                rows = db.execute("SELECT rowid, tokens, vector FROM passages ORDER BY rowid").fetchall()
            finally:
                db.close()
            started = time.monotonic()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = decode_vectors([r[2] for r in rows], self.dim)
            previous = self._derived[0] if self._derived is not None else self._saved_vectors()
            faiss_index = FaissIndex.build(self.dim, ids, vectors, previous)
            bm25 = BM25Index.build(ids, [r[1].split(" ") if r[1] else [] for r in rows])
            self._derived = (faiss_index, bm25, generation)
            self._rebuild_s = time.monotonic() - started
            if persist is not None:
                self._save_derived()
            return self._derived
        finally:
            if persist is not None:
                persist.release()

    def _saved_vectors(self) -> FaissIndex | None:
        """The vector index on disk, whose lists a rebuild may reuse, if it can be read."""
        try:
            return FaissIndex.load(self.directory / "vectors.faiss")
        except (OSError, RuntimeError, ValueError):
            return None

    def _after_commit(self) -> None:
        """While writing: let this process's readers see the new passages, now and then."""
        if time.monotonic() - self._refreshed >= max(REFRESH_S, REFRESH_COST * self._rebuild_s):
            self._rebuild_derived(persist=None)
            self._refreshed = time.monotonic()

    # --------------------------------------------------------------------- writing
    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """The single writer of this index; a second concurrent writer is refused."""
        lock = FileLock(str(self.directory / ".write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise StoreError(
                f"another process is writing to the index {self.directory}; "
                "wait for it to finish and try again"
            ) from None
        db = connect(self.directory / "archive.db")
        writer = Writer(db, self.dim, on_commit=self._after_commit)
        self._refreshed = time.monotonic()
        try:
            yield writer
        finally:
            try:
                if db.in_transaction:
                    db.rollback()
                db.close()
                if writer.changed:
                    self._rebuild_derived(persist=None)
                    self._save_derived()
                self.replies.forget(writer.deleted)
            finally:
                lock.release()

    def _save_derived(self) -> None:
        assert self._derived is not None
        vectors, bm25, generation = self._derived
        vectors.save(self.directory / "vectors.faiss")
        bm25.save(self.directory / "bm25")
        self.manifest = {
            **self.manifest, "generation": generation, "counts": self.counts(),
            "format_version": FORMAT_VERSION, "vector_index": vectors.kind,
            "updated_at": timestamp(), "rag_version": __version__,
        }
        _write_json(self.directory / "manifest.json", self.manifest)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
