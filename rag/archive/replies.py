"""Model replies kept beside an index, so a repeated summary or brief costs no model call.

A reply is kept under the hash of exactly what was asked: the generator (backend and
model), the messages and the token limit. So a changed article, a changed selection of
its sentences or a new prompt wording asks anew by itself, while what is done with a
reply (verification, citations) always runs again and follows the code of the day.
Rows also name the articles they were written from, and are dropped when those articles
are removed or replaced (see `Store.writer`).

The replies live in their own SQLite file, `replies.db`, not in `archive.db`: readers
write them, and a reader must never wait for an ingest's transaction. The file is a
cache: if it cannot be read or written, the model is simply asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from rag.archive.writer import timestamp

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY, reply TEXT NOT NULL, articles TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reply_articles (
    article_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (article_id, key)) WITHOUT ROWID;
"""


def reply_key(generator: str, messages: Sequence[tuple[str, str]], max_tokens: int) -> str:
    """The hash of one request to a model."""
    data = json.dumps([generator, [list(m) for m in messages], max_tokens], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


class Replies:
    """The model replies kept in `path` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=1.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def get(self, key: str) -> str | None:
        try:
            with self._lock:
                row = self._connect().execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        except (sqlite3.Error, OSError) as exc:
            log.debug("reply cache %s unreadable: %s", self.path, exc)
            return None
        return row[0] if row else None

    def put(self, key: str, reply: str, article_ids: Sequence[str]) -> None:
        try:
            with self._lock:
                db = self._connect()
                with db:
                    db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?)",
                               (key, reply, json.dumps(list(article_ids)), timestamp()))
                    db.executemany("INSERT OR IGNORE INTO reply_articles VALUES (?, ?)",
                                   [(a, key) for a in article_ids])
        except (sqlite3.Error, OSError) as exc:
            log.debug("reply cache %s not written: %s", self.path, exc)

    def forget(self, article_ids: Sequence[str]) -> int:
        """Drop the replies written from any of these articles; returns how many."""
        if not article_ids or not self.path.exists():
            return 0
        try:
            with self._lock:
                db = self._connect()
                with db:
                    keys: set[str] = set()
                    for a in article_ids:
                        keys.update(k for (k,) in db.execute(
                            "SELECT key FROM reply_articles WHERE article_id = ?", (a,)))
                    db.executemany("DELETE FROM replies WHERE key = ?", [(k,) for k in keys])
                    db.executemany("DELETE FROM reply_articles WHERE key = ?", [(k,) for k in keys])
                return len(keys)
        except (sqlite3.Error, OSError) as exc:
            log.debug("reply cache %s not pruned: %s", self.path, exc)
            return 0

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        try:
            with self._lock:
                return int(self._connect().execute("SELECT count(*) FROM replies").fetchone()[0])
        except (sqlite3.Error, OSError):
            return 0

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
