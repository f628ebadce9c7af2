"""Summaries and briefs as Markdown: headings, cited paragraphs and the reference list.

Document text is escaped (`md_escape`), so nothing in an article becomes markup, a link
or HTML in what we render.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.results import REFUSAL, BriefSentence, Citation, Figure, Section
from rag.types import Article

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def md_escape(text: str) -> str:
    """Document text as literal Markdown: no markup, links or HTML can come from it."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def _paragraph(sentences: Sequence[BriefSentence]) -> str:
    return "".join(
        md_escape(s.text) + "".join(f"[{n}]" for n in s.citations) for s in sentences
    )


def _references(citations: Sequence[Citation]) -> list[str]:
    lines = ["## 引用", ""]
    for c in citations:
        snippet = c.text.replace("\n", " ")
        snippet = snippet[:90] + ("…" if len(snippet) > 90 else "")
        lines.append(
            f"{c.n}. 《{md_escape(c.title)}》{(c.published or '日期不详')[:10]}：{md_escape(snippet)}"
            f"（文章 `{c.article_id}`，第 {c.start}–{c.end} 字）"
        )
    return lines


def _figures_table(figures: Sequence[Figure]) -> list[str]:
    """The story's figures over time: one row per report, each measure's rows together
    in date order."""
    lines = ["| 日期 | 指标 | 数值 | 出处 |", "|---|---|---:|---|"]
    lines += [f"| {f.date} | {md_escape(f.measure)} | {md_escape(f.text)} | [{f.citation}] |"
              for f in figures]
    return lines + [""]


def render_summary(article: Article, sections: Sequence[Section], citations: Sequence[Citation]) -> str:
    meta = " · ".join(x for x in ((article.published or "")[:10], article.source_name or "") if x)
    lines = [f"# 摘要：{md_escape(article.title)}", ""]
    if meta:
        lines += [f"*{md_escape(meta)}*", ""]
    if not sections:
        lines += ["（这篇文章没有可摘要的正文。）", ""]
    for section in sections:
        lines += [_paragraph(section.sentences), ""]
    return "\n".join(lines + _references(citations)).rstrip() + "\n"


def render_brief(
    topic: str | None, since: str | None, until: str | None, sections: Sequence[Section],
    citations: Sequence[Citation], n_articles: int,
) -> str:
    title = f"# 简报：{md_escape(topic)}" if topic else "# 简报"
    span = f"{since or '最早'} 至 {until or '最新'}" if since or until else "全部日期"
    lines = [title, "", f"*{span} · {n_articles} 篇报道 · {len(sections)} 个主题*", ""]
    if not sections:
        lines += [REFUSAL, ""]
    for i, section in enumerate(sections, 1):
        dates = section.since if section.since == section.until else f"{section.since} 至 {section.until}"
        lines += [f"## {i}. {md_escape(section.heading)}", ""]
        lines += [f"*{dates or '日期不详'} · {len(section.article_ids)} 篇报道*", ""]
        lines += [_paragraph(section.sentences), ""]
        if section.figures:
            lines += _figures_table(section.figures)
    return "\n".join(lines + (_references(citations) if citations else [])).rstrip() + "\n"
