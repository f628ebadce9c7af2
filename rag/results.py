"""What the product returns — answers, citations, briefs, search hits, article listings —
and the JSON shape of each, used alike by `rag … --json`, the web API and evaluation.

A result is a frozen dataclass; its JSON function sits right below it, so the two change
together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.types import Article, Hit, Passage, evidence_text

# What an answer, a brief or the extractive backend says when the archive does not say.
REFUSAL = "资料中没有相关信息。"


# ---------------------------------------------------------------------- search


def hit_to_json(hit: Hit) -> dict[str, Any]:
    """A search hit as `rag search --json` gives it."""
    p = hit.passage
    return {
        "rank": hit.rank, "article_id": p.article_id, "title": hit.title,
        "published": hit.published, "source": hit.source, "passage_id": p.id, "text": p.text,
        "start": p.start, "end": p.end, "score": round(hit.score, 6),
        "dense_rank": hit.dense_rank, "bm25_rank": hit.bm25_rank,
    }


# ---------------------------------------------------------------------- citations


@dataclass(frozen=True)
class Citation:
    """The passage behind a `[n]` marker, with its article's metadata."""

    n: int
    article_id: str
    title: str
    published: str | None
    source: str
    passage_id: str
    text: str
    start: int
    end: int

    @property
    def evidence(self) -> str:
        """The passage as verification reads it (see `rag.types.evidence_text`)."""
        return evidence_text(self.title, self.published, self.text)

    @classmethod
    def of(cls, n: int, hit: Hit) -> Citation:
        p = hit.passage
        return cls(n, p.article_id, hit.title, hit.published, hit.source, p.id, p.text, p.start, p.end)


def citation_to_json(c: Citation) -> dict[str, object]:
    """A citation as `--json` output and the web API give it."""
    return {"n": c.n, "article_id": c.article_id, "title": c.title, "published": c.published,
            "source": c.source, "passage_id": c.passage_id, "text": c.text, "start": c.start,
            "end": c.end}


# ---------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Evidence:
    """A sentence of a retrieved passage picked as what answers the question, shown before
    the model writes. `n` is the number of its passage (`[n]`), `start`/`end` its
    characters in the article."""

    n: int
    article_id: str
    title: str
    published: str | None
    text: str
    start: int
    end: int
    score: float


def evidence_to_json(e: Evidence) -> dict[str, object]:
    """An evidence sentence as `rag ask --json` and the web API give it."""
    return {"n": e.n, "article_id": e.article_id, "title": e.title, "published": e.published,
            "text": e.text, "start": e.start, "end": e.end, "score": round(e.score, 4)}


# ---------------------------------------------------------------------- answers


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of the model's draft after checking. `reattached` means it differs
    from the draft: a citation was moved or added, or the figure of the list item the
    question names replaced the one the model took."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    reattached: bool = False


@dataclass(frozen=True)
class Scored:
    """One candidate answer as the answer gate scored it."""

    text: str
    quoted: bool  # the best evidence sentence, quoted, rather than the model's sentences
    probability: float  # that it is right
    features: dict[str, float]


@dataclass(frozen=True)
class Verdict:
    """The answer gate's decision (see `rag.answer.gate`): the first candidate whose
    probability reaches its bar is shown, the model's own sentences (`threshold`) before
    the quoted evidence (`quote_threshold`); with none, the answer is a refusal."""

    threshold: float
    candidates: tuple[Scored, ...]  # the model's supported sentences, then the quote
    quote_threshold: float = 1.0

    @property
    def best(self) -> Scored:
        return max(self.candidates, key=lambda c: c.probability)

    @property
    def probability(self) -> float:
        return self.best.probability

    def bar(self, candidate: Scored) -> float:
        return self.quote_threshold if candidate.quoted else self.threshold

    @property
    def chosen(self) -> Scored | None:
        return next((c for c in self.candidates if c.probability >= self.bar(c)), None)


@dataclass(frozen=True)
class Answer:
    question: str
    standalone_question: str
    answer: str
    refused: bool
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]  # the cited passages (or, on refusal, the closest ones)
    draft: str = ""  # what the model wrote, before verification
    since: str | None = None
    until: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()  # shown before the answer; empty on a refusal before generation
    # The model's probability that the passages answer the question (`answerability`
    # prompt), when asked for (setting answer_confidence); None otherwise.
    confidence: float | None = None
    verdict: Verdict | None = None  # the answer gate's, when a candidate answer was scored


def answer_to_json(answer: Answer) -> dict[str, object]:
    """The JSON shape of `rag ask --json` and of the web API's `ask`."""
    return {
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.answer,
        "refused": answer.refused,
        "sentences": [
            {"text": s.text, "citations": list(s.citations), "supported": s.supported}
            for s in answer.sentences
        ],
        "citations": [citation_to_json(c) for c in answer.citations],
        "evidence": [evidence_to_json(e) for e in answer.evidence],
        "timings": {k: round(answer.timings.get(k, 0.0), 3)
                    for k in ("retrieve_s", "evidence_s", "first_token_s", "total_s")},
        # Tokens of the prompts the model read for this answer, and how many of them it
        # found in its cache (local models only).
        "prefill": {k: int(answer.timings[k]) for k in ("prompt_tokens", "reused_tokens")
                    if k in answer.timings},
        # How sure the answer gate is that the answer is right, and the bar it had to reach.
        "confidence": None if answer.verdict is None else {
            "probability": round(answer.verdict.probability, 4),
            "threshold": round(answer.verdict.threshold, 4),
            "quoted": answer.verdict.best.quoted,
        },
    }


# ---------------------------------------------------------------------- briefs


@dataclass(frozen=True)
class BriefSentence:
    text: str
    citations: tuple[int, ...]
    supported: bool = True
    extracted: bool = False  # quoted from the article, not written by the model


@dataclass(frozen=True)
class Figure:
    """One report of a measure: what a story's article stated on its date."""

    measure: str  # the name the text gives it: 总工程量, 完成投资
    date: str  # the article's publication date (YYYY-MM-DD)
    text: str  # the figure as written: 85%, 8.3亿元
    value: float  # in `unit` (percents as 85.0)
    unit: str | None
    citation: int


@dataclass(frozen=True)
class Section:
    heading: str
    since: str | None
    until: str | None
    article_ids: tuple[str, ...]
    sentences: tuple[BriefSentence, ...]
    # The story's figures over time: each measure stated on two dates or more, its
    # reports in date order, measures one after another (never mixed).
    figures: tuple[Figure, ...] = ()


@dataclass(frozen=True)
class Brief:
    """A brief over several articles, or (one section) a summary of one."""

    topic: str | None
    since: str | None
    until: str | None
    sections: tuple[Section, ...]
    citations: tuple[Citation, ...]
    articles: tuple[str, ...]
    markdown: str
    timings: dict[str, float] = field(default_factory=dict)
    generator: str = ""

    @property
    def sentences(self) -> tuple[BriefSentence, ...]:
        return tuple(s for section in self.sections for s in section.sentences)

    @property
    def empty(self) -> bool:
        return not self.sections


def brief_to_json(b: Brief) -> dict[str, object]:
    """The JSON shape of `rag brief --json` and `rag summarize --json`."""
    return {
        "topic": b.topic,
        "since": b.since,
        "until": b.until,
        "markdown": b.markdown,
        "sections": [
            {"heading": s.heading, "since": s.since, "until": s.until,
             "articles": list(s.article_ids),
             "sentences": [_sentence_json(x) for x in s.sentences],
             "figures": [_figure_json(f) for f in s.figures]}
            for s in b.sections
        ],
        "sentences": [_sentence_json(x) for x in b.sentences],
        "citations": [citation_to_json(c) for c in b.citations],
        "articles": list(b.articles),
        "generator": b.generator,
        "timings": {k: round(v, 3) for k, v in b.timings.items()},
    }


def _figure_json(f: Figure) -> dict[str, object]:
    return {"measure": f.measure, "date": f.date, "text": f.text, "value": f.value,
            "unit": f.unit, "citation": f.citation}


def _sentence_json(s: BriefSentence) -> dict[str, object]:
    return {"text": s.text, "citations": list(s.citations), "supported": s.supported,
            "extracted": s.extracted}


# ---------------------------------------------------------------------- articles


@dataclass(frozen=True)
class ArticleInfo:
    """An article's metadata and size, for listings."""

    id: str
    title: str
    published: str | None
    source: str
    source_name: str | None
    n_passages: int
    n_chars: int


def article_info_to_json(a: ArticleInfo) -> dict[str, object]:
    """One row of `rag articles --json`."""
    return {"id": a.id, "title": a.title, "published": a.published, "source": a.source,
            "passages": a.n_passages, "chars": a.n_chars}


def article_to_json(article: Article, passages: Sequence[Passage]) -> dict[str, object]:
    """`rag show --json`: the article, its metadata and where its passages lie."""
    return {
        "id": article.id, "title": article.title, "subtitle": article.subtitle,
        "published": article.published, "source": article.source,
        "reporters": list(article.reporters), "section": article.section,
        "captions": list(article.captions), "text": article.text,
        "passages": [{"id": p.id, "start": p.start, "end": p.end} for p in passages],
    }
