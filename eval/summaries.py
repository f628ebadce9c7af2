"""Summary and brief evaluation.

Summary items (an article and a reference summary): the articles are ingested into a
fresh index in the output folder and each is summarized with `Service.summarize`; the
output is scored by character ROUGE-L against the reference, the share of the
reference's numbers, dates and names it states (key-fact recall) and citation precision.

Brief items (a topic, optional dates, facts the brief must contain): briefed with
`Service.brief` against an existing index; key-fact recall counts `must_contain`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.service import Service

from . import textmetrics as tm
from .data import BriefItem, DataError, SummaryItem
from .metrics import citation_precision_one, latency, mean_defined

SCORES = ("rouge_l", "key_fact_recall", "citation_precision", "citation_figures")


def require(service: Service, method: str) -> None:
    if not callable(getattr(service, method, None)):
        raise DataError(f"this version of rag has no Service.{method}; it cannot be evaluated")


def ingest_articles(service: Service, items: Sequence[SummaryItem], folder: Path) -> dict[str, str]:
    """Index the items' articles; returns {item id: article id}. Idempotent: a restart
    re-reads the file and embeds nothing new."""
    path = folder / "articles.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for it in items:
            record = {"id": it.id, "title": it.title, "published": it.published, "text": it.article}
            fh.write(json.dumps({k: v for k, v in record.items() if v}, ensure_ascii=False) + "\n")
    service.ingest([path])
    by_key = {key: aid for aid, key in service.article_keys().items()}
    return {it.id: by_key[it.id] for it in items if it.id in by_key}


def output_text(brief: Any) -> str:
    """The brief's prose: its sentences, without headings and citation markers."""
    sentences = list(getattr(brief, "sentences", ()) or ())
    if sentences:
        return "".join(s.text for s in sentences)
    return tm.strip_markers(brief.markdown)


def _pairs(brief: Any) -> list[tuple[str, str]]:
    by_n = {c.n: c for c in brief.citations}
    return [
        (s.text, by_n[n].evidence)
        for s in brief.sentences for n in s.citations if n in by_n
    ]


def _cited(brief: Any) -> list[tuple[str, list[str]]]:
    by_n = {c.n: c for c in brief.citations}
    return [(s.text, [by_n[n].text for n in s.citations if n in by_n]) for s in brief.sentences]


def score(item: SummaryItem | BriefItem, brief: Any) -> dict[str, Any]:
    """The record of one summary or brief: output, citations, scores, timings."""
    text = output_text(brief)
    if isinstance(item, SummaryItem):
        reference: str | None = item.summary
        facts: list[tm.Fact | str] = list(tm.key_facts(item.summary))
    else:
        reference = item.summary
        facts = list(item.must_contain)
    scores = {
        "rouge_l": tm.rouge_l_one(text, reference) if reference else None,
        "key_fact_recall": tm.key_fact_recall_one(text, facts),
        "citation_precision": citation_precision_one(_pairs(brief)),
        # independent of the product's verifier: each sentence's figures, as written, in
        # the passages it cites
        "citation_figures": tm.figures_in_cited_one(_cited(brief)),
    }
    return {
        "id": item.id,
        "kind": "summary" if isinstance(item, SummaryItem) else "brief",
        "topic": getattr(item, "topic", None),
        "gold": reference,
        "facts": [f if isinstance(f, str) else f.text for f in facts],
        "facts_missing": [
            f if isinstance(f, str) else f.text for f in facts if not tm.fact_found(f, text)
        ],
        "prediction": text,
        "markdown": brief.markdown,
        "articles": list(getattr(brief, "articles", ()) or ()),
        "sentences": [
            {"text": s.text, "citations": list(s.citations), "supported": s.supported}
            for s in brief.sentences
        ],
        "citations": [{"n": c.n, "title": c.title, "text": c.text} for c in brief.citations],
        "scores": scores,
        "timings": {k: round(float(v), 4) for k, v in (getattr(brief, "timings", {}) or {}).items()},
    }


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary.json sections of a summary/brief run, from its item records."""
    scored = [r for r in records if "scores" in r]
    out: dict[str, Any] = {
        "summary": {m: mean_defined([r["scores"].get(m) for r in scored]) for m in SCORES},
    }
    totals = [r["timings"]["total_s"] for r in scored if "total_s" in r["timings"]]
    if totals:
        out["latency_s"] = latency(totals)
    stages = sorted({k for r in scored for k in r["timings"]})
    out["latency_stages_s"] = {
        k: latency([r["timings"][k] for r in scored if k in r["timings"]]) for k in stages
    }
    out["counts"] = {
        "summaries": sum(r["kind"] == "summary" for r in scored),
        "briefs": sum(r["kind"] == "brief" for r in scored),
        **{f"with_{m}": sum(r["scores"][m] is not None for r in scored) for m in SCORES},
    }
    return out


def worst(records: Sequence[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """Lowest key-fact recall first, then lowest ROUGE-L."""
    scored = [r for r in records if "scores" in r]
    return sorted(
        scored,
        key=lambda r: (r["scores"]["key_fact_recall"] if r["scores"]["key_fact_recall"] is not None else 1.0,
                       r["scores"]["rouge_l"] or 0.0),
    )[:n]
