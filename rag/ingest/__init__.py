"""Ingestion: read files, split newspaper pages into articles, clean them.

`load_articles(paths)` is the entry point: it yields one `Article` per article found,
or a `Skipped` for each file or record that could not be used, and never raises for
bad input. Readers live in `readers` (one function per file type, in `READERS`),
encodings in `encoding`, PDF/DOCX/HTML in `documents`, page segmentation in `segment`.

May import: the shared modules and `rag.text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from rag.ingest.clean import clean_paragraph
from rag.ingest.lines import lead_reporters, split_glued_headline
from rag.ingest.readers import iter_files, iter_raw
from rag.ingest.segment import Segment, derive_title, segment_page
from rag.text.chunking import split_sentences
from rag.types import Article, RawDoc, Skipped

__all__ = ["MAX_ARTICLE_CHARS", "Segment", "articles_from_raw", "iter_files", "iter_raw",
           "load_articles", "segment_page", "split_long"]

_RECORD_LINE = re.compile(r"#(\d+)$")
# An article longer than this (a long feature runs to 10,000 characters) is a document
# with no article breaks the reader could find, such as a whole book or a dump on one
# line: it is stored as parts of at most this size, cut between sentences, so that each
# part is committed, searchable and kept on its own as a long ingest goes on.
MAX_ARTICLE_CHARS = 20_000


def load_articles(paths: Iterable[str | Path]) -> Iterator[Article | Skipped]:
    """Read `paths` (files or folders) and yield their articles, or why a file was skipped."""
    for item in iter_raw(paths):
        if isinstance(item, Skipped):
            yield item
            continue
        articles = articles_from_raw(item)
        if articles:
            for article in articles:
                yield from split_long(article)
        else:
            yield Skipped(_skip_source(item), "no article text found")


def articles_from_raw(raw: RawDoc) -> list[Article]:
    """The cleaned articles of one RawDoc.

    A structured record is one article; any other document is segmented, since it may
    be a whole newspaper page. Articles whose body is empty after cleaning are dropped.
    """
    if raw.structured:
        article = _from_record(raw)
        return [article] if article is not None else []
    segments = segment_page(raw.text)
    articles = []
    for n, seg in enumerate(segments):
        text = clean_body(seg.body)
        if not text:
            continue
        title, subtitle = seg.title, seg.subtitle
        if raw.title and len(segments) == 1 and title != raw.title:
            # The document names its own title (HTML <title>, a Markdown heading); a
            # headline found in the text then serves as the subtitle.
            if title and title not in text:
                subtitle = "\n".join(s for s in (title, subtitle) if s)
            title = raw.title
        title = title or derive_title(text)
        articles.append(Article(
            id=Article.make_id(title, text),
            key=raw.external_id or f"{raw.source}#{n}",
            title=title,
            text=text,
            source=raw.source,
            published=seg.published or raw.published,
            source_name=raw.source_name,
            reporters=seg.reporters,
            captions=seg.captions,
            section=seg.section,
            subtitle=subtitle,
        ))
    return articles


def split_long(article: Article, limit: int = MAX_ARTICLE_CHARS) -> list[Article]:
    """`article` itself, or when its text is longer than `limit`, its parts: cut between
    sentences (inside a sentence only if one sentence is longer than `limit`), titled
    `标题（k/n）`, keyed `key#part-k`."""
    if len(article.text) <= limit:
        return [article]
    cuts, start = [], 0
    for a, b in split_sentences(article.text):
        while b - start > limit:
            end = a if a > start else start + limit  # before this sentence, or inside it
            cuts.append((start, end))
            start = end
    cuts.append((start, len(article.text)))
    parts = []
    for k, (a, b) in enumerate(cuts, start=1):
        text = article.text[a:b].strip()
        if not text:
            continue
        title = f"{article.title}（{k}/{len(cuts)}）"
        parts.append(replace(article, id=Article.make_id(title, text), key=f"{article.key}#part-{k}",
                             title=title, text=text))
    return parts


def clean_body(text: str) -> str:
    """Paragraphs cleaned (see `clean_paragraph`) and joined with newlines; empty ones dropped."""
    return "\n".join(p for p in (clean_paragraph(line) for line in text.split("\n")) if p)


def _from_record(raw: RawDoc) -> Article | None:
    text = clean_body(raw.text)
    title = clean_paragraph(raw.title or "")
    if not title:
        found, text = split_glued_headline(text)
        title = found or ""
    if not text:
        return None
    path = _RECORD_LINE.sub("", raw.source)
    title = title or derive_title(text)
    return Article(
        id=Article.make_id(title, text),
        key=raw.external_id or raw.source,
        title=title,
        text=text,
        source=path,
        published=raw.published,
        source_name=raw.source_name,
        reporters=lead_reporters(text),
    )


def _skip_source(raw: RawDoc) -> str:
    """Where a skipped RawDoc came from: the file, or "file.jsonl:LINE" for a record."""
    return _RECORD_LINE.sub(r":\1", raw.source) if raw.structured else raw.source
