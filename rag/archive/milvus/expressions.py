"""What is written in Milvus's own languages: filter expressions and their literals, and
our BM25 tokens as the text Milvus's standard analyzer reads back as exactly these tokens."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.archive.base import Filters

_ESCAPED = re.compile(r"X([0-9A-F]+)X")


def quote(value: str) -> str:
    """A Milvus string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def like_literal(value: str) -> str:
    """`value` inside a Milvus `like` pattern, its % and _ characters, not wildcards."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_expression(filters: Filters) -> str:
    """Date and source filters as a Milvus boolean expression ("" for none).

    Dates compare as ISO strings; `until` takes in the whole day (a time after the date
    sorts before "~"). A source matches a part of the file path, or the publication name.
    """
    parts = []
    if filters.since:
        parts.append(f"published >= {quote(filters.since)}")
    if filters.until:
        parts.append(f'published < {quote(filters.until + "~")} and published != ""')
    if filters.sources:
        names = []
        for s in filters.sources:
            names.append(f"source like {quote('%' + like_literal(s) + '%')} or source_name == {quote(s)}")
        parts.append("(" + " or ".join(names) + ")")
    return " and ".join(parts)


def lexical_text(tokens: Sequence[str]) -> str:
    """Tokens as one string that Milvus's standard analyzer splits back into exactly these
    tokens: any character that is not a letter or digit (as in 85% or 3.5) is spelled as
    capital letters and hex digits (tokens are lower case, so this reads back unambiguously),
    no analyzer cuts a token, and tokens are separated by spaces."""
    out = []
    for token in tokens:
        if token.isalnum():
            out.append(token)
        elif token.strip():
            out.append("".join(c if c.isalnum() else f"X{ord(c):X}X" for c in token))
    return " ".join(out)


def tokens_back(text: str) -> list[str]:
    """The tokens `lexical_text` wrote (its escapes undone)."""
    return [_ESCAPED.sub(lambda m: chr(int(m[1], 16)), t) for t in text.split(" ") if t]
