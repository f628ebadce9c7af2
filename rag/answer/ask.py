"""ask(): retrieve → prompt → generate → verify every sentence → Answer, or a refusal.

Refusal and citation correctness do not rest on the model: weak retrieval refuses before
any generation, and each answer sentence is kept only if its numbers, dates and names
occur in a passage it cites (re-attached to the passage that does support it when the
model cited the wrong one). An answer with no surviving sentence is a refusal.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from rag.answer import prompts
from rag.answer import verify as cite
from rag.answer.citations import is_refusal, with_markers
from rag.answer.evidence import DEFAULT_BUDGET, select_evidence
from rag.generate import Generator, Message
from rag.results import REFUSAL, Answer, AnswerSentence, Citation, Evidence
from rag.text.bigrams import content_bigrams
from rag.text.chunking import split_sentences
from rag.text.dates import resolve_range
from rag.text.measures import measure_label, same_label, same_measure
from rag.text.quantities import Quantity, find_quantities, same_quantity
from rag.types import Hit, Search, evidence_text

OnToken = Callable[[str], None]
OnEvidence = Callable[[tuple[Evidence, ...]], None]

# "多少名 / 几座 / 多少亿元": the measure word the answer's number must carry.
_ASKED_MEASURE = re.compile(r"(?:多少|几)(?:个)?(万|亿)?([名人位家座台辆套吨元米岁次项所户张份条只辆架艘株亩个钱])")
_NUMBER = r"[0-9０-９.．,，]+|[零〇一二两三四五六七八九十百千万亿余多]+"
_PERSON = "名人位"
_UNITS = "吨元米岁亩次"  # a unit must match; any other classifier may be paraphrased as 个
_ASKED_TITLE = re.compile(r"(?:标题|题目|书名|篇名|剧名|曲名)(?:是|叫)|(?:标题|题目|书名|名称)是什么")
_QUOTED = re.compile(r"《[^》]+》|“[^”]+”|「[^」]+」|\"[^\"]+\"")
# The words that ask for a title, not what the title is of.
_TITLE_FRAME = re.compile(r"标题|题目|书名|篇名|剧名|曲名|名称|名字|是什么|叫什么|[的是]")
_DATE_IN_ANSWER = re.compile(r"[0-9０-９一二三四五六七八九十〇零]+\s*[年月日号]")
_YES_NO = re.compile(r"是否|是不是|吗[？?]?$|有没有|能否|可否|对不对|还是")
_FUNCTION_CHARS = frozenset("是的了在有和与及也都就为个")
_FOLLOW_UP = re.compile(r"它|他们|他|她|其|该|这|那|此|上述|呢[？?]?$")


def looks_like_follow_up(question: str) -> bool:
    return len(question.strip()) <= 6 or bool(_FOLLOW_UP.search(question))


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
    if generator is None or getattr(generator, "name", "") == "extractive":
        return fallback
    messages = [Message(r, c) for r, c in prompts.rewrite_messages(question, history)]
    text = generator.generate(messages, max_tokens=max_tokens).strip().splitlines()
    candidate = text[0].strip(" “”\"") if text else ""
    if 4 <= len(candidate) <= 80 and "[" not in candidate and not is_refusal(candidate):
        return candidate
    return fallback


def answers_the_question(question: str, answer: str) -> bool:
    """Whether the answer has the kind of fact the question asks for.

    A question asking "how many <measure>" needs a number with that measure, one asking
    "when" a date, one asking for a title a quoted title. A supported sentence about
    something else (104套摄像头 for 多少名职工) is the small model's favourite way of
    being confidently wrong; so is the question's own words handed back.
    """
    said = {ch for ch in answer if ch.isalnum()}
    if said and not said - set(question) - _FUNCTION_CHARS and not _YES_NO.search(question):
        return False  # the question's own words back (最初不是理论): no answer at all
    asked = _ASKED_MEASURE.search(question)
    if asked:
        word = "元" if asked.group(2) == "钱" else asked.group(2)  # 多少钱: an amount in 元
        measures = _PERSON if word in _PERSON else word if word in _UNITS else word + "个"
        return re.search(rf"(?:{_NUMBER})\s*(?:万|亿)?[{measures}]", answer) is not None
    if cite.ASKS_DATE.search(question):
        return _DATE_IN_ANSWER.search(answer) is not None
    if _ASKED_TITLE.search(question):  # a title is quoted: 《…》 or “…”
        return _QUOTED.search(answer) is not None
    return True


@dataclass(frozen=True)
class _Kept:
    text: str
    citations: tuple[int, ...]


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


def _list_item(figure: Quantity, sentence: str, anchors: cite.Anchors) -> str | None:
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


def staged(question: str, text: str, citations: Sequence[int], hits: Sequence[Hit]) -> str | None:
    """`text` with each figure at the stage the question asks for.

    When the question asks for what was planned (计划新建和改造多少公里) or what is done
    (已完工多少公里), a figure whose own clause in its source sentence says the other
    stage answers another question: in 计划新建和改造的186公里污水管网中，已有142公里完工,
    142公里 is done and 186公里 planned. The one figure of the same measure in that
    sentence at the asked stage is put in its place; with none, the answer is not kept
    (None). Figures whose clause names no stage, or both, are left as they are.
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
            if len(others) != 1:
                return None
            result = result.replace(figure.text, others.pop(), 1)
            break
    return result


def anchored(question: str, text: str, citations: Sequence[int], hits: Sequence[Hit]) -> str | None:
    """`text` checked against what the question pins down (see `cite.question_anchors`).

    Each figure of the answer must come from a source sentence that, with the sentence
    before it and the article's title and date, states the question's own numbers,
    dates and terms: 2024年12月27日 from 召开四届三十四次主席会议 does not answer when
    四届四次会议 opens, nor 四届四次会 (being prepared) what met on 12月27日.
    Within that sentence, if the figure's clause lacks them and exactly one other figure
    of the same measure has them, the model read the wrong item of a list and that
    figure is put in its place. Returns None when no cited sentence fits the question.
    """
    anchors = cite.question_anchors(question)
    if not anchors:
        return text
    asked = find_quantities(question)
    result = text
    for figure in find_quantities(text):
        if any(same_quantity(figure, q) for q in asked):
            continue
        sources = list(_sources_of(figure, citations, hits))
        fitting = [s for context, s in sources if cite.states_anchors(anchors, context + s)]
        if sources and not fitting:
            return None
        item = _list_item(figure, fitting[0], anchors) if fitting else None
        if item is not None:
            result = result.replace(figure.text, item, 1)
    return result

_TITLE = re.compile(r"《([^》]{2,40})》")


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


def _title_answer(question: str, hits: Sequence[Hit], answer: str = "",
                  min_overlap: float = 0.5, margin: float = 0.2) -> _Kept | None:
    """The 《…》 of the passage sentence closest to a question that asks for one.

    Small models answer such questions with the sentence around the title, or with the
    title of another item (随后……快板说唱《凝心聚力向未来》 for the 开场 number); the title
    is a span to quote, not to write. A sentence with exactly one title and at least
    `min_overlap` of the question's content bigrams is taken; when `answer` already
    quotes a title, only if that sentence is closer by `margin` than any sentence
    holding the answer's title.
    """
    sentences = _titled_sentences(question, hits)
    single = [(o, t[0], n) for o, t, n in sentences if len(t) == 1 and o >= min_overlap]
    if not single:
        return None
    overlap, title, n = max(single, key=lambda x: (x[0], -x[2]))
    given = set(_TITLE.findall(answer))
    if given:
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


def covers(hits: Sequence[Hit], min_score: float) -> bool:
    """Whether retrieval found the archive speaking to the question: some hit, and the
    best dense cosine (where there is one) at `min_score` or above."""
    best = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
    return bool(hits) and (best is None or best >= min_score)


def _verification_text(hit: Hit) -> str:
    # Titles and dates are facts a sentence may state ("3月12日报道…").
    return evidence_text(hit.title, hit.published, hit.passage.text)


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
    confidence: bool = False,
) -> Answer:
    """Answer `question` from the archive; see the module docstring for the guarantees.

    `search(query, since, until)` returns ranked hits; `min_score` is the dense cosine
    the best hit must reach, below which the archive is taken not to cover the question.
    `on_evidence` receives the selected evidence sentences (see `evidence`) before the
    model is asked, `on_token` the model's draft as it is written. With `confidence`,
    a generator that can say how likely its reply starts with a word is asked, after
    the draft, whether the passages answer the question (`Answer.confidence`).
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    standalone = rewrite(question, history, generator)
    span = resolve_range(standalone, as_of) if as_of else None
    since, until = span if span else (None, None)
    hits = search(standalone, since, until)
    timings["retrieve_s"] = time.perf_counter() - started

    evidence: tuple[Evidence, ...] = ()
    score: float | None = None  # the model's P(是) that the passages answer, if asked

    def refuse(draft: str = "") -> Answer:
        timings["total_s"] = time.perf_counter() - started
        closest = tuple(Citation.of(n, h) for n, h in enumerate(hits[:3], start=1))
        return Answer(question, standalone, REFUSAL, True, (), closest, draft,
                      since, until, timings, evidence, score)

    if not covers(hits, min_score):
        return refuse()
    evidence = select_evidence(standalone, hits, evidence_budget)
    timings["evidence_s"] = time.perf_counter() - started
    if on_evidence:
        on_evidence(evidence)

    shown = None
    if prompt_chars:
        shown = evidence if prompt_chars == evidence_budget else select_evidence(standalone, hits, prompt_chars)
    messages = [Message(r, c) for r, c in prompts.answer_messages(standalone, hits, shown)]
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
    if not draft or is_refusal(draft):
        return refuse(draft)

    verified = cite.verify(draft, [_verification_text(h) for h in hits], given=standalone)
    sentences: tuple[AnswerSentence, ...] = ()
    final: list[_Kept] = []
    for s in verified.sentences:
        if s.refusal:
            continue
        text = anchored(standalone, s.text, s.citations, hits) if s.supported else None
        if text is not None:
            text = staged(standalone, text, s.citations, hits)
        if text is None or not s.citations:
            sentences += (AnswerSentence(s.text, tuple(s.citations), False),)
            continue
        kept = _focus(standalone, _Kept(text, tuple(s.citations)), hits)
        sentences += (AnswerSentence(text, kept.citations, True,
                                     s.reattached or text != s.text or kept.citations != s.citations),)
        final.append(kept)
    said = "".join(k.text for k in final)
    if not answers_the_question(standalone, said):
        final = []
    elif len(final) == 1 and len(_TITLE.findall(said)) == 1:
        # the answer names one title: the one said of what the question asks, if another is
        closer = _title_answer(standalone, hits, said)
        if closer is not None:
            final = [closer]
            sentences = (AnswerSentence(closer.text, closer.citations, True, True),)
    if not final and _ASKED_TITLE.search(standalone):
        title = _title_answer(standalone, hits)
        if title is not None:
            final = [title]
            sentences = (AnswerSentence(title.text, title.citations, True, True),)
    if not final:
        return refuse(draft)
    newer = newer_report(standalone, [(s.text, s.citations) for s in final], hits)
    if newer is not None:  # the model took an older report's figure: lead with the newest
        sentence, n, replaced = newer
        lead = _Kept(f"据{(hits[n - 1].published or '')[:10]}的报道，{sentence}", (n,))
        final = [lead] + [
            _Kept(f"（此前{(hits[s.citations[0] - 1].published or '')[:10]}的报道为："
                  f"{s.text.rstrip('。')}。）", s.citations) if s.text in replaced else s
            for s in final
        ]
        sentences = (AnswerSentence(lead.text, lead.citations, True, True),) + sentences
    cited = sorted({n for s in final for n in s.citations})
    timings["total_s"] = time.perf_counter() - started
    text = "".join(with_markers(s.text, s.citations) for s in final)
    return Answer(
        question, standalone, text, False, sentences,
        tuple(Citation.of(n, hits[n - 1]) for n in cited), draft, since, until, timings,
        evidence, score,
    )

