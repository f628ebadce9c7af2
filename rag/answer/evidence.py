"""Evidence selection: the few sentences of the retrieved passages that answer a question.

Retrieval returns passages of about 240 characters; the answer is usually one sentence
in them. Each sentence of the top passages is scored against the question by BM25 over
jieba tokens (statistics from the candidate sentences themselves), the share of the
question's content bigrams it holds, whether it states what the question pins down
(its numbers, dates and quoted names) and the kind of fact asked for (a figure for
多少/几, a date for 何时), with a small prior for the passage's rank. The best sentences,
with the sentence before the best one for its context, are kept up to a character
budget, in reading order. Every sentence keeps its offsets in its article.

This takes milliseconds and no model, so the evidence can be shown at once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.question import ASKS_DATE, ASKS_FIGURE, question_anchors
from rag.answer.verify import states_anchors
from rag.results import Evidence
from rag.text.bigrams import content_bigrams, without_question_words
from rag.text.chunking import split_sentences
from rag.text.instructions import addresses_assistant
from rag.text.quantities import find_quantities
from rag.text.words import tokenize
from rag.types import Hit

DEFAULT_BUDGET = 360  # characters; about 250 tokens of the bundled model's tokenizer
# A sentence scoring under this share of the best one is not worth its tokens.
MIN_SHARE_OF_BEST = 0.2

_K1, _B = 1.2, 0.75


@dataclass(frozen=True)
class _Candidate:
    n: int  # the passage's number, [n]
    hit: Hit
    start: int  # in the passage
    end: int
    text: str


def _candidates(hits: Sequence[Hit]) -> list[_Candidate]:
    """The sentences of the hits, each once (neighbouring windows of one article
    overlap), but none that gives orders to the assistant."""
    seen: set[tuple[str, int]] = set()
    out = []
    for n, hit in enumerate(hits, start=1):
        p = hit.passage
        for start, end in split_sentences(p.text):
            key = (p.article_id, p.start + start)
            if key not in seen and not addresses_assistant(p.text[start:end]):
                seen.add(key)
                out.append(_Candidate(n, hit, start, end, p.text[start:end]))
    return out


def _bm25(query: Sequence[str], docs: Sequence[Sequence[str]]) -> list[float]:
    if not docs:
        return []
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(doc))
    n = len(docs)
    avg = sum(len(d) for d in docs) / n or 1.0
    scores = []
    for doc in docs:
        tf = Counter(doc)
        score = 0.0
        for term in query:
            if tf[term]:
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                score += idf * tf[term] * (_K1 + 1) / (tf[term] + _K1 * (1 - _B + _B * len(doc) / avg))
        scores.append(score)
    return scores


def _fact_kind_bonus(question: str, sentence: str) -> float:
    bonus = 0.0
    if ASKS_FIGURE.search(question) and any(q.kind != "date" for q in find_quantities(sentence)):
        bonus += 0.2
    if ASKS_DATE.search(question) and any(q.kind == "date" for q in find_quantities(sentence)):
        bonus += 0.2
    return bonus


def select_evidence(question: str, hits: Sequence[Hit], budget: int = DEFAULT_BUDGET) -> tuple[Evidence, ...]:
    """The sentences of `hits` that best answer `question`, at most `budget` characters
    (the best one always), in the order of their passages and then of their text."""
    candidates = _candidates(hits)
    if not candidates or not question.strip():
        return ()
    terms = list(dict.fromkeys(tokenize(without_question_words(question))))
    lexical = _bm25(terms, [tokenize(c.text) for c in candidates])
    top = max(lexical) or 1.0
    wanted = content_bigrams(question)
    anchors = question_anchors(question)
    scores = []
    for c, bm25 in zip(candidates, lexical, strict=True):
        share = len(wanted & content_bigrams(c.text)) / len(wanted) if wanted else 0.0
        score = 0.5 * bm25 / top + 0.5 * share + _fact_kind_bonus(question, c.text)
        if anchors and states_anchors(anchors, c.text):
            score += 0.3
        scores.append(score + 0.1 / c.n)
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    floor = MIN_SHARE_OF_BEST * scores[order[0]]
    chosen: list[int] = []
    used = 0
    for rank, i in enumerate(order):
        if rank and scores[i] < floor:
            break
        picks = [i]
        if rank == 0:  # the best sentence with the one before it, when that fits
            before = i - 1
            if (before >= 0 and candidates[before].hit is candidates[i].hit
                    and used + len(candidates[i].text) + len(candidates[before].text) <= budget):
                picks = [before, i]
        for j in picks:
            if j in chosen:
                continue
            size = len(candidates[j].text)
            if chosen and used + size > budget:
                continue
            chosen.append(j)
            used += size
        if used >= budget:
            break
    ranked = {j: scores[j] for j in chosen}
    out = []
    for j in sorted(chosen, key=lambda j: (candidates[j].n, candidates[j].start)):
        c = candidates[j]
        p = c.hit.passage
        out.append(Evidence(c.n, p.article_id, c.hit.title, c.hit.published, c.text,
                            p.start + c.start, p.start + c.end, ranked[j]))
    return tuple(out)
