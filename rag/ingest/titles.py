"""Titles: choosing the main headline of a headline block, or deriving one from the body."""

from __future__ import annotations

import re

from rag.ingest.clean import CJK_RANGES, visible_length
from rag.ingest.lines import Kind, Para, strip_lead
from rag.text.bigrams import char_bigrams

TITLE_MAX = 30
# Clauses that only say when: "12月27日", "当地时间7月23日", "26日上午", "近日".
_CJK_RUNS = re.compile(f"[{CJK_RANGES}]+")
_TIME_CLAUSE = re.compile(
    r"^(?:当地时间|北京时间)?(?:(?:\d{4}年)?(?:\d{1,2}月)?\d{1,2}日(?:[上下]午|晚|早|凌晨|傍晚|晚间)?"
    r"|近日|日前|近期|昨天|昨日|今天|今日)$"
)


def derive_title(body: str) -> str:
    """A title from the first sentence of a body, at most 30 characters.

    Leading clauses that only give the time ("12月27日,") are skipped; then whole clauses
    are taken while they fit.
    """
    first = strip_lead(body.split("\n", 1)[0])
    sentence = re.split(r"[。！？!?；;]", first)[0].strip()
    clauses = re.split(r"(?<=[，,、：:])", sentence)
    while len(clauses) > 1 and _TIME_CLAUSE.match(clauses[0].strip(" ，,、：:")):
        clauses.pop(0)
    taken: list[str] = []
    for clause in clauses:
        if len("".join(taken)) + len(clause.rstrip("，,、：:")) > TITLE_MAX:
            break
        taken.append(clause)
    while len(taken) > 1 and _TIME_CLAUSE.match(taken[-1].strip(" ，,、：:")):
        taken.pop()
    return ("".join(taken) or clauses[0][:TITLE_MAX]).strip(" ，,、：:")


def overlap(line: str, text: str) -> float:
    """Share of the line's character bigrams that occur in `text` (0..1)."""
    grams = char_bigrams(line, _CJK_RUNS)
    return len(grams & char_bigrams(text, _CJK_RUNS)) / len(grams) if grams else 0.0


def _slogan(text: str) -> bool:
    parts = text.split()
    return len(parts) >= 2 and all(visible_length(p) <= 4 for p in parts)


def _is_kicker(line: str, later: list[str]) -> bool:
    """A line set above the main headline: a slogan ("减人 提效 增安") or a short tag line."""
    if _slogan(line):
        return True
    n = visible_length(re.sub("[“”\"‘’]", "", line))
    return n <= 8 and any(visible_length(x) >= 2 * n and not _slogan(x) for x in later)


def strip_dash(text: str) -> str:
    return text.lstrip("—－-― ").strip()


def choose_title(heads: list[Para]) -> tuple[str, list[str]]:
    """The main headline of a headline block, and the other lines (kickers, subtitles)."""
    plain = [h for h in heads if h.kind is not Kind.SUBTITLE]
    main = heads[0] if not plain else plain[-1]
    for k, h in enumerate(plain[:-1]):
        if not _is_kicker(h.text, [x.text for x in plain[k + 1 :]]):
            main = h
            break
    others = [strip_dash(h.text) for h in heads if h is not main]
    return strip_dash(main.text), [o for o in others if o]
