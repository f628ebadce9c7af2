"""HTML for the web app: conversations, cited passages, briefs, articles, reports.

Every string that comes from a document (titles, passages, answers quoting them, file
names) goes through `esc()` before it is placed in HTML, and nothing here is ever fed to
a Markdown renderer: an article containing `<script>` or `**bold**` shows exactly that
text. Citation markers are links `<a class="cite" data-target=ID>` to entries of a
sources list; the page's script opens and highlights the entry (see web.CITE_JS).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from rag.results import REFUSAL
from rag.text.bigrams import content_bigrams
from rag.text.chunking import split_sentences

CONTEXT_CHARS = 80  # article text shown around a cited passage
MIN_SUPPORT = 0.25  # share of a claim's content bigrams a passage sentence needs to be emphasized
_TAIL = re.compile(r"[。！？；!?;.,，、]*[”’」』）)\"'》]*$")
_SLUG = re.compile(r"[^a-zA-Z0-9_-]")

REFUSAL_TITLE = REFUSAL.rstrip("。")


def esc(text: object) -> str:
    """HTML-escaped text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if text is None else str(text), quote=True)


def slug(text: str) -> str:
    return _SLUG.sub("-", text)


def source_label(source: str, source_name: str | None = None) -> str:
    """What to call where an article came from: its publication, else its file name
    (never a server path)."""
    if source_name:
        return source_name
    name = PurePath(source.split("#", 1)[0]).name
    return name or source


def cite_link(n: int, target: str) -> str:
    t = esc(target)
    return f'<a class="cite" href="#{t}" data-target="{t}" title="查看引用的原文">[{n}]</a>'


def cited_sentence(text: str, citations: Iterable[int], prefix: str) -> str:
    """A sentence with its citation links placed before its closing punctuation."""
    tail = _TAIL.search(text)
    cut = tail.start() if tail else len(text)
    links = "".join(cite_link(n, f"{prefix}-{n}") for n in citations)
    return esc(text[:cut]) + links + esc(text[cut:])


# ------------------------------------------------------------------ citations
def supporting_spans(passage: str, claims: Sequence[str]) -> list[tuple[int, int]]:
    """For each claim (a sentence citing the passage), the passage sentence sharing the
    most content with it, to emphasize within the highlighted passage; a claim no
    sentence shares enough with adds nothing."""
    sentences = [(start, end, content_bigrams(passage[start:end])) for start, end in split_sentences(passage)]
    spans: set[tuple[int, int]] = set()
    for claim in claims:
        wanted = content_bigrams(claim)
        if not wanted:
            continue
        best, best_score = None, MIN_SUPPORT
        for start, end, grams in sentences:
            score = len(grams & wanted) / len(wanted)
            if score > best_score:
                best, best_score = (start, end), score
        if best:
            spans.add(best)
    return sorted(spans)


def citation_view(citation: Any, article: Any | None, claims: Sequence[str] = ()) -> dict[str, Any]:
    """What the sources panel shows for one citation: metadata and the passage with
    some of the article text around it (taken now, so it survives the article being
    deleted later), and the span of the passage sentence that best matches `claims`
    (the sentences citing it)."""
    before = after = ""
    source_name = None
    if article is not None:
        text = article.text
        source_name = article.source_name
        if text[citation.start:citation.end] == citation.text:
            lo = max(0, citation.start - CONTEXT_CHARS)
            hi = min(len(text), citation.end + CONTEXT_CHARS)
            before = ("…" if lo > 0 else "") + text[lo:citation.start]
            after = text[citation.end:hi] + ("…" if hi < len(text) else "")
    return {
        "n": citation.n, "article_id": citation.article_id, "title": citation.title,
        "published": citation.published, "source": source_label(citation.source, source_name),
        "before": before, "text": citation.text, "after": after,
        "support": supporting_spans(citation.text, claims),
    }


def cite_entry(view: Mapping[str, Any], entry_id: str, *, open_: bool = False) -> str:
    """One cited passage: a collapsible entry whose body highlights the passage."""
    meta = " · ".join(esc(x) for x in (view.get("published") or "日期不详", view["source"]))
    text, parts, at = view["text"], [], 0
    for lo, hi in view.get("support") or ():
        parts.append(f'{esc(text[at:lo])}<strong class="support">{esc(text[lo:hi])}</strong>')
        at = hi
    passage = "".join(parts) + esc(text[at:])
    body = (
        f'<span class="ctx">{esc(view["before"])}</span>'
        f'<mark class="passage">{passage}</mark>'
        f'<span class="ctx">{esc(view["after"])}</span>'
    )
    return (
        f'<details class="cite-entry" id="{esc(entry_id)}"{" open" if open_ else ""}>'
        f'<summary><span class="cite-n">[{view["n"]}]</span>'
        f'<span class="cite-title">{esc(view["title"])}</span>'
        f'<span class="cite-meta">{meta}</span></summary>'
        f'<div class="cite-body">{body}</div>'
        f'<div class="cite-id">文章 {esc(view["article_id"][:12])}</div></details>'
    )


# -------------------------------------------------------------------- chat
def render_chat(turns: Sequence[Mapping[str, Any]], empty_hint: str = "") -> str:
    if not turns:
        hint = esc(empty_hint) if empty_hint else ""
        return (
            '<div class="rag-chat"><div class="chat-empty">'
            '<div class="chat-empty-title">向资料库提问</div>'
            '<div>回答只依据已收录的新闻，每句话都标注出处；点击 <span class="cite-demo">[1]</span> '
            f'可在右侧查看原文。</div><div class="chat-empty-hint">{hint}</div></div></div>'
        )
    parts = ['<div class="rag-chat">']
    for i, turn in enumerate(turns, start=1):
        parts.append(f'<div class="msg user"><div class="bubble">{esc(turn["question"])}</div></div>')
        parts.append(f'<div class="msg bot" id="turn-{i}">{_bot_message(turn, f"q{i}")}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_evidence(evidence: Sequence[Mapping[str, Any]]) -> str:
    """The evidence sentences, shown while the model writes its answer."""
    items = "".join(
        f'<li><span class="evidence-n">[{int(e["n"])}]</span> {esc(e["text"])}'
        f'<span class="evidence-meta">《{esc(e["title"])}》{esc((e.get("published") or "日期不详")[:10])}</span></li>'
        for e in evidence
    )
    return f'<div class="evidence"><div class="evidence-title">依据</div><ol>{items}</ol></div>'


def _bot_message(turn: Mapping[str, Any], prefix: str) -> str:
    out = []
    standalone = turn.get("standalone")
    if standalone and standalone != turn["question"]:
        out.append(f'<div class="rewritten">理解为：{esc(standalone)}</div>')
    status = turn["status"]
    if status == "pending":
        draft = turn.get("draft") or ""
        evidence = turn.get("evidence") or ()
        if draft:
            text = esc(draft)
        elif evidence:
            text = '<span class="thinking">已找到依据，正在组织回答…</span>'
        else:
            text = '<span class="thinking">正在查找资料…</span>'
        out.append(f'<div class="bubble answer streaming">{text}<span class="cursor"></span></div>')
        if evidence:
            out.append(render_evidence(evidence))
    elif status == "error":
        out.append(f'<div class="bubble error"><b>出错了：</b>{esc(turn.get("message"))}</div>')
    elif status == "refused":
        links = "".join(
            f'<li>{cite_link(c["n"], prefix + "-" + str(c["n"]))} {esc(c["title"])}</li>'
            for c in turn.get("citations", ())
        )
        closest = f'<div class="closest">最接近的资料：<ul>{links}</ul></div>' if links else ""
        out.append(
            f'<div class="bubble refusal"><div class="refusal-title">{REFUSAL_TITLE}</div>'
            f'<div class="refusal-note">已收录的新闻不足以回答这个问题，以下资料与问题最接近，可供参考。</div>'
            f"{closest}</div>"
        )
    else:
        text = "".join(
            cited_sentence(s["text"], s["citations"], prefix) for s in turn.get("sentences", ())
        )
        notes = []
        if turn.get("dropped"):
            notes.append(f"另有 {turn['dropped']} 句无法在资料中核实，已删去")
        if turn.get("seconds") is not None:
            notes.append(f"用时 {turn['seconds']:.1f} 秒")
        foot = f'<div class="answer-foot">{esc("；".join(notes))}</div>' if notes else ""
        out.append(f'<div class="bubble answer">{text}{foot}</div>')
    return "".join(out)


def render_sources(turns: Sequence[Mapping[str, Any]]) -> str:
    """The side panel: the passages each answer cites, newest answer first."""
    groups = []
    for i in range(len(turns), 0, -1):
        turn = turns[i - 1]
        views = turn.get("citations") or ()
        if turn["status"] in ("pending", "error") or not views:
            continue
        label = "最接近的资料" if turn["status"] == "refused" else "引用的资料"
        entries = "".join(cite_entry(v, f"q{i}-{v['n']}") for v in views)
        latest = " latest" if i == len(turns) else ""
        groups.append(
            f'<div class="source-group{latest}"><div class="source-head">'
            f'<span class="turn-n">第 {i} 问</span> {label} · {esc(turn["question"])}</div>'
            f"{entries}</div>"
        )
    if not groups:
        return '<div class="rag-sources"><div class="sources-empty">回答引用的原文会列在这里。</div></div>'
    return '<div class="rag-sources">' + "".join(groups) + "</div>"


# ------------------------------------------------------------------- briefs
def render_brief(brief: Any, views: Sequence[Mapping[str, Any]], prefix: str = "brief") -> str:
    """A brief (or a one-article summary) with cited sentences and its sources."""
    span = _date_span(brief.since, brief.until)
    title = brief.topic or (f"{span}要闻" if span else "简报")
    if not brief.sections:
        return (
            f'<div class="rag-brief"><h2>{esc(title)}</h2><div class="bubble refusal">'
            f'<div class="refusal-title">没有找到相关文章</div>'
            f'<div class="refusal-note">试试换一个主题，或放宽日期范围。</div></div></div>'
        )
    meta = [f"{len(brief.articles)} 篇文章"]
    if span:
        meta.insert(0, span)
    parts = [f'<div class="rag-brief"><h2>{esc(title)}</h2><div class="brief-meta">{esc(" · ".join(meta))}</div>']
    for section in brief.sections:
        sentences = [s for s in section.sentences if s.supported]
        if not sentences:
            continue
        sub = _date_span(section.since, section.until)
        n = len(section.article_ids)
        sub_meta = " · ".join(x for x in (sub, f"{n} 篇报道" if n > 1 else "") if x)
        text = "".join(cited_sentence(s.text, s.citations, prefix) for s in sentences)
        heading = f"<h3>{esc(section.heading)}</h3>" if len(brief.sections) > 1 or section.heading != brief.topic else ""
        meta_html = f'<div class="section-meta">{esc(sub_meta)}</div>' if sub_meta and heading else ""
        figures = render_figures(section.figures, prefix) if section.figures else ""
        parts.append(f'<section class="brief-section">{heading}{meta_html}<p>{text}</p>{figures}</section>')
    if views:
        parts.append('<h4 class="brief-sources-title">来源</h4><div class="rag-sources">')
        parts.extend(cite_entry(v, f"{prefix}-{v['n']}") for v in views)
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def render_figures(figures: Sequence[Any], prefix: str = "brief") -> str:
    """A story's figures over time: a chart per measure and the table of its reports."""
    measures: dict[str, list[Any]] = {}
    for f in figures:
        measures.setdefault(f.measure, []).append(f)
    charts = "".join(_figure_chart(name, points) for name, points in measures.items())
    rows = "".join(
        f"<tr><td>{esc(f.date)}</td><td>{esc(f.measure)}</td><td class=\"num\">{esc(f.text)}</td>"
        f"<td>{cite_link(f.citation, f'{prefix}-{f.citation}')}</td></tr>"
        for f in figures
    )
    return (f'<div class="brief-figures"><div class="figure-charts">{charts}</div>'
            '<table class="figure-table"><thead><tr><th>日期</th><th>指标</th><th>数值</th>'
            f'<th>出处</th></tr></thead><tbody>{rows}</tbody></table></div>')


def _figure_chart(name: str, points: Sequence[Any], width: int = 280, height: int = 150) -> str:
    """An inline SVG line of one measure's reports: dates along, values up from zero."""
    import datetime as dt

    days = [dt.date.fromisoformat(p.date).toordinal() for p in points]
    left, right, top, bottom = 36, 36, 26, 30
    span = max(1, days[-1] - days[0])
    top_value = max(max(p.value for p in points), 0.0) * 1.15 or 1.0
    low = min(0.0, min(p.value for p in points))

    def xy(day: int, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * (day - days[0]) / span
        y = height - bottom - (height - top - bottom) * (value - low) / (top_value - low)
        return round(x, 1), round(y, 1)

    coords = [xy(d, p.value) for d, p in zip(days, points, strict=True)]
    line = " ".join(f"{x},{y}" for x, y in coords)
    marks = "".join(
        f'<circle cx="{x}" cy="{y}" r="3.5"/>'
        f'<text x="{x}" y="{y - 8}" text-anchor="middle" class="value">{esc(p.text)}</text>'
        f'<text x="{x}" y="{height - 10}" text-anchor="middle" class="date">{esc(p.date[2:])}</text>'
        for (x, y), p in zip(coords, points, strict=True)
    )
    axis = f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" class="axis"/>'
    return (f'<figure class="figure-chart"><svg viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{esc(name)}">{axis}'
            f'<polyline points="{line}" class="line"/>{marks}</svg>'
            f'<figcaption>{esc(name)}</figcaption></figure>')


def _date_span(since: str | None, until: str | None) -> str:
    if since and until:
        return since if since == until else f"{since} 至 {until}"
    if since:
        return f"{since} 起"
    if until:
        return f"截至 {until}"
    return ""


# ------------------------------------------------------------------ library
def render_article(article: Any, passages: Sequence[Any]) -> str:
    """One article: metadata, body, photo captions and the passages it is indexed as."""
    meta = [article.published or "日期不详", source_label(article.source, article.source_name)]
    if article.reporters:
        meta.append("记者 " + "、".join(article.reporters))
    if article.section:
        meta.append(article.section)
    body = "".join(f"<p>{esc(p)}</p>" for p in article.text.split("\n") if p.strip())
    parts = ['<div class="rag-article">', f"<h2>{esc(article.title)}</h2>"]
    if article.subtitle:
        parts.append(f'<div class="subtitle">{esc(article.subtitle)}</div>')
    parts.append(f'<div class="article-meta">{esc(" · ".join(meta))}</div>')
    parts.append(f'<div class="article-body">{body}</div>')
    if article.captions:
        items = "".join(f"<li>{esc(c)}</li>" for c in article.captions)
        parts.append(f'<div class="captions"><div class="label">图片说明</div><ul>{items}</ul></div>')
    items = "".join(
        f'<li><span class="span">{p.start}–{p.end}</span>{esc(p.text)}</li>' for p in passages
    )
    parts.append(
        f'<details class="passages"><summary>检索段落（{len(passages)}）</summary><ol>{items}</ol></details>'
        f'<div class="cite-id">文章 ID {esc(article.id)} · 文件 {esc(source_label(article.source))}</div></div>'
    )
    return "".join(parts)


def render_ingest(results: Sequence[Mapping[str, Any]]) -> str:
    """Per-file outcome of an upload: added / updated / unchanged / skipped, and why."""
    if not results:
        return ""
    rows = []
    for r in results:
        rows.append(
            f'<tr class="st-{esc(r["status"])}"><td class="file">{esc(r["file"])}</td>'
            f'<td><span class="badge">{esc(r["label"])}</span></td><td>{esc(r["detail"])}</td></tr>'
        )
    return (
        '<div class="rag-ingest"><table><thead><tr><th>文件</th><th>结果</th><th>说明</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
    )


def render_stats(stats: Mapping[str, Any] | None) -> str:
    if not stats:
        return '<div class="rag-stats empty">资料库还是空的：上传新闻文件开始使用。</div>'
    span = _date_span(stats.get("earliest"), stats.get("latest")) or "—"
    mb = stats.get("disk_bytes", 0) / 1e6
    cells = [
        ("文章", f"{stats['articles']:,}"), ("段落", f"{stats['passages']:,}"),
        ("来源", f"{stats['sources']:,}"), ("时间范围", span), ("占用", f"{mb:.1f} MB"),
    ]
    items = "".join(f'<div class="stat"><div class="v">{esc(v)}</div><div class="k">{k}</div></div>' for k, v in cells)
    model = esc(stats.get("embedding_model", ""))
    return f'<div class="rag-stats">{items}<div class="stat model"><div class="v">{model}</div><div class="k">嵌入模型</div></div></div>'


def render_notice(text: str, kind: str = "info") -> str:
    return f'<div class="rag-notice {esc(kind)}">{esc(text)}</div>'
