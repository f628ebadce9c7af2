"""One-article summaries and multi-article briefs, every sentence cited and verified.

A summary asks the model, in one call, for 2-4 cited sentences about an article from its
key sentences (the ones dense with figures, dates and the title's words). A brief groups the chosen
articles into stories (reports of the same story merged by the similarity of their
vectors), extracts each article's key facts (map: the sentences dense with figures,
dates and the topic's words), and has the model write each story's paragraph from those
facts (reduce). Whatever the model writes goes through `verify.verify`, exactly as
answers do; a sentence no passage supports is dropped. Key figures the model left out
are quoted from the article, so a brief never loses the numbers that matter. With the
`extractive` generator (or none) the key facts are the text: instant and faithful.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer import prompts
from rag.answer import verify as cite
from rag.answer.figures import figures_over_time
from rag.answer.markdown import render_brief, render_summary
from rag.archive.base import ReplyCache
from rag.archive.replies import reply_key
from rag.config import Settings
from rag.generate import Generator, Message, writes
from rag.generate.base import Role
from rag.results import ArticleInfo, Brief, BriefSentence, Citation, Section
from rag.text.bigrams import content_bigrams
from rag.text.chunking import split_sentences
from rag.text.quantities import Quantity, find_quantities, same_quantity
from rag.types import Article, Hit, Passage, evidence_text

Progress = Callable[[float, str], None]

# Defaults of the tuning knobs, which live in Settings (service passes the user's values).
SAME_STORY = Settings.brief_same_story
SUMMARY_CHARS = Settings.summary_chars


@dataclass(frozen=True)
class Fact:
    """A key sentence of an article, with the passage that holds it."""

    text: str
    article: Article
    passage: Passage
    start: int  # in the article
    score: float


# ---------------------------------------------------------------------- facts

_QUOTE_OPEN = "“\"「『"
_TOO_SHORT = 12


def _counted(quantities: Sequence[Quantity]) -> list[Quantity]:
    return [q for q in quantities if q.kind != "date"]


def key_facts(
    article: Article, passages: Sequence[Passage], topic: str | None = None, limit: int = 3,
) -> list[Fact]:
    """The article's `limit` most informative sentences, in the order the article has them.

    A sentence scores by its figures (numbers, amounts, percents), its dates, its share
    of the topic's content bigrams and being the lead; quotations and fragments score less.
    """
    if not passages:
        return []
    wanted = content_bigrams(topic or "")
    scored: list[Fact] = []
    for i, (start, end) in enumerate(split_sentences(article.text)):
        text = article.text[start:end].strip()
        if len(text) < _TOO_SHORT:
            continue
        quantities = find_quantities(text)
        figures = len(_counted(quantities))
        score = min(figures, 4) + 0.5 * min(len(quantities) - figures, 2)
        if wanted:
            score += 3 * len(wanted & content_bigrams(text)) / len(wanted)
        if i == 0:
            score += 1.0
        if text[0] in _QUOTE_OPEN:
            score -= 0.5
        if len(text) > 160:
            score -= 0.5
        scored.append(Fact(text, article, _passage_at(passages, start, end), start, score))
    best = sorted(scored, key=lambda f: (-f.score, f.start))[:limit]
    return sorted(best, key=lambda f: f.start)


def _passage_at(passages: Sequence[Passage], start: int, end: int) -> Passage:
    """The first passage holding [start, end), else the one overlapping it most."""
    for p in passages:
        if p.start <= start and end <= p.end:
            return p
    return max(passages, key=lambda p: min(end, p.end) - max(start, p.start))


# ---------------------------------------------------------------------- citations


class _Citations:
    """Global citation numbers, one per distinct passage, in order of first use."""

    def __init__(self) -> None:
        self.items: list[Citation] = []
        self._by_passage: dict[str, int] = {}

    def number(self, passage: Passage, article: Article) -> int:
        n = self._by_passage.get(passage.id)
        if n is None:
            n = len(self.items) + 1
            self._by_passage[passage.id] = n
            self.items.append(Citation(
                n, article.id, article.title, article.published, article.source, passage.id,
                passage.text, passage.start, passage.end,
            ))
        return n


_LABEL = re.compile(r"^(?:摘要|总结|简报|概要|要点)[:：]\s*")


def _verified(
    draft: str, texts: Sequence[str], min_chars: int = 8
) -> list[tuple[str, tuple[int, ...]]]:
    """The draft's sentences that a passage supports, with their (local) citations; a
    sentence the draft states again (small models repeat themselves) is kept once."""
    checked = cite.verify(draft, texts)
    kept: list[tuple[str, tuple[int, ...]]] = []
    for s in checked.sentences:
        text = _LABEL.sub("", s.text).strip()
        if (s.supported and not s.refusal and s.citations and len(text) >= min_chars
                and not _said(text, [t for t, _ in kept])):
            kept.append((text, tuple(s.citations)))
    return kept


# Punctuation and spaces, which a repeated sentence may differ in (not the decimal point).
_UNSAID = re.compile(r"[\s，,。！!？?；;：:、“”\"'（）()《》]")


def _said(sentence: str, written: Sequence[str]) -> bool:
    """Whether `sentence` is already written: word for word, or within a longer sentence
    (punctuation and spaces aside)."""
    bare = _UNSAID.sub("", sentence)
    return bool(bare) and any(bare in _UNSAID.sub("", w) for w in written)


def _covered(fact: Fact, written: Sequence[str]) -> bool:
    """Whether the written sentences already state the fact's figures (or its gist)."""
    figures = _counted(find_quantities(fact.text))
    if figures:
        stated = [q for text in written for q in _counted(find_quantities(text))]
        return all(any(same_quantity(f, s) for s in stated) for f in figures)
    grams = content_bigrams(fact.text)
    seen = set().union(*(content_bigrams(t) for t in written)) if written else set()
    return bool(grams) and len(grams & seen) / len(grams) >= 0.6


def _generate(
    generator: Generator, messages: list[tuple[Role, str]], max_tokens: int,
    replies: ReplyCache | None, article_ids: Sequence[str],
) -> str:
    """The model's reply, or the one it gave to exactly this request before."""
    key = reply_key(getattr(generator, "name", type(generator).__name__), messages, max_tokens)
    kept = replies.get(key) if replies is not None else None
    if kept is not None:
        return kept
    reply = generator.generate([Message(r, c) for r, c in messages], max_tokens=max_tokens)
    if replies is not None:
        replies.put(key, reply, article_ids)
    return reply


# ---------------------------------------------------------------------- summaries


def summary_sentences(
    article: Article, passages: Sequence[Passage], budget: int = SUMMARY_CHARS,
) -> list[Fact]:
    """What the model reads to summarize an article: its most informative sentences (see
    `key_facts`), best first up to `budget` characters (at least one), in article order."""
    ranked = sorted(key_facts(article, passages, article.title, limit=1 << 30),
                    key=lambda f: (-f.score, f.start))
    chosen: list[Fact] = []
    size = 0
    for fact in ranked:
        if chosen and size + len(fact.text) > budget:
            continue
        chosen.append(fact)
        size += len(fact.text)
    return sorted(chosen, key=lambda f: f.start)


def summarize(
    article: Article,
    passages: Sequence[Passage],
    generator: Generator | None,
    *,
    max_tokens: int = 320,
    budget: int = SUMMARY_CHARS,
    on_progress: Progress | None = None,
    replies: ReplyCache | None = None,
) -> Brief:
    """2-4 sentences about `article`, each citing the passages of it that support it.

    The model reads the article's key sentences (`summary_sentences`, about `budget`
    characters) under their passages' numbers, in one call, however long the article;
    what it writes is verified against the whole passages. With `replies`, the reply to
    the same request is reused.
    """
    started = time.perf_counter()
    passages = list(passages)
    texts = [evidence_text(article.title, article.published, p.text) for p in passages]
    written: list[tuple[str, tuple[int, ...]]] = []
    if passages and writes(generator):
        assert generator is not None
        if on_progress:
            on_progress(0.1, "生成摘要")
        number = {p.id: n for n, p in enumerate(passages, 1)}
        shown = [(number[f.passage.id], f.text) for f in summary_sentences(article, passages, budget)]
        messages = prompts.summary_messages(article.title, article.published, shown)
        written = _verified(_generate(generator, messages, max_tokens, replies, [article.id]), texts)
    sentences = [BriefSentence(t, c) for t, c in written[:5]]
    # Too little survived (or no model): quote the key facts the sentences do not cover.
    for fact in key_facts(article, passages, article.title, limit=4):
        if len(sentences) >= 3:
            break
        said = [s.text for s in sentences]
        if not _covered(fact, said) and not _said(fact.text, said):
            n = next(i for i, p in enumerate(passages, 1) if p.id == fact.passage.id)
            sentences.append(BriefSentence(fact.text, (n,), True, extracted=True))
    if not writes(generator):
        sentences.sort(key=lambda s: s.citations)

    book = _Citations()
    renumbered = [
        BriefSentence(s.text, tuple(book.number(passages[n - 1], article) for n in s.citations),
                      s.supported, s.extracted)
        for s in sentences
    ]
    section = Section(article.title, article.published, article.published, (article.id,),
                      tuple(renumbered))
    sections = (section,) if renumbered else ()
    markdown = render_summary(article, sections, book.items)
    timings = {"total_s": time.perf_counter() - started}
    return Brief(article.title, article.published, article.published, sections,
                 tuple(book.items), (article.id,), markdown, timings,
                 getattr(generator, "name", "extractive"))


# ---------------------------------------------------------------------- briefs


def relevant_articles(hits: Sequence[Hit], min_score: float) -> list[str]:
    """The articles of the passages retrieval found with a dense score at `min_score` or
    above (the bar answers have), most relevant first."""
    chosen: list[str] = []
    for hit in hits:
        aid = hit.passage.article_id
        if hit.dense_score is not None and hit.dense_score >= min_score and aid not in chosen:
            chosen.append(aid)
    return chosen


def published_between(articles: Sequence[ArticleInfo], first: str | None, last: str | None) -> list[str]:
    """The articles published from `first` to `last` (YYYY-MM-DD, either may be open)."""
    return [a.id for a in articles if a.published and (first is None or a.published[:10] >= first)
            and (last is None or a.published[:10] <= last)]


def group_stories(
    articles: Sequence[Article], vectors: dict[str, np.ndarray] | None,
    threshold: float = SAME_STORY,
) -> list[list[Article]]:
    """Reports of the same story together (single link over article similarity), groups
    in the order of their first article, each group oldest first."""
    parent = list(range(len(articles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(articles)):
        for j in range(i):
            if _similarity(articles[i], articles[j], vectors) >= threshold:
                parent[find(i)] = find(j)
    groups: dict[int, list[Article]] = {}
    for i, article in enumerate(articles):
        groups.setdefault(find(i), []).append(article)
    return [sorted(g, key=lambda a: a.published or "") for g in groups.values()]


def _similarity(a: Article, b: Article, vectors: dict[str, np.ndarray] | None) -> float:
    if vectors and a.id in vectors and b.id in vectors:
        return float(vectors[a.id] @ vectors[b.id])
    # Without vectors: the share of title bigrams in common.
    ga, gb = content_bigrams(a.title), content_bigrams(b.title)
    return len(ga & gb) / max(1, min(len(ga), len(gb))) if ga and gb else 0.0


def brief(
    topic: str | None,
    articles: Sequence[tuple[Article, Sequence[Passage]]],
    generator: Generator | None,
    *,
    vectors: dict[str, np.ndarray] | None = None,
    since: str | None = None,
    until: str | None = None,
    facts_per_article: int = Settings.brief_facts_per_article,
    same_story: float = SAME_STORY,
    section_facts: int = Settings.brief_section_facts,
    max_tokens: int = 320,
    write_from: int = Settings.brief_write_from,
    on_progress: Progress | None = None,
    on_section: Callable[[Brief], None] | None = None,
    replies: ReplyCache | None = None,
) -> Brief:
    """A brief over `articles` (most relevant first), one section per story.

    The model writes the paragraph of a story told by `write_from` reports or more, from
    their key facts; a smaller story's paragraph is its key facts, quoted and cited.
    `on_section` gets the brief so far after each section (to show it as it is written);
    with `replies`, a reply to the same request is reused.
    """
    started = time.perf_counter()
    passages_of = {a.id: list(ps) for a, ps in articles}
    stories = group_stories([a for a, _ in articles], vectors, same_story)
    ids = tuple(a.id for a, _ in articles)
    name = getattr(generator, "name", "extractive")
    book = _Citations()
    sections: list[Section] = []
    timings: dict[str, float] = {}

    def so_far() -> Brief:
        markdown = render_brief(topic, since, until, sections, book.items, len(ids))
        return Brief(topic, since, until, tuple(sections), tuple(book.items), ids, markdown,
                     dict(timings), name)

    if on_progress:
        on_progress(0.0, f"找到{len(stories)}组报道")
    for i, story in enumerate(stories):
        if on_progress and i:
            on_progress(i / len(stories), f"已写{i}/{len(stories)}组报道")
        facts = [f for a in story for f in key_facts(a, passages_of[a.id], topic, facts_per_article)]
        if not facts:
            continue
        if len(facts) > section_facts:
            best = sorted(facts, key=lambda f: -f.score)[:section_facts]
            facts = [f for f in facts if f in best]
        heading = max(story, key=lambda a: a.published or "").title
        writer = generator if len(story) >= write_from else None
        sentences = _section_sentences(topic or heading, facts, writer, book, max_tokens, replies)
        dates = sorted(a.published[:10] for a in story if a.published)
        figures = figures_over_time(
            story, lambda a, start, end: book.number(_passage_at(passages_of[a.id], start, end), a))
        sections.append(Section(
            heading, dates[0] if dates else None, dates[-1] if dates else None,
            tuple(a.id for a in story), tuple(sentences), figures,
        ))
        timings.setdefault("first_section_s", time.perf_counter() - started)
        if on_section:
            on_section(so_far())
    timings["total_s"] = time.perf_counter() - started
    return so_far()


def _section_sentences(
    topic: str, facts: list[Fact], generator: Generator | None, book: _Citations, max_tokens: int,
    replies: ReplyCache | None = None,
) -> list[BriefSentence]:
    def global_numbers(local: Sequence[int]) -> tuple[int, ...]:
        out: list[int] = []
        for n in local:
            g = book.number(facts[n - 1].passage, facts[n - 1].article)
            if g not in out:
                out.append(g)
        return tuple(out)

    written: list[tuple[str, tuple[int, ...]]] = []
    if writes(generator):
        assert generator is not None
        items = [(n, f.article.title, f.article.published, f.text) for n, f in enumerate(facts, 1)]
        texts = [evidence_text(f.article.title, f.article.published, f.passage.text) for f in facts]
        articles = list(dict.fromkeys(f.article.id for f in facts))
        messages = prompts.brief_messages(topic, items)
        written = _verified(_generate(generator, messages, max_tokens, replies, articles), texts)
    sentences = [BriefSentence(t, global_numbers(c)) for t, c in written[:4]]
    # The key figures stay in the brief even when the model leaves them out.
    for k, fact in enumerate(facts):
        if written and not _counted(find_quantities(fact.text)):
            continue
        said = [s.text for s in sentences]
        if not _covered(fact, said) and not _said(fact.text, said):
            sentences.append(BriefSentence(fact.text, global_numbers([k + 1]), True, extracted=True))
    return sentences
