"""Chinese words: jieba, set up once for the whole process, and the search tokens."""

from __future__ import annotations

import functools
import logging
import re

_KEEP = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)


@functools.cache
def ready_jieba():  # type: ignore[no-untyped-def]
    """jieba, its dictionary loaded once per process (the first call takes about a second)."""
    import jieba as module

    # jieba prints its dictionary-loading chatter through logging at INFO.
    module.setLogLevel(logging.WARNING)
    module.initialize()
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
