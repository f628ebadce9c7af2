"""Citation markers: the one syntax (`[n]`) models write and the one parser that reads it,
and the wording of a refusal.

Passages are numbered `[1]..[n]` in the prompt; `parse_citations` splits a draft into
sentences with the numbers they cite, keeping only numbers that resolve to a passage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text.normalize import normalize

# ---------------------------------------------------------------- markers

# The one marker syntax: [1], [1,2], [1, 2], [1-3], ［1］, 【1】, and the labels small
# models like to add inside the brackets ([资料1], [passage 2]).
_MARKER = re.compile(
    r"[\[［【]\s*(?:资料|来源|段落|文档|文章|参考|passage|source|doc|ref)?\s*"
    r"(\d+(?:\s*[-–—~～－,，、]\s*\d+)*)\s*[\]］】]",
    re.IGNORECASE,
)
# Markers in a row, with whatever models put between them: [1][2], [1]、[2].
_MARKER_RUN = re.compile(
    rf"(?:{_MARKER.pattern})(?:[ \t\u3000、,，]*(?:{_MARKER.pattern}))*", re.IGNORECASE
)
_TRAILING_RUN = re.compile(rf"[ \t\u3000]*(?:{_MARKER_RUN.pattern})", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’」』）)\"'》]*|\n")
# Closing punctuation a marker goes before: 。 or 。” but not a bare closing bracket (f（n）[2]).
_TAIL = re.compile(r"(?:[。！？；!?;.,，、]+[”’」』）)\"'》]*|[。！？；!?;.,，、]*)$")
_ITEM_SPLIT = re.compile(r"\s*[,，、]\s*")
_RANGE = re.compile(r"(\d+)\s*[-–—~～－]\s*(\d+)")
_HAS_WORD = re.compile(r"[\w\u3400-\u9fff]")
_MAX_RANGE = 50


@dataclass(frozen=True)
class Sentence:
    """One answer sentence: its text without markers, the passages it cites (1-based,
    each within 1..n_passages, in order of first mention), the marker items that did not
    resolve, and its (start, end) in the answer, markers included."""

    text: str
    citations: tuple[int, ...]
    dropped: tuple[str, ...] = ()
    span: tuple[int, int] = (0, 0)


def _resolve(inner: str, n_passages: int, cited: list[int], dropped: list[str]) -> None:
    for item in _ITEM_SPLIT.split(inner.strip()):
        m = _RANGE.fullmatch(item)
        if m:
            lo, hi = int(m[1]), int(m[2])
            if lo > hi or hi - lo > _MAX_RANGE:
                dropped.append(item)
                continue
            numbers = list(range(lo, hi + 1))
        else:
            numbers = [int(item)]
        for n in numbers:
            if 1 <= n <= n_passages:
                if n not in cited:
                    cited.append(n)
            else:
                dropped.append(str(n))


def parse_citations(text: str, n_passages: int) -> list[Sentence]:
    """Split an answer into sentences and read their citation markers.

    Sentences end at 。！？；!?; and line breaks. A marker belongs to the sentence it
    stands in (`……[1]。`) or that it directly follows (`……。[1]`); a line of markers alone
    belongs to the sentence before it. Markers that do not resolve to 1..n_passages are
    reported in `dropped`.
    """
    segments: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() < pos:
            continue
        end = m.end()
        trailing = _TRAILING_RUN.match(text, end)
        if trailing:
            end = trailing.end()
        segments.append((pos, end))
        pos = end
    segments.append((pos, len(text)))

    sentences: list[Sentence] = []
    carry: list[int] = []
    carry_dropped: list[str] = []
    for start, end in segments:
        raw = text[start:end]
        cited: list[int] = list(carry)
        dropped: list[str] = list(carry_dropped)
        for m in _MARKER.finditer(raw):
            _resolve(m[1], n_passages, cited, dropped)
        body = _MARKER_RUN.sub("", raw)
        body = re.sub(r"[ \t\u3000]+(?=[。！？；!?;，,]|$)", "", body).strip()
        if not _HAS_WORD.search(body):
            if not (cited or dropped):
                continue
            if sentences:  # a marker line of its own cites the sentence before it
                prev = sentences[-1]
                merged = list(prev.citations) + [c for c in cited if c not in prev.citations]
                sentences[-1] = Sentence(
                    prev.text, tuple(merged), prev.dropped + tuple(dropped), (prev.span[0], end)
                )
            else:
                carry, carry_dropped = cited, dropped
            continue
        carry, carry_dropped = [], []
        lead = len(raw) - len(raw.lstrip())
        tail = len(raw) - len(raw.rstrip())
        sentences.append(Sentence(body, tuple(cited), tuple(dropped), (start + lead, end - tail)))
    return sentences


# ---------------------------------------------------------------- refusals

_REFUSAL = re.compile(
    r"(?:资料|材料|文档|文章|上下文|参考|所给|提供的内容|已知信息|检索结果|段落)"
    r"(?:中|里|内|里面|当中)?(?:并|均|都|也)?(?:没有|未|无|不包含|不涉及)"
    r"|(?:没有|缺乏|未能?找到|找不到|暂无)(?:找到)?(?:任何)?相关(?:的)?(?:信息|内容|资料|报道|数据)"
    r"|没有(?:关于|有关)[^。！？\n]{0,20}?(?:信息|内容|资料|报道|数据|记载|说明)"
    r"|(?:文中|原文|上文)并?(?:没有|未)(?:提及|提到|涉及|说明)"
    r"|无法(?:回答|根据|从|依据)"
    r"|抱歉|对不起|no (?:relevant )?information|(?:does|do|did)(?: not|n'?t) (?:mention|say|state)"
    r"|not (?:mentioned|provided|stated) in|i don'?t know",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """Whether `text` says the sources do not answer (资料中没有相关信息, 无法回答, ...)."""
    return _REFUSAL.search(normalize(text)) is not None


def with_markers(text: str, citations: Sequence[int]) -> str:
    """`text` with `[n]` markers placed before its closing punctuation."""
    tail = _TAIL.search(text)
    cut = tail.start() if tail else len(text)
    return text[:cut] + "".join(f"[{i}]" for i in citations) + text[cut:]
