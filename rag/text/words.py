"""Chinese words: jieba, set up once for the whole process, and the search tokens.

Loading jieba's dictionary takes 0.6 s, most of a cold `rag search`, which tokenizes one
query. So the first full load also writes the dictionary into an SQLite file of the model
cache (`lexicon.sqlite`), and `tokenize_query` segments a query by looking up just the
words it needs there: the same dictionary, so the same tokens, without the load.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from rag.config import model_home

_KEEP = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)


@functools.cache
def ready_jieba():  # type: ignore[no-untyped-def]
    """jieba, its dictionary loaded once per process (the first call takes about a second)."""
    import jieba as module

    # jieba prints its dictionary-loading chatter through logging at INFO.
    module.setLogLevel(logging.WARNING)
    module.initialize()
    try:
        _write_lexicon(module.dt)
    except (OSError, sqlite3.Error) as exc:  # only a cold query's speed depends on it
        logging.getLogger(__name__).debug("jieba lexicon not written: %s", exc)
    return module


def posseg():  # type: ignore[no-untyped-def]
    """jieba's part-of-speech tagger (person, place and organisation names)."""
    ready_jieba()
    import jieba.posseg as tagger

    return tagger


def tokenize(text: str) -> list[str]:
    """Search tokens of Chinese (or mixed) text: jieba's search-mode words, lowercased.

    Search mode also emits the short words inside long compounds (中华人民共和国 → 中华,
    华人, 人民, 共和国, …), which lets a question match a passage that uses a longer or
    shorter form of the same term. Punctuation and whitespace are dropped.
    """
    return [
        tok.lower()
        for tok in ready_jieba().cut_for_search(text)
        if tok.strip() and _KEEP.search(tok)
    ]


def tokenize_query(text: str) -> list[str]:
    """`tokenize(text)`, without loading the whole dictionary when this process has not
    loaded it yet and the lexicon file is there (see the module's docstring)."""
    if ready_jieba.cache_info().currsize == 0:
        lexicon = _lexicon_tokenizer()
        if lexicon is not None:
            return _search_tokens(lexicon, text)
    return tokenize(text)


def _search_tokens(tokenizer: Any, text: str) -> list[str]:
    return [tok.lower() for tok in tokenizer.cut_for_search(text) if tok.strip() and _KEEP.search(tok)]


def _lexicon_path() -> Path:
    return model_home() / "lexicon.sqlite"


def _dictionary_stamp(tokenizer: Any) -> str:
    """Which dictionary a lexicon was written from: its file, size and jieba's version."""
    import jieba

    path = Path(tokenizer.get_dict_file().name)
    return f"{jieba.__version__}:{path}:{path.stat().st_size}"


def _write_lexicon(tokenizer: Any) -> None:
    path = _lexicon_path()
    stamp = _dictionary_stamp(tokenizer)
    if _read_stamp(path) == stamp:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    db = sqlite3.connect(str(tmp))
    try:
        db.execute("CREATE TABLE freq (word TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.executemany("INSERT INTO freq VALUES (?, ?)", tokenizer.FREQ.items())
        db.executemany("INSERT INTO meta VALUES (?, ?)",
                       [("total", str(tokenizer.total)), ("stamp", stamp)])
        db.commit()
    finally:
        db.close()
    os.replace(tmp, path)


def _read_stamp(path: Path) -> str | None:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


class _Lexicon:
    """jieba's word frequencies, read from the lexicon file a word at a time."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._seen: dict[str, int | None] = {}

    def get(self, word: str, default: Any = None) -> Any:
        if word not in self._seen:
            row = self._db.execute("SELECT n FROM freq WHERE word = ?", (word,)).fetchone()
            self._seen[word] = row[0] if row else None
        n = self._seen[word]
        return default if n is None else n

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        n = self.get(word)
        if n is None:
            raise KeyError(word)
        return int(n)


@functools.cache
def _lexicon_tokenizer() -> Any:
    """A jieba tokenizer over the lexicon file, or None when there is no usable one."""
    path = _lexicon_path()
    try:
        import jieba

        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        tokenizer = jieba.Tokenizer()
        if meta.get("stamp") != _dictionary_stamp(tokenizer):
            db.close()
            return None
        tokenizer.FREQ = _Lexicon(db)
        tokenizer.total = int(meta["total"])
        tokenizer.initialized = True
        return tokenizer
    except (OSError, sqlite3.Error, KeyError, ValueError):
        return None
