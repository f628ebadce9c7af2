"""ask(): retrieve → prompt → draft → verify → gate → Answer, or a refusal.

The pipeline, in order:

1. Retrieval; when no passage is close enough to the question (`min_score`), refuse
   before any generation.
2. Evidence: the few sentences that answer best, shown at once (`evidence`). From here
   on the passages are numbered in the prompt's order (`in_prompt_order`): by rank,
   unless the question is about the articles of the last prompt, whose start the
   prompt then keeps, so that the model's cache reads it only once.
3. The model drafts a cited answer from the passages; with `confidence` it is then asked
   whether the passages answer the question at all (its P(是), the KV cache making it
   cost only the question's suffix).
4. Verification keeps each draft sentence whose numbers, dates and names a cited passage
   states (re-attached to the passage that does when the model cited the wrong one); a
   figure read from the wrong item of a list, or at the wrong stage (done for planned),
   is replaced by the one its source sentence says of what was asked; a title from a
   list gives way to the one said of what was asked; a bare figure also cites the
   passage that says it of the question.
   A refused draft, or one with no supported sentence, becomes the best evidence
   sentence, quoted.
5. The answer gate (`gate`) scores that candidate and alone decides: show it, or refuse.
6. A newer report of the same figure leads the answer, with the older one kept.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from rag.answer import gate as gates
from rag.answer import prompts
from rag.answer import verify as cite
from rag.answer.citations import is_refusal, with_markers
from rag.answer.evidence import DEFAULT_BUDGET, select_evidence
from rag.answer.question import Anchors, looks_like_follow_up, question_anchors
from rag.generate import ContextOverflowError, Generator, Message, writes
from rag.results import REFUSAL, Answer, AnswerSentence, Citation, Evidence, Verdict
from rag.text.bigrams import content_bigrams
from rag.text.chunking import split_sentences
from rag.text.dates import resolve_range
from rag.text.measures import measure_label, same_label, same_measure
from rag.text.quantities import Quantity, find_quantities, same_quantity
from rag.types import Hit, Search, evidence_text

OnToken = Callable[[str], None]
OnEvidence = Callable[[tuple[Evidence, ...]], None]
DEFAULT_RISK = 0.4
DEFAULT_QUOTE_RISK = 0.25

__all__ = ["ask", "covers", "looks_like_follow_up", "newer_report", "rewrite"]


def rewrite(
    question: str, history: Sequence[tuple[str, str]], generator: Generator | None,
    max_tokens: int = 64,
) -> str:
    """A standalone version of a follow-up question, using the conversation so far.

    The model's rewrite is used only if it looks like a question of sensible length;
    otherwise (or without a model) the previous question is prepended, which is what
    retrieval needs.
    """
    previous = [text for role, text in history if role == "user"]
    if not previous or not looks_like_follow_up(question):
        return question
    fallback = f"{previous[-1].rstrip('？?。 ')}，{question}"
    if not writes(generator):
        return fallback
    messages = [Message(r, c) for r, c in prompts.rewrite_messages(question, history)]
    # Aside, where the backend can: its cache keeps the last answer's prompt for this one.
    aside = getattr(generator, "aside", None)
    try:
        said = aside(messages, max_tokens=max_tokens) if aside else generator.generate(messages, max_tokens=max_tokens)
    except ContextOverflowError:  # a conversation too long to read: the plain fallback
        return fallback
    text = said.strip().splitlines()
    candidate = text[0].strip(" “”\"") if text else ""
    if 4 <= len(candidate) <= 80 and "[" not in candidate and not is_refusal(candidate):
        return candidate
    return fallback


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
class _Kept:
    text: str
    citations: tuple[int, ...]


_TITLE = re.compile(r"《([^》]{2,40})》")
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
            titles = tuple(_TITLE.findall(sentence))
            if titles:
                rest = _TITLE.sub("，", sentence)
                out.append((len(wanted & content_bigrams(rest)) / len(wanted), titles, n))
    return out


def _title_answer(question: str, hits: Sequence[Hit], answer: str,
                  min_overlap: float = 0.5, margin: float = 0.2) -> _Kept | None:
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
    given = set(_TITLE.findall(answer))
    if title in given:
        return None
    floor = max((o for o, t, _ in sentences if given & set(t)), default=0.0)
    if overlap < floor + margin:
        return None
    return _Kept(f"《{title}》。", (n,))


def _focus(question: str, kept: _Kept, hits: Sequence[Hit]) -> _Kept:
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
              and cite.check_support(kept.text, _verification_text(hits[n - 1])).supported]
    if not others:
        return kept
    best = max(others, key=lambda n: (closeness(n), -n))
    if closeness(best) >= cited + 0.2:
        return _Kept(kept.text, (best, *kept.citations))
    return kept


@dataclass
class LastPrompt:
    """The passages of the last answer prompt, in their order: the model's cache holds
    that prompt (see `in_prompt_order`)."""

    hits: tuple[Hit, ...] = ()


# Passages an answer prompt may show, at most, beyond those retrieved for its question:
# the last prompt's, kept so that its start is read from the cache.
KEPT_EXTRA = 3


def in_prompt_order(
    hits: Sequence[Hit], evidence: Sequence[Evidence], last: Sequence[Hit] = (),
    extra: int = KEPT_EXTRA,
) -> tuple[list[Hit], tuple[Evidence, ...]]:
    """The passages the prompt shows, in order, and the evidence renumbered to match.

    The model's cache holds the last prompt; a prompt that starts the same way is read
    from there up to where the two part. So when at least two of the passages retrieved
    now were in the last prompt (a follow-up, or the next question of a topic), the
    prompt starts with as much of the last one as it can, unchanged, up to `extra`
    passages more than were retrieved now; the retrieved passages it lacks follow, by
    rank. A passage kept only for its place carries no retrieval scores (they were for
    another question). Otherwise the passages are in rank order, best first: a small
    model reads the first passage most closely (ordered by article instead, dev accuracy
    fell by 2 to 2.5 points)."""
    retrieved = {h.passage.id for h in hits}
    order = list(hits)
    if sum(h.passage.id in retrieved for h in last) >= 2:
        for k in range(len(last), 0, -1):
            head = [h if h.passage.id in retrieved else replace(h, dense_score=None, bm25_score=None,
                                                                  dense_rank=None, bm25_rank=None)
                    for h in last[:k]]
            shown = {h.passage.id for h in head}
            tail = [h for h in hits if h.passage.id not in shown]
            if len(head) + len(tail) <= len(hits) + extra:
                order = head + tail
                break
    number = {h.passage.id: n for n, h in enumerate(order, start=1)}
    renumbered = sorted((replace(e, n=number[hits[e.n - 1].passage.id]) for e in evidence),
                        key=lambda e: (e.n, e.start))
    return order, tuple(renumbered)


def covers(hits: Sequence[Hit], min_score: float) -> bool:
    """Whether retrieval found the archive speaking to the question: some hit, and the
    best dense cosine (where there is one) at `min_score` or above."""
    best = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
    return bool(hits) and (best is None or best >= min_score)


def _verification_text(hit: Hit) -> str:
    # Titles and dates are facts a sentence may state ("3月12日报道…").
    return evidence_text(hit.title, hit.published, hit.passage.text)


def _candidates(
    question: str, draft: str, hits: Sequence[Hit], evidence: Sequence[Evidence],
) -> tuple[list[gates.Candidate], tuple[AnswerSentence, ...], bool, float]:
    """(what could be shown: the draft's supported sentences, then the best evidence
    sentence quoted; the draft's checked sentences; whether the model refused; the share
    of its sentences supported)."""
    refused = not draft or is_refusal(draft)
    sentences: tuple[AnswerSentence, ...] = ()
    kept: list[tuple[str, tuple[int, ...]]] = []
    if not refused:
        verified = cite.verify(draft, [_verification_text(h) for h in hits], given=question)
        for s in verified.sentences:
            if s.refusal:
                continue
            supported = s.supported and bool(s.citations)
            text = s.text
            citations = tuple(s.citations)
            if supported:  # a figure from the wrong item of a list, or at the wrong stage
                text = staged(question, listed(question, text, citations, hits), citations, hits)
                citations = _focus(question, _Kept(text, citations), hits).citations
                kept.append((text, citations))
            sentences += (AnswerSentence(text, citations, supported,
                                         s.reattached or text != s.text or citations != tuple(s.citations)),)
        refused = not sentences
    said = "".join(text for text, _ in kept)
    if len(kept) == 1 and len(_TITLE.findall(said)) == 1:
        # the answer names one title: the one said of what the question asks, if another is
        closer = _title_answer(question, hits, said)
        if closer is not None:
            kept = [(closer.text, closer.citations)]
            sentences = (AnswerSentence(closer.text, closer.citations, True, True),)
    share = len(kept) / len(sentences) if sentences else 0.0
    out = [gates.Candidate(tuple(kept), False)] if kept else []
    quoted = gates.quote(evidence)
    if quoted is not None:
        out.append(quoted)
    return out, sentences, refused, share


def ask(
    question: str,
    search: Search,
    generator: Generator,
    *,
    history: Sequence[tuple[str, str]] = (),
    as_of: dt.date | None = None,
    min_score: float = 0.0,
    max_tokens: int = 256,
    on_token: OnToken | None = None,
    on_evidence: OnEvidence | None = None,
    evidence_budget: int = DEFAULT_BUDGET,
    prompt_chars: int = 0,
    confidence: bool = True,
    risk: float = DEFAULT_RISK,
    quote_risk: float = DEFAULT_QUOTE_RISK,
    gate: gates.Gate | None = None,
    cosine: gates.Embed | None = None,
    dense_scores: bool = True,
    last: LastPrompt | None = None,
) -> Answer:
    """Answer `question` from the archive; see the module docstring for the pipeline.

    `search(query, since, until)` returns ranked hits; `min_score` is the dense cosine
    the best hit must reach, below which the archive is taken not to cover the question.
    `on_evidence` receives the selected evidence sentences before the model is asked,
    `on_token` the model's draft as it is written. `confidence` asks a generator that can
    say how likely its reply starts with a word whether the passages answer the question
    (`Answer.confidence`). `risk` is the error rate among answered questions the gate
    aims at (`quote_risk` for a quoted evidence sentence); `cosine(question, sentences)` gives the gate the embedding model's view, and
    `dense_scores` says whether the hits' dense scores are on the scale it was fitted on.
    `last` is the generator's last answer prompt, read to order the passages and updated.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    counts = getattr(generator, "prefill_counts", None)  # tokens the model read, from its cache or not
    before = counts() if counts is not None else None
    standalone = rewrite(question, history, generator)
    span = resolve_range(standalone, as_of) if as_of else None
    since, until = span if span else (None, None)
    hits = search(standalone, since, until)
    timings["retrieve_s"] = time.perf_counter() - started

    evidence: tuple[Evidence, ...] = ()
    score: float | None = None  # the model's P(是) that the passages answer, if asked
    verdict: Verdict | None = None

    ranked = hits

    def refuse(draft: str = "") -> Answer:
        timings["total_s"] = time.perf_counter() - started
        closest = tuple(Citation.of(n, h) for n, h in enumerate(ranked[:3], start=1))
        return Answer(question, standalone, REFUSAL, True, (), closest, draft,
                      since, until, timings, evidence, score, verdict)

    if not covers(hits, min_score):
        return refuse()
    hits, evidence = in_prompt_order(hits, select_evidence(standalone, hits, evidence_budget),
                                      last.hits if last is not None else ())
    timings["evidence_s"] = time.perf_counter() - started
    if on_evidence:
        on_evidence(evidence)

    shown = None
    if prompt_chars:
        shown = evidence if prompt_chars == evidence_budget else in_prompt_order(
            ranked, select_evidence(standalone, ranked, prompt_chars), last.hits if last is not None else ())[1]
    messages = [Message(r, c) for r, c in prompts.answer_messages(standalone, hits, shown)]
    if last is not None:
        last.hits = tuple(hits)
    parts: list[str] = []
    for delta in generator.stream(messages, max_tokens=max_tokens):
        if not parts:
            timings["first_token_s"] = time.perf_counter() - started
        parts.append(delta)
        if on_token:
            on_token(delta)
    draft = "".join(parts).strip()
    probability = getattr(generator, "choice_probabilities", None) if confidence else None
    if probability is not None:
        asked = time.perf_counter()
        probe = [Message(r, c) for r, c in prompts.answerable_messages([(m.role, m.content) for m in messages])]
        score = probability(probe, prompts.ANSWERABLE_CHOICES)[0]
        timings["confidence_s"] = time.perf_counter() - asked
    after = counts() if counts is not None and before is not None else None
    if before is not None and after is not None:
        timings["prompt_tokens"] = float(after[0] - before[0])
        timings["reused_tokens"] = float(after[1] - before[1])

    gated = time.perf_counter()
    candidates, sentences, refused, share = _candidates(standalone, draft, hits, evidence)
    if not candidates:
        return refuse(draft)
    xs = gates.score(standalone, candidates, hits, evidence, refused=refused,
                     supported_share=share, p_yes=score, cosine=cosine, dense=dense_scores)
    verdict = gates.decide(gate or gates.load(), list(zip(candidates, xs, strict=True)),
                           risk, score is not None, quote_risk)
    timings["gate_s"] = time.perf_counter() - gated
    chosen = verdict.chosen
    if chosen is None:
        return refuse(draft)
    candidate = candidates[verdict.candidates.index(chosen)]
    final = list(candidate.sentences)
    if candidate.quoted:
        sentences = tuple(AnswerSentence(t, c, True, True) for t, c in final)
    newer = newer_report(standalone, final, hits)
    if newer is not None:  # the model took an older report's figure: lead with the newest
        sentence, n, replaced = newer
        lead = (f"据{(hits[n - 1].published or '')[:10]}的报道，{sentence}", (n,))
        final = [lead] + [
            (f"（此前{(hits[c[0] - 1].published or '')[:10]}的报道为：{t.rstrip('。')}。）", c)
            if t in replaced else (t, c)
            for t, c in final
        ]
        sentences = (AnswerSentence(lead[0], lead[1], True, True),) + sentences
    cited = sorted({n for _, c in final for n in c})
    timings["total_s"] = time.perf_counter() - started
    text = "".join(with_markers(t, c) for t, c in final)
    return Answer(
        question, standalone, text, False, sentences,
        tuple(Citation.of(n, hits[n - 1]) for n in cited), draft, since, until, timings,
        evidence, score, verdict,
    )
