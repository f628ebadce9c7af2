"""ask(): retrieve → prompt → draft → verify → gate → Answer, or a refusal.

The pipeline, in order:

1. Retrieval; when no passage is close enough to the question (`min_score`), refuse
   before any generation.
2. Evidence: the few sentences that answer best, shown at once (`evidence`). From here
   on the passages are numbered in the prompt's order (`prompt_evidence`): by rank,
   unless the question is about the articles of the last prompt, whose start the
   prompt then keeps (all of it, and nothing more, when it holds the best evidence
   sentence), so that the model's cache reads it only once.
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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rag.answer import gate as gates
from rag.answer import prompts
from rag.answer import verify as cite
from rag.answer.amend import (
    TITLE,
    Kept,
    focus,
    listed,
    newer_report,
    staged,
    title_answer,
    verification_text,
)
from rag.answer.citations import is_refusal, with_markers
from rag.answer.evidence import DEFAULT_BUDGET, select_evidence
from rag.answer.question import looks_like_follow_up
from rag.generate import ContextOverflowError, Generator, Message, writes
from rag.results import REFUSAL, Answer, AnswerSentence, Citation, Evidence, Verdict
from rag.text.dates import resolve_range
from rag.types import Hit, Search

OnToken = Callable[[str], None]
OnEvidence = Callable[[tuple[Evidence, ...]], None]
DEFAULT_RISK = 0.4
DEFAULT_QUOTE_RISK = 0.25

__all__ = ["ask", "covers", "looks_like_follow_up", "rewrite"]


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


@dataclass
class LastPrompt:
    """The passages of the last answer prompt, in their order: the model's cache holds
    that prompt (see `prompt_evidence`)."""

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
            head = _kept(last[:k], hits)
            shown = {h.passage.id for h in head}
            tail = [h for h in hits if h.passage.id not in shown]
            if len(head) + len(tail) <= len(hits) + extra:
                order = head + tail
                break
    number = {h.passage.id: n for n, h in enumerate(order, start=1)}
    renumbered = sorted((replace(e, n=number[hits[e.n - 1].passage.id]) for e in evidence),
                        key=lambda e: (e.n, e.start))
    return order, tuple(renumbered)


def _kept(last: Sequence[Hit], hits: Sequence[Hit]) -> list[Hit]:
    """The last prompt's passages, with the scores of those retrieved again now; one kept
    only for its place carries none (they were for another question)."""
    now = {h.passage.id: h for h in hits}
    return [now.get(h.passage.id) or replace(h, dense_score=None, bm25_score=None, dense_rank=None, bm25_rank=None)
            for h in last]


def prompt_evidence(
    question: str, hits: Sequence[Hit], budget: int, last: Sequence[Hit] = (),
) -> tuple[list[Hit], tuple[Evidence, ...]]:
    """The passages the prompt shows, in order, and the evidence sentences numbered to
    match: `select_evidence` over the retrieved `hits`, laid out by `in_prompt_order`.

    When the best evidence sentence is in a passage of the last prompt (`last`), that
    prompt already holds what answers: it is shown again exactly as it was, and the
    evidence is chosen from it, so the model's cache reads all of it (a follow-up on the
    same story prefills only the question)."""
    evidence = select_evidence(question, hits, budget)
    if evidence and last:
        best = max(evidence, key=lambda e: e.score)
        if hits[best.n - 1].passage.id in {h.passage.id for h in last}:
            order = _kept(last, hits)
            return order, select_evidence(question, order, budget)
    return in_prompt_order(hits, evidence, last)


def covers(hits: Sequence[Hit], min_score: float) -> bool:
    """Whether retrieval found the archive speaking to the question: some hit, and the
    best dense cosine (where there is one) at `min_score` or above."""
    best = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
    return bool(hits) and (best is None or best >= min_score)


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
        verified = cite.verify(draft, [verification_text(h) for h in hits], given=question)
        for s in verified.sentences:
            if s.refusal:
                continue
            supported = s.supported and bool(s.citations)
            text = s.text
            citations = tuple(s.citations)
            if supported:  # a figure from the wrong item of a list, or at the wrong stage
                text = staged(question, listed(question, text, citations, hits), citations, hits)
                citations = focus(question, Kept(text, citations), hits).citations
                kept.append((text, citations))
            sentences += (AnswerSentence(text, citations, supported,
                                         s.reattached or text != s.text or citations != tuple(s.citations)),)
        refused = not sentences
    said = "".join(text for text, _ in kept)
    if len(kept) == 1 and len(TITLE.findall(said)) == 1:
        # the answer names one title: the one said of what the question asks, if another is
        closer = title_answer(question, hits, said)
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
    kept = last.hits if last is not None else ()
    hits, evidence = prompt_evidence(standalone, hits, evidence_budget, kept)
    timings["evidence_s"] = time.perf_counter() - started
    if on_evidence:
        on_evidence(evidence)

    shown = None
    if prompt_chars:
        shown = evidence if prompt_chars == evidence_budget else prompt_evidence(
            standalone, ranked, prompt_chars, kept)[1]
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
