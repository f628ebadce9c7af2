"""The index's SQLite tables, and changes to them, made by the one process holding the
write lock (see store.py)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag.archive.vectors import decode_vectors, encode_vectors
from rag.types import Article, Passage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    published TEXT,
    source_name TEXT,
    reporters TEXT NOT NULL DEFAULT '[]',
    captions TEXT NOT NULL DEFAULT '[]',
    section TEXT,
    subtitle TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_key ON articles(key);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    article_rowid INTEGER NOT NULL REFERENCES articles(rowid) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text_hash TEXT NOT NULL,
    tokens TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_rowid);
CREATE INDEX IF NOT EXISTS passages_hash ON passages(text_hash);
"""


def indexed_text(title: str, text: str) -> str:
    """What is embedded and tokenized for a passage: its article's title, then the
    passage, so every window of a long article carries the topic it belongs to."""
    title = title.strip()
    return text if not title or text.startswith(title) else f"{title}\n{text}"


def timestamp() -> str:
    """Local time, ISO 8601 with offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the index's SQLite file, its tables created if need be."""
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level="DEFERRED")
    db.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL survives a killed process (not a power cut) and is much faster.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(_SCHEMA)
    return db


class Writer:
    """Changes to one index, made while holding its write lock."""

    def __init__(
        self, db: sqlite3.Connection, dim: int, on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._db = db  # the writer's own connection: readers see only what it commits
        self.dim = dim  # of the index's vectors
        self.changed = False
        self.deleted: list[str] = []  # ids of the articles removed (or replaced)
        self._on_commit = on_commit

    def articles_from_source(self, source: str) -> dict[str, str]:
        """{article id: key} of the articles read from `source`."""
        rows = self._db.execute("SELECT id, key FROM articles WHERE source = ?", (source,))
        return dict(rows.fetchall())

    def source_of(self, article_id: str) -> str | None:
        row = self._db.execute("SELECT source FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row[0] if row else None

    def vectors_for(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of passages with these text hashes (to skip re-embedding)."""
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(text_hashes))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            rows = self._db.execute(
                f"SELECT text_hash, vector FROM passages WHERE text_hash IN ({','.join('?' * len(part))})",
                part,
            )
            found.update(rows.fetchall())
        vectors = decode_vectors(list(found.values()), self.dim)
        return dict(zip(found, vectors, strict=True))

    def put(
        self, article: Article, passages: Sequence[Passage], tokens: Sequence[list[str]],
        text_hashes: Sequence[str], vectors: np.ndarray,
    ) -> None:
        """Insert an article (its id must not be stored yet)."""
        cur = self._db.execute(
            "INSERT INTO articles (id, key, title, text, source, published, source_name, reporters,"
            " captions, section, subtitle, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.id, article.key, article.title, article.text, article.source,
                article.published, article.source_name,
                json.dumps(list(article.reporters), ensure_ascii=False),
                json.dumps(list(article.captions), ensure_ascii=False),
                article.section, article.subtitle, timestamp(),
            ),
        )
        article_rowid = cur.lastrowid
        self._db.executemany(
            "INSERT INTO passages (id, article_rowid, ordinal, start, end, text_hash, tokens, vector)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [
                (p.id, article_rowid, p.ordinal, p.start, p.end, h, " ".join(t), v)
                for p, t, h, v in zip(passages, tokens, text_hashes, encode_vectors(vectors), strict=True)
            ],
        )
        self.changed = True

    def passage_inputs(self) -> list[tuple[int, str]]:
        """(row id, the text that was embedded) of every passage: its article's title and
        the passage (see `indexed_text`), read back from the stored articles."""
        rows = self._db.execute(
            "SELECT p.rowid, a.title, substr(a.text, p.start + 1, p.end - p.start) "
            "FROM passages p JOIN articles a ON a.rowid = p.article_rowid ORDER BY p.rowid"
        ).fetchall()
        return [(rowid, indexed_text(title, text)) for rowid, title, text in rows]

    def set_vectors(self, rowids: Sequence[int], vectors: np.ndarray) -> None:
        self._db.executemany("UPDATE passages SET vector = ? WHERE rowid = ?",
                             list(zip(encode_vectors(vectors), rowids, strict=True)))
        self.changed = True

    def narrow_vectors(self) -> int:
        """Store float32 vectors (of an index's first format) as float16; returns how many."""
        rows = self._db.execute(
            "SELECT rowid, vector FROM passages WHERE length(vector) = ?", (4 * self.dim,)).fetchall()
        for i in range(0, len(rows), 10_000):
            part = rows[i : i + 10_000]
            wide = np.frombuffer(b"".join(v for _, v in part), dtype="<f4").reshape(-1, self.dim)
            self.set_vectors([r for r, _ in part], wide)
        self.changed = True
        return len(rows)

    def delete(self, article_id: str) -> bool:
        cur = self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        self.changed |= cur.rowcount > 0
        if cur.rowcount > 0:
            self.deleted.append(article_id)
        return cur.rowcount > 0

    def commit(self) -> None:
        """Make the changes so far durable, as one step of the index's history."""
        if not self._db.in_transaction:
            return
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
        self._db.commit()
        if self._on_commit is not None:
            self._on_commit()
