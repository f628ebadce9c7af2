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
from pathlib import Path

from rag.ingest.clean import clean_paragraph
from rag.ingest.lines import lead_reporters, split_glued_headline
from rag.ingest.readers import iter_raw
from rag.ingest.segment import Segment, derive_title, segment_page
from rag.types import Article, RawDoc, Skipped

__all__ = ["Segment", "articles_from_raw", "iter_raw", "load_articles", "segment_page"]

_RECORD_LINE = re.compile(r"#(\d+)$")


def load_articles(paths: Iterable[str | Path]) -> Iterator[Article | Skipped]:
    """Read `paths` (files or folders) and yield their articles, or why a file was skipped."""
    for item in iter_raw(paths):
        if isinstance(item, Skipped):
            yield item
            continue
        articles = articles_from_raw(item)
        if articles:
            yield from articles
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
