"""Chinese sentence splitting and passage windows that keep character offsets.

A passage is always `article.text[start:end]`, so a citation can point at the exact
characters it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.types import Article, Passage

# A sentence ends at 。！？；… (or their ASCII forms, or a line break), followed by any
# closing quotes/brackets, which belong to the sentence they close.
_SENTENCE_END = re.compile(r"(?:[。！？；!?;]+|…+|\.{3,}|\n)[”’」』）)】〕》\"']*")
_SPACE = " \t\r\n\u3000"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans `(start, end)` of the sentences of `text`, without surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _add_span(text, start, match.end(), spans)
        start = match.end()
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start] in _SPACE:
        start += 1
    while end > start and text[end - 1] in _SPACE:
        end -= 1
    if end > start:
        spans.append((start, end))


def windows(text: str, size: int, overlap: int = 1) -> Iterator[tuple[int, int]]:
    """Greedy windows of whole sentences, at most `size` characters each.

    Neighbouring windows share `overlap` sentences. A sentence longer than `size` is cut
    into pieces of `size` characters (never dropped).
    """
    units: list[tuple[int, int]] = []
    for start, end in split_sentences(text):
        while end - start > size:
            units.append((start, start + size))
            start += size
        units.append((start, end))
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and units[j][1] - units[i][0] <= size:
            j += 1
        yield units[i][0], units[j - 1][1]
        if j >= len(units):
            break
        # Step back `overlap` sentences, but always make progress.
        i = max(i + 1, j - overlap)


def chunk_article(article: Article, size: int, overlap: int = 1) -> list[Passage]:
    """Passages of one article, in order."""
    return [
        Passage(
            id=Passage.make_id(article.id, start, end),
            article_id=article.id,
            ordinal=n,
            start=start,
            end=end,
            text=article.text[start:end],
        )
        for n, (start, end) in enumerate(windows(article.text, size, overlap))
    ]
