"""Reading a question: what kind of fact it asks for, and what it pins down.

One place for it, used by evidence selection (which sentence answers), the answer gate
(does the answer have the asked kind of fact, is its sentence about what was asked) and
verification (the names a quoted title or Latin identifier stands for).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from rag.text.normalize import fold, normalize
from rag.text.quantities import Quantity, find_quantities

# Quoted names: a title 《…》 or a short quotation.
QUOTED = re.compile(
    r"《([^》]{1,40})》|“([^”]{1,20})”|\"([^\"]{1,20})\"|「([^」]{1,20})」|『([^』]{1,20})』"
)
# A Latin word or identifier (5g, c919, covid-19) in folded text.
LATIN = re.compile(
    r"(?<![a-z0-9])(?:[a-z][a-z0-9]*|[0-9]+[a-z][a-z0-9]*)(?:[-.&][a-z0-9]+)*(?![a-z0-9])"
)

ASKS_DATE = re.compile(r"哪一?天|哪一?年|何时|什么时候|几月|几号|哪个月|哪一?日")
ASKS_FIGURE = re.compile(r"多少|几[个座名位家台辆套项次年月天人岁]?|比例|百分之|占比")
# "多少名 / 几座 / 多少亿元": the measure word the answer's number carries.
_ASKED_MEASURE = re.compile(r"(?:多少|几)(?:个)?(万|亿)?([名人位家座台辆套吨元米岁次项所户张份条只辆架艘株亩个钱])")
_ASKS_TITLE = re.compile(r"(?:标题|题目|书名|篇名|剧名|曲名)(?:是|叫)|(?:标题|题目|书名|名称)是什么")
_YES_NO = re.compile(r"是否|是不是|吗[？?]?$|有没有|能否|可否|对不对|还是")
_FOLLOW_UP = re.compile(r"它|他们|他|她|其|该|这|那|此|上述|呢[？?]?$")

_NUMBER = r"[0-9０-９.．,，]+|[零〇一二两三四五六七八九十百千万亿余多]+"
_PERSON = "名人位"
_UNITS = "吨元米岁亩次"  # a unit must match; any other classifier may be paraphrased as 个
_DATE_IN_ANSWER = re.compile(r"[0-9０-９一二三四五六七八九十〇零]+\s*[年月日号]")
_QUOTED_IN_ANSWER = re.compile(r"《[^》]+》|“[^”]+”|「[^」]+」|\"[^\"]+\"")
_FUNCTION_CHARS = frozenset("是的了在有和与及也都就为个")


def is_measure(token: str) -> bool:
    """`100km`, `5kg`: a number with a Latin unit, a quantity rather than a name."""
    quantities = find_quantities(token)
    return len(quantities) == 1 and quantities[0].text == token


@dataclass(frozen=True)
class Anchors:
    """What a question itself states and its answer must be about: numbers, ordinals and
    dates with a month (四届四次, 60岁以上, 12月27日), quoted names and Latin identifiers
    with a digit (5G, C919).

    Years are left out, since the sentence answering may say 今年 (a date given as 27日
    still matches 12月27日); so are the question's other names, which the answering
    sentence often leaves to its context (中心有床位18个 answers 岔沟村日间照料中心有多少床位).
    """

    quantities: tuple[Quantity, ...] = ()
    names: tuple[str, ...] = ()  # normalized, Latin ones width- and case-folded

    def __bool__(self) -> bool:
        return bool(self.quantities or self.names)


def _year_like(q: Quantity) -> bool:
    return q.kind == "number" and q.unit is None and q.value is not None and 1900 <= q.value <= 2100


@functools.lru_cache(maxsize=1024)
def question_anchors(question: str) -> Anchors:
    quantities = tuple(
        q for q in find_quantities(question)
        if not _year_like(q) and (q.kind != "date" or (q.date is not None and q.date[1] is not None))
    )
    names: list[str] = []
    for m in QUOTED.finditer(question):
        written = next(g for g in m.groups() if g is not None).strip()
        if normalize(written):
            names.append(normalize(written))
    for m in LATIN.finditer(fold(question)):
        # Only identifiers with a digit (5G, C919): GDP or AI is often written out in
        # Chinese (地区生产总值) where the answer comes from.
        token = m.group()
        if any(c.isdigit() for c in token) and not is_measure(question[m.start() : m.end()]):
            names.append(token)
    return Anchors(quantities, tuple(dict.fromkeys(names)))


def kind(question: str) -> str:
    """The kind of fact asked for: "figure", "date", "title", "yes_no" or "other"."""
    if _ASKS_TITLE.search(question):
        return "title"
    if ASKS_DATE.search(question):
        return "date"
    if ASKS_FIGURE.search(question):
        return "figure"
    if _YES_NO.search(question):
        return "yes_no"
    return "other"


def looks_like_follow_up(question: str) -> bool:
    return len(question.strip()) <= 6 or bool(_FOLLOW_UP.search(question))


def restates(question: str, answer: str) -> bool:
    """Whether the answer only hands the question's own words back (最初不是理论)."""
    said = {ch for ch in answer if ch.isalnum()}
    return bool(said) and not said - set(question) - _FUNCTION_CHARS and not _YES_NO.search(question)


def fits(question: str, answer: str) -> bool:
    """Whether the answer has the kind of fact the question asks for: a number with the
    asked measure for "how many <measure>" (104套摄像头 does not count 职工), a date for
    "when", a quoted title for "what is the title"; anything for other questions."""
    asked = _ASKED_MEASURE.search(question)
    if asked:
        word = "元" if asked.group(2) == "钱" else asked.group(2)  # 多少钱: an amount in 元
        measures = _PERSON if word in _PERSON else word if word in _UNITS else word + "个"
        # not an ordinal: 第一人民医院 counts no one
        return re.search(rf"(?<!第)(?:{_NUMBER})\s*(?:万|亿)?[{measures}]", answer) is not None
    if ASKS_DATE.search(question):
        return _DATE_IN_ANSWER.search(answer) is not None
    if _ASKS_TITLE.search(question):
        return _QUOTED_IN_ANSWER.search(answer) is not None
    return True
