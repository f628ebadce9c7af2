"""Amendments to a verified draft, each put right from the passages it cites.

A figure read from the wrong item of a list (`listed`) or at the wrong stage, done for
planned (`staged`), is replaced by the one its source sentence says of what was asked; a
title from a list gives way to the one said of what was asked (`title_answer`); a bare
figure also cites first the passage that says it of the question (`focus`); and a newer
report of the same figure is found (`newer_report`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rag.answer import verify as cite
from rag.answer.question import Anchors, question_anchors
from rag.text.bigrams import content_bigrams
from rag.text.chunking import split_sentences
from rag.text.measures import measure_label, same_label, same_measure
from rag.text.quantities import Quantity, find_quantities, same_quantity
from rag.types import Hit, evidence_text


def verification_text(hit: Hit) -> str:
    # Titles and dates are facts a sentence may state ("3月12日报道…").
    return evidence_text(hit.title, hit.published, hit.passage.text)


def newer_report(
    question: str, kept: Sequence[tuple[str, tuple[int, ...]]], hits: Sequence[Hit],
) -> tuple[str, int, set[str]] | None:
    """A newer passage's sentence giving a different figure for what the answer states.

    The answer's figures come from its cited passages; if a hit published later has a
    sentence with a figure of the same kind, unit and name (总投资 is not 完成投资) but
    another value, about the question at least as closely as the answer's own wording,
    the archive has a newer report. Returns (that sentence, its hit number, the answer
    sentences it supersedes).
    """
    wanted = content_bigrams(question)
    if not wanted:
        return None
    best: tuple[float, str, int, set[str]] | None = None
    for text, citations in kept:
        stated = [q for q in find_quantities(text) if q.kind != "date" and q.value is not None]
        if not stated or not citations:
            continue
        dates = [hits[n - 1].published or "" for n in citations]
        oldest = min(dates)
        floor = len(wanted & content_bigrams(text)) / len(wanted)
        for n, hit in enumerate(hits, start=1):
            if not hit.published or not oldest or hit.published[:10] <= oldest[:10]:
                continue
            body = hit.passage.text
            for start, end in split_sentences(body):
                sentence = body[start:end]
                figures = [q for q in find_quantities(sentence) if q.kind != "date" and q.value is not None]
                if not any(same_measure(f, q) and not same_quantity(f, q)
                           and same_label(measure_label(sentence, f), measure_label(text, q))
                           for f in figures for q in stated):
                    continue
                if any(same_quantity(f, q) for f in figures for q in stated):
                    continue  # the same figure again: not a newer one
                overlap = len(wanted & content_bigrams(sentence)) / len(wanted)
                if overlap >= max(0.3, floor - 0.1) and (best is None or overlap > best[0]):
                    best = (overlap, sentence, n, {text})
    return None if best is None else (best[1], best[2], best[3])


_CLAUSE_END = re.compile(r"[，,；;：:]")


def _clauses(sentence: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _CLAUSE_END.finditer(sentence):
        spans.append((start, m.end()))
        start = m.end()
    if start < len(sentence):
        spans.append((start, len(sentence)))
    return spans


def _figure_windows(sentence: str) -> list[tuple[Quantity, str]]:
    """Each figure of a sentence with its clause and the clause before it: the words a
    list like 建成9座智能化煤矿，54个工作面，4座煤矿实现5G入井 ties to each number."""
    clauses = _clauses(sentence)
    out = []
    for q in find_quantities(sentence):
        i = next((k for k, (a, b) in enumerate(clauses) if a <= q.start < b), 0)
        out.append((q, sentence[clauses[max(0, i - 1)][0] : clauses[i][1]]))
    return out


def _sources_of(figure: Quantity, citations: Sequence[int], hits: Sequence[Hit]) -> Iterator[tuple[str, str]]:
    """(context, sentence) for each sentence of the cited passages stating `figure`; the
    context is the article's title and date and the sentence before."""
    for n in citations:
        hit = hits[n - 1]
        body = hit.passage.text
        spans = split_sentences(body)
        for i, (start, end) in enumerate(spans):
            sentence = body[start:end]
            if cite.states_quantity(figure, sentence):
                before = body[spans[i - 1][0] : spans[i - 1][1]] if i else ""
                yield evidence_text(hit.title, hit.published, before), sentence


def _list_item(figure: Quantity, sentence: str, anchors: Anchors) -> str | None:
    """The figure of `sentence` said of the anchors, to put in place of `figure` when
    `figure`'s own clause lacks them and exactly one other figure of its measure has them."""
    windows = _figure_windows(sentence)
    if any(same_quantity(q, figure) and cite.states_anchors(anchors, w) for q, w in windows):
        return None
    others = {q.text for q, w in windows
              if same_measure(q, figure) and not same_quantity(q, figure) and cite.states_anchors(anchors, w)}
    return others.pop() if len(others) == 1 else None


# The stage a figure is at: planned (计划新建186公里) or done (已有142公里完工). Words of
# both, or neither, leave the stage open.
_PLANNED = re.compile(r"计划|规划|拟|预计|目标|力争|设计")
_DONE = re.compile(r"已|完成|完工|建成|竣工|累计|实际")


def _stage(text: str) -> str | None:
    planned, done = bool(_PLANNED.search(text)), bool(_DONE.search(text))
    return "planned" if planned and not done else "done" if done and not planned else None


def staged(question: str, text: str, citations: Sequence[int], hits: Sequence[Hit]) -> str:
    """`text` with each figure at the stage the question asks for.

    When the question asks for what was planned (计划新建和改造多少公里) or what is done
    (已完工多少公里), a figure whose own clause in its source sentence says the other
    stage answers another question: in 计划新建和改造的186公里污水管网中，已有142公里完工,
    142公里 is done and 186公里 planned. The one figure of the same measure in that
    sentence at the asked stage is put in its place. Figures whose clause names no
    stage, or both, or with no single figure at the asked stage, are left as they are
    (the gate judges them).
    """
    wanted = _stage(question)
    if wanted is None:
        return text
    asked = find_quantities(question)
    result = text
    for figure in find_quantities(text):
        if figure.kind == "date" or any(same_quantity(figure, q) for q in asked):
            continue
        for _context, sentence in _sources_of(figure, citations, hits):
            clauses = _clauses(sentence)
            items = [(q, next(sentence[a:b] for a, b in clauses if a <= q.start < b))
                     for q in find_quantities(sentence)]
            if any(same_quantity(q, figure) and _stage(c) in (wanted, None) for q, c in items):
                break  # said at the asked stage, or at none
            others = {q.text for q, c in items
                      if same_measure(q, figure) and not same_quantity(q, figure) and _stage(c) == wanted}
            if len(others) == 1:
                result = result.replace(figure.text, others.pop(), 1)
            break
    return result


def listed(question: str, text: str, citations: Sequence[int], hits: Sequence[Hit]) -> str:
    """`text` with a figure the model read from the wrong item of a list put right.

    In 建成9座智能化煤矿，54个工作面，4座煤矿实现5G入井, asked how many mines have 5G, a
    model answers 9座. When the source sentence's clause holding the answer's figure lacks
    what the question pins down (`question.question_anchors`) and exactly one other figure
    of the same measure in that sentence has it, that figure is put in its place. Whether
    the sentence is about the question at all is the gate's feature `anchors_missed`.
    """
    anchors = question_anchors(question)
    if not anchors:
        return text
    asked = find_quantities(question)
    result = text
    for figure in find_quantities(text):
        if any(same_quantity(figure, q) for q in asked):
            continue
        fitting = [s for context, s in _sources_of(figure, citations, hits)
                   if cite.states_anchors(anchors, context + s)]
        item = _list_item(figure, fitting[0], anchors) if fitting else None
        if item is not None:
            result = result.replace(figure.text, item, 1)
    return result


@dataclass(frozen=True)
class Kept:
    """A sentence of the answer and the passages it cites."""

    text: str
    citations: tuple[int, ...]


TITLE = re.compile(r"《([^》]{2,40})》")
# The words that ask for a title, not what the title is of.
_TITLE_FRAME = re.compile(r"标题|题目|书名|篇名|剧名|曲名|名称|名字|是什么|叫什么|[的是]")


def _titled_sentences(question: str, hits: Sequence[Hit]) -> list[tuple[float, tuple[str, ...], int]]:
    """(share of the question's content bigrams, its 《…》 titles, hit number) for every
    passage sentence holding a title; the titles themselves are not counted."""
    wanted = content_bigrams(_TITLE_FRAME.sub(" ", question))
    out: list[tuple[float, tuple[str, ...], int]] = []
    if not wanted:
        return out
    for n, hit in enumerate(hits, start=1):
        body = hit.passage.text
        for start, end in split_sentences(body):
            sentence = body[start:end]
            titles = tuple(TITLE.findall(sentence))
            if titles:
                rest = TITLE.sub("，", sentence)
                out.append((len(wanted & content_bigrams(rest)) / len(wanted), titles, n))
    return out


def title_answer(question: str, hits: Sequence[Hit], answer: str,
                  min_overlap: float = 0.5, margin: float = 0.2) -> Kept | None:
    """The 《…》 of the passage sentence closest to the question, in place of the title
    `answer` quotes.

    Small models answer with the title of another item of a list (随后……快板说唱
    《凝心聚力向未来》 for the 开场 number). A sentence with exactly one title and at least
    `min_overlap` of the question's content bigrams is taken, if it is closer by `margin`
    than any sentence holding the answer's title.
    """
    sentences = _titled_sentences(question, hits)
    single = [(o, t[0], n) for o, t, n in sentences if len(t) == 1 and o >= min_overlap]
    if not single:
        return None
    overlap, title, n = max(single, key=lambda x: (x[0], -x[2]))
    given = set(TITLE.findall(answer))
    if title in given:
        return None
    floor = max((o for o, t, _ in sentences if given & set(t)), default=0.0)
    if overlap < floor + margin:
        return None
    return Kept(f"《{title}》。", (n,))


def focus(question: str, kept: Kept, hits: Sequence[Hit]) -> Kept:
    """Cite first the passage where the answer's figure is said about what was asked.

    A bare 17家 is supported by every passage that mentions 17家; the one whose sentence
    with it shares the most with the question is where the answer comes from. It is put
    in front of the model's citations when it says so clearly more closely.
    """
    figures = [q for q in find_quantities(kept.text) if q.kind != "date"]
    wanted = content_bigrams(question)
    if not figures or not wanted:
        return kept

    def closeness(n: int) -> float:
        body = hits[n - 1].passage.text
        return max((len(wanted & content_bigrams(body[a:b])) / len(wanted)
                    for a, b in split_sentences(body)
                    if all(cite.states_quantity(f, body[a:b]) for f in figures)), default=0.0)

    cited = max(closeness(n) for n in kept.citations)
    others = [n for n in range(1, len(hits) + 1) if n not in kept.citations
              and cite.check_support(kept.text, verification_text(hits[n - 1])).supported]
    if not others:
        return kept
    best = max(others, key=lambda n: (closeness(n), -n))
    if closeness(best) >= cited + 0.2:
        return Kept(kept.text, (best, *kept.citations))
    return kept
