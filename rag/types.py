"""Typed data passed between the stages of the pipeline.

Everything here is a frozen dataclass: values, not handles. Ids are content hashes so
that the same text always gets the same id, on any machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field


def content_hash(*parts: str, length: int = 16) -> str:
    """Stable hex id of some strings (sha256, truncated)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:length]


# A search as the answer engine calls it: (query, since, until) -> ranked hits.
Search = Callable[[str, str | None, str | None], list["Hit"]]


def evidence_text(title: str, published: str | None, text: str) -> str:
    """A passage as verification reads it: its article's title and date, then the text.

    Answers, briefs and evaluation all check support against this one form, so what
    evaluation scores is what the product verifies.
    """
    return f"{title}\n{published or ''}\n{text}"


@dataclass(frozen=True)
class RawDoc:
    """One unit read from a file, before segmentation.

    A plain text file is one RawDoc (which may hold a whole newspaper page); a JSONL
    file gives one RawDoc per line.
    """

    source: str  # file path as given, plus "#line" for JSONL records
    text: str
    title: str | None = None
    published: str | None = None  # ISO date "YYYY-MM-DD" (optionally " HH:MM")
    source_name: str | None = None  # a publication named by the record ("人民日报")
    external_id: str | None = None  # the record's own id, if it has one
    structured: bool = False  # True when the reader already knows article boundaries


@dataclass(frozen=True)
class Article:
    """One news article, cleaned. `text` is the body that passages point into."""

    id: str  # content hash of title + text
    key: str  # where it came from: external id, or "source#n"; used to detect updates
    title: str
    text: str
    source: str
    published: str | None = None
    source_name: str | None = None
    reporters: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    section: str | None = None  # page banner, kept as metadata
    subtitle: str | None = None

    @staticmethod
    def make_id(title: str, text: str) -> str:
        return content_hash(title, text)


@dataclass(frozen=True)
class Passage:
    """A window of an article's text; `text == article.text[start:end]`."""

    id: str
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str

    @staticmethod
    def make_id(article_id: str, start: int, end: int) -> str:
        return content_hash(article_id, str(start), str(end))


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its article's metadata and how it was found."""

    rank: int
    passage: Passage
    title: str
    published: str | None
    source: str
    score: float  # fused (RRF) score
    dense_rank: int | None = None  # 1-based rank in the dense list, None if absent
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None


@dataclass(frozen=True)
class Skipped:
    """A file (or record) that could not be used, and why."""

    source: str
    reason: str


@dataclass
class IngestReport:
    """What an ingest did; printed as the final summary."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # unreadable files and records
    duplicates: list[Skipped] = field(default_factory=list)  # content already indexed elsewhere
    passages_embedded: int = 0
    seconds: float = 0.0
