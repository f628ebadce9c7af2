"""A story's figures over time: the same measure as its reports state it, date by date.

地铁2号线 完成总工程量 60% on 2025-03-12 and 85% on 2025-06-20 are one measure at two
dates; 沙溪河 总投资 12.6亿元 and 完成投资 8.3亿元 are two measures and are never put on
one line. A measure is a figure's kind, unit and the name its sentence gives it (see
`rag.text.measures`, the check the answer engine uses); only named figures count, and a
measure one report states with two different values is left out, since which value the
line should carry is not clear. A measure that never changes (全线21座车站 in every
report) is left out too: the table is about what moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.results import Figure
from rag.text.chunking import split_sentences
from rag.text.measures import measure_label
from rag.text.quantities import Quantity, find_quantities, same_quantity
from rag.types import Article

MAX_MEASURES = 4  # measures shown per story, those reported most often first
_MIN_LABEL = 2
_NAMES = {"号"}  # 2号线, 3号楼: a figure that names, not one that measures


@dataclass(frozen=True)
class _Report:
    measure: tuple[str, str, str | None]  # (name, kind, unit)
    date: str
    quantity: Quantity
    article: Article
    start: int  # of the sentence in the article
    end: int


def _reports(article: Article) -> list[_Report]:
    date = (article.published or "")[:10]
    if not date:
        return []
    found = []
    for start, end in split_sentences(article.text):
        sentence = article.text[start:end]
        for q in find_quantities(sentence):
            if q.kind in ("date", "ordinal") or q.value is None or q.approx or q.unit in _NAMES:
                continue
            name = measure_label(sentence, q)
            if len(name) >= _MIN_LABEL:
                found.append(_Report((name, q.kind, q.unit), date, q, article, start, end))
    return found


def figures_over_time(
    story: Sequence[Article], cite: Callable[[Article, int, int], int],
    max_measures: int = MAX_MEASURES,
) -> tuple[Figure, ...]:
    """The measures of `story` stated on two dates or more, each as its reports in date
    order; `cite(article, start, end)` numbers the passage holding a sentence."""
    by_measure: dict[tuple[str, str, str | None], dict[str, list[_Report]]] = {}
    for article in story:
        for report in _reports(article):
            by_measure.setdefault(report.measure, {}).setdefault(report.date, []).append(report)
    series = []
    for measure, dates in by_measure.items():
        if len(dates) < 2:
            continue
        if any(not same_quantity(r.quantity, reports[0].quantity) for reports in dates.values()
               for r in reports):
            continue  # one report, two values: which one the line carries is unclear
        reports = [dates[d][0] for d in sorted(dates)]
        if all(same_quantity(r.quantity, reports[0].quantity) for r in reports):
            continue  # the same every time: nothing moved
        series.append((measure, reports))
    series.sort(key=lambda s: -len(s[1]))
    figures = []
    for (name, _kind, unit), reports in series[:max_measures]:
        for r in reports:
            assert r.quantity.value is not None
            figures.append(Figure(name, r.date, r.quantity.text, float(r.quantity.value), unit,
                                  cite(r.article, r.start, r.end)))
    return tuple(figures)
