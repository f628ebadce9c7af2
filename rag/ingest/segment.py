"""Split a newspaper page, extracted as text, into its articles.

The page is read as a sequence of classified paragraphs (see `lines.py`) and assembled
by a few rules:

- An article starts at a lead or byline (本报讯…, 新华社…电, □ 本报记者 …); the run of
  headline-like lines just before it is its headline block (kicker, main headline,
  subtitles). On a page with bylines, a block of two or more headline lines after a
  finished sentence also starts an article. A page with no byline at all is one article.
- A paragraph that ends mid-sentence continues in the next body paragraph of its
  article; captions, credits and banners in between are lifted out first.
- Short lines that repeat, or that read as column names, are banners: kept once as the
  article's section (or the page's, when they head the page), never in a body.
- Captions go to their article. A caption standing between two articles goes to the
  one it shares most words with; if it shares little with both, it is photo news of
  its own and becomes a small segment.
- An article with no headline before its byline takes the headline lines that follow
  its body, when those lines share more words with it than with the next article.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.ingest.clean import (
    clean_paragraph,
    ends_sentence,
    join_fragments,
    normalize_text,
    visible_length,
)
from rag.ingest.lines import (
    Kind,
    Para,
    banner_by_words,
    classify_page,
    explicit_caption,
    looks_like_fragment,
    spaced_phrases,
)
from rag.ingest.metadata import split_leading_date
from rag.ingest.titles import choose_title, derive_title, overlap, strip_dash

_HEAD_KINDS = (Kind.HEADLINE, Kind.SUBTITLE)
_RUN_KINDS = (Kind.HEADLINE, Kind.SUBTITLE, Kind.BANNER, Kind.DATE, Kind.NOISE)
_TEXT_KINDS = (Kind.BODY, Kind.LEAD, Kind.LIST, Kind.INTERTITLE)
# Share of a line's character bigrams found in an article for the line to belong to it.
MIN_OVERLAP = 0.3
# The first paragraph under a headline block with no byline must be at least this long
# for the block to count as a new article rather than intertitles.
MIN_LEAD = 40


@dataclass(frozen=True)
class Segment:
    """One article found on a page."""

    title: str
    body: str  # cleaned paragraphs joined with "\n"
    subtitle: str | None = None
    reporters: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    section: str | None = None
    published: str | None = None


@dataclass(eq=False)
class _Caption:
    text: str
    index: int
    credit: str = ""
    names: tuple[str, ...] = ()

    def render(self) -> str:
        return f"{self.text}（{self.credit}）" if self.credit else self.text


@dataclass(eq=False)
class _Draft:
    start: int
    heads: list[Para] = field(default_factory=list)
    trailing: list[Para] = field(default_factory=list)  # headlines printed after the body
    body: list[Para] = field(default_factory=list)
    reporters: list[str] = field(default_factory=list)
    captions: list[_Caption] = field(default_factory=list)
    section: str | None = None
    date: str | None = None
    signed: bool = False  # its byline came at its end: the article is complete

    @property
    def has_body(self) -> bool:
        return any(p.kind in _TEXT_KINDS for p in self.body)

    def add_reporters(self, names: tuple[str, ...]) -> None:
        self.reporters.extend(n for n in names if n not in self.reporters)

    def text(self) -> str:
        return "".join(p.lead_body or p.text for p in self.body)

    def set_section(self, text: str) -> None:
        self.section = self.section or " ".join(text.split())


def segment_page(text: str) -> list[Segment]:
    """Split the text of a page into articles; a normal article gives one segment.

    Segments come in page order; each has a non-empty body.
    """
    date, text = split_leading_date(normalize_text(text))
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return []
    assembler = _Assembler(classify_page(lines))
    assembler.page_date = date
    return assembler.run()


class _Assembler:
    """One pass over the classified paragraphs, building article drafts."""

    def __init__(self, paras: list[Para]) -> None:
        self.paras = paras
        self.has_anchor = any(p.kind in (Kind.LEAD, Kind.BYLINE) for p in paras)
        self.drafts: list[_Draft] = []
        self.cur: _Draft | None = None
        self.page_date: str | None = None
        self.page_section: str | None = None
        self.pending: list[_Caption] = []  # captions seen before any article
        self.pending_section: str | None = None  # a banner set above the next article
        self.floating: list[tuple[_Caption, _Draft]] = []  # captions between two articles
        self.last_caption: _Caption | None = None

    def run(self) -> list[Segment]:
        i, n = 0, len(self.paras)
        while i < n:
            p = self.paras[i]
            if p.kind in _HEAD_KINDS:
                j = i
                while j < n and self.paras[j].kind in _RUN_KINDS:
                    j += 1
                self._headline_run(self.paras[i:j], j)
                i = j
                continue
            self._single(p, i)
            i += 1
        return self._finish()

    # -- paragraphs outside headline runs

    def _single(self, p: Para, i: int) -> None:
        caption, self.last_caption = self.last_caption, None
        kind = p.kind
        if kind in (Kind.LEAD, Kind.BYLINE):
            signature = kind is Kind.BYLINE or not p.lead_body
            if signature and self.cur is not None and self.cur.has_body and self._ends_article(i):
                # Some papers sign an article at its end: "（本报记者 王涛）". Whatever
                # follows the signature belongs to another article.
                self.cur.add_reporters(p.reporters)
                self.cur.signed = True
                return
            if self.cur is None or self.cur.has_body:
                self._open(p.index)
            assert self.cur is not None
            self.cur.add_reporters(p.reporters)
            self.cur.date = self.cur.date or p.date
            if kind is Kind.LEAD:
                self.cur.body.append(p)
        elif kind in _TEXT_KINDS:
            if self.cur is None or self.cur.signed:
                self._open(p.index)
            assert self.cur is not None
            self.cur.body.append(p)
        elif kind is Kind.CAPTION:
            self._caption(p, i)
        elif kind is Kind.CREDIT:
            if caption is not None and not caption.credit:
                caption.credit, caption.names = p.text.strip("（）() "), p.credit_names
        elif kind is Kind.BANNER:
            if self.cur is None:
                self.page_section = self.page_section or " ".join(p.text.split())
            elif self._between_articles(i):
                self.pending_section = self.pending_section or " ".join(p.text.split())
            else:
                self.cur.set_section(p.text)
        elif kind is Kind.DATE:
            if self.cur is None:
                self.page_date = self.page_date or p.date
            else:
                self.cur.date = self.cur.date or p.date

    def _caption(self, p: Para, i: int) -> None:
        cap = _Caption(p.text, p.index, credit=p.credit, names=p.credit_names)
        self.last_caption = cap
        cur = self.cur
        if cur is None:
            self.pending.append(cap)
            return
        if self._between_articles(i):
            self.floating.append((cap, cur))
        else:
            cur.captions.append(cap)

    def _between_articles(self, i: int) -> bool:
        """True if paragraph i follows a finished article and precedes a headline or byline."""
        if self.cur is None:
            return False
        last = next((b for b in reversed(self.cur.body) if b.kind in _TEXT_KINDS), None)
        if last is None or not ends_sentence(last.lead_body or last.text):
            return False
        return self._ends_article(i)

    def _ends_article(self, i: int) -> bool:
        """True if nothing but a headline, a byline or the end of the page follows paragraph i."""
        nxt = self._next_content(i + 1)
        return nxt is None or nxt.kind in (*_HEAD_KINDS, Kind.LEAD, Kind.BYLINE)

    def _next_content(self, j: int) -> Para | None:
        """The next paragraph that is not a caption, credit, banner or noise."""
        skip = (Kind.CAPTION, Kind.CREDIT, Kind.BANNER, Kind.NOISE, Kind.DATE)
        while j < len(self.paras) and self.paras[j].kind in skip:
            j += 1
        return self.paras[j] if j < len(self.paras) else None

    # -- headline runs

    def _headline_run(self, run: list[Para], end: int) -> None:
        self.last_caption = None
        heads = [p for p in run if p.kind in _HEAD_KINDS]
        nxt = self._next_content(end)
        cur = self.cur
        before_byline = nxt is not None and nxt.kind in (Kind.LEAD, Kind.BYLINE)
        if before_byline or cur is None or not cur.has_body or cur.signed:
            self._new_article(run, end)
        elif nxt is None:
            cur.trailing.extend(heads)
            self._absorb(run, cur)
        else:
            last = next((b for b in reversed(cur.body) if b.kind in _TEXT_KINDS), None)
            open_sentence = last is not None and last.kind in (Kind.BODY, Kind.LEAD) and not ends_sentence(
                last.lead_body or last.text
            )
            if open_sentence:
                self._inside_sentence(heads, cur)
                self._absorb(run, cur)
            elif self._unsigned_article_starts(heads, nxt):
                self._new_article(run, end)
            else:
                for h in heads:
                    h.kind = Kind.BODY if looks_like_fragment(h.text) else Kind.INTERTITLE
                    cur.body.append(h)
                self._absorb(run, cur)

    def _unsigned_article_starts(self, heads: list[Para], nxt: Para) -> bool:
        """A full headline block (two lines, or one with a ——subtitle) over a real paragraph
        starts an article even without a byline, on a page where other articles have one.
        """
        block = len(heads) >= 2 or any(h.kind is Kind.SUBTITLE for h in heads)
        return self.has_anchor and block and nxt.kind is Kind.BODY and visible_length(nxt.text) >= MIN_LEAD

    def _inside_sentence(self, heads: list[Para], cur: _Draft) -> None:
        """Short lines between two halves of a sentence: a banner, or more of the sentence."""
        banner = all(
            h.kind is Kind.HEADLINE
            and (spaced_phrases(h.text) or banner_by_words(h.text))
            and not looks_like_fragment(h.text)
            for h in heads
        )
        for h in heads:
            if banner:
                h.kind = Kind.BANNER
                cur.set_section(h.text)
            else:
                h.kind = Kind.BODY
                cur.body.append(h)

    def _absorb(self, run: list[Para], draft: _Draft) -> None:
        for p in run:
            if p.kind is Kind.BANNER:
                draft.set_section(p.text)
            elif p.kind is Kind.DATE:
                draft.date = draft.date or p.date

    def _new_article(self, run: list[Para], end: int) -> None:
        prev = self.cur
        if prev is not None and not prev.has_body:
            prev.heads.extend(p for p in run if p.kind in _HEAD_KINDS)
            self._absorb(run, prev)
            return
        to_prev: list[Para] = []
        if prev is not None and not prev.heads and not prev.trailing:
            to_prev = self._trailing_prefix(run, prev, end)
        rest = [p for p in run if all(p is not q for q in to_prev)]
        new = self._open(rest[0].index if rest else run[-1].index)
        if to_prev:
            assert prev is not None
            prev.trailing.extend(p for p in to_prev if p.kind in _HEAD_KINDS)
            self._absorb(to_prev, prev)
        new.heads.extend(p for p in rest if p.kind in _HEAD_KINDS)
        self._absorb(rest, new)

    def _trailing_prefix(self, run: list[Para], prev: _Draft, end: int) -> list[Para]:
        """Leading lines of a run that are the headline of the title-less article before it."""
        before, after = prev.text(), self._following_text(end)
        taken: list[Para] = []
        for p in run:
            if p.kind not in _HEAD_KINDS:
                if taken:  # banners and dates right after a trailing headline go with it
                    taken.append(p)
                continue
            score = overlap(p.text, before)
            if score >= MIN_OVERLAP and score > overlap(p.text, after):
                taken.append(p)
            else:
                break
        return taken

    def _following_text(self, j: int) -> str:
        parts: list[str] = []
        seen = False
        while j < len(self.paras):
            p = self.paras[j]
            if seen and p.kind in (*_HEAD_KINDS, Kind.LEAD, Kind.BYLINE):
                break
            if p.kind in (Kind.BODY, Kind.LEAD, Kind.LIST):
                parts.append(p.lead_body or p.text)
                seen = True
            j += 1
        return "".join(parts)

    # -- drafts

    def _open(self, start: int) -> _Draft:
        draft = _Draft(start)
        draft.captions.extend(self.pending)
        draft.section, self.pending, self.pending_section = self.pending_section, [], None
        self.drafts.append(draft)
        self.cur = draft
        return draft

    def _finish(self) -> list[Segment]:
        # Captions on a page with no article at all are photo news of their own.
        photo = [(cap.index, self._photo_segment(cap)) for cap in self.pending]
        for cap, prev in self.floating:
            k = next(n for n, d in enumerate(self.drafts) if d is prev)
            nxt = self.drafts[k + 1] if k + 1 < len(self.drafts) else None
            s_prev = overlap(cap.text, prev.text())
            s_next = overlap(cap.text, nxt.text()) if nxt is not None else 0.0
            if nxt is not None and s_next >= MIN_OVERLAP and s_next > s_prev:
                nxt.captions.append(cap)
            elif s_prev >= MIN_OVERLAP or explicit_caption(cap.text):
                prev.captions.append(cap)
            else:
                photo.append((cap.index, self._photo_segment(cap)))
        found = [(d.start, s) for d in self.drafts if (s := self._segment(d)) is not None]
        return [s for _, s in sorted(found + photo, key=lambda pair: pair[0])]

    def _photo_segment(self, cap: _Caption) -> Segment:
        body = clean_paragraph(cap.text)
        return Segment(
            title=derive_title(body), body=body, reporters=cap.names, captions=(cap.render(),),
            section=self.page_section, published=self.page_date,
        )

    def _segment(self, d: _Draft) -> Segment | None:
        body = join_body(d.body)
        if not body:
            return None
        subtitles: list[str] = []
        if d.heads:
            title, subtitles = choose_title(d.heads)
            # Headlines after a titled article belong to it only if they speak of it.
            subtitles += [strip_dash(p.text) for p in d.trailing if overlap(p.text, body) >= MIN_OVERLAP]
        elif d.trailing:
            title, subtitles = choose_title(d.trailing)
        else:
            title = derive_title(body)
        captions = sorted(d.captions, key=lambda c: c.index)
        return Segment(
            title=title,
            body=body,
            subtitle="\n".join(subtitles) or None,
            reporters=tuple(d.reporters),
            captions=tuple(c.render() for c in captions),
            section=d.section or self.page_section,
            published=d.date or self.page_date,
        )


def join_body(paras: list[Para]) -> str:
    """Body paragraphs cleaned, with sentences broken by the layout rejoined."""
    out: list[str] = []
    open_sentence = False
    for p in paras:
        text = clean_paragraph(p.lead_body if p.kind is Kind.LEAD else p.text)
        if not text:
            continue
        if out and open_sentence and p.kind is Kind.BODY:
            out[-1] = join_fragments(out[-1], text)
        else:
            out.append(text)
        open_sentence = p.kind in (Kind.BODY, Kind.LEAD) and not ends_sentence(out[-1])
    return "\n".join(out)
