"""Character bigrams: the one way text is compared by overlap throughout the product.

Chinese has no spaces, so two texts share content when they share adjacent character
pairs. Bigrams never span a gap: they are taken inside runs of the characters that
count (word characters by default), so punctuation and spaces split them.
"""

from __future__ import annotations

import re

WORD_RUNS = re.compile(r"\w+")
# Words that ask rather than say; bigrams across them would match nothing in an answer.
_ASKING = re.compile(
    r"请问|是不是|有没有|是否|为什么|为何|怎么样|怎么|怎样|如何|什么|多少|哪些|哪个|哪里|哪儿|哪|谁|几|吗|呢"
)


def char_bigrams(text: str, runs: re.Pattern[str] = WORD_RUNS, singles: bool = False) -> frozenset[str]:
    """The bigrams inside each match of `runs` in `text`; with `singles`, a run of one
    character counts as itself (so "5" in "第5届" is not lost)."""
    grams: set[str] = set()
    for run in runs.findall(text):
        if singles and len(run) == 1:
            grams.add(run)
        grams.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(grams)


def without_question_words(text: str) -> str:
    """`text` with the words that ask (多少, 哪, 吗 …) blanked out."""
    return _ASKING.sub(" ", text)


def content_bigrams(text: str) -> frozenset[str]:
    """Bigrams of `text` that carry content: lower-cased, none spanning punctuation or a
    question word."""
    return char_bigrams(without_question_words(text.lower()))
