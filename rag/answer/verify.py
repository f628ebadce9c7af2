"""Checks that cited passages support the sentences citing them.

A small local model cites the wrong passage now and then and invents numbers when it
cannot answer, so its citations are evidence to check, not facts. `verify` keeps a
sentence only when a passage states every number, date and name in it, moves a citation
to the passage that does when the model pointed elsewhere, and drops the rest.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.citations import Sentence, is_refusal, parse_citations, with_markers
from rag.answer.question import LATIN, QUOTED, Anchors, is_measure
from rag.text.bigrams import char_bigrams
from rag.text.normalize import fold, normalize
from rag.text.quantities import CN_NUMERALS, Quantity, find_quantities, same_quantity
from rag.text.words import posseg

__all__ = [
    "Support",
    "Verified",
    "VerifiedSentence",
    "check_support",
    "states_anchors",
    "states_quantity",
    "verify",
    "warm_up",
]

DEFAULT_MIN_OVERLAP = 0.3
DEFAULT_MIN_FACT_OVERLAP = 0.15

# ---------------------------------------------------------------- facts

_NAME_FLAGS = ("nr", "ns", "nt", "nz")
# Dictionary words jieba tags as place names that are no particular place.
_GENERIC_NAMES = frozenset({"外国"})
_CONTENT = re.compile(r"[0-9a-z\u3400-\u9fff]+")
# List numbering in front of a sentence (1. / 2、 / (3) / 一、 / 第一，) is layout, not a fact.
_ENUMERATOR = re.compile(
    r"^\s*(?:#+\s*|[-*•·+]\s+|\d{1,2}(?:\.(?!\d)|[、)）])\s*|[（(]\d{1,2}[)）]\s*"
    r"|[一二三四五六七八九十]{1,3}、|第[一二三四五六七八九十]{1,3}[，,、]|首先[，,]|其次[，,])"
)


def warm_up() -> None:
    """Load the segmenter's dictionary now (about a second) instead of on first use."""
    posseg()


@dataclass(frozen=True)
class _Facts:
    quantities: tuple[Quantity, ...]
    names: tuple[tuple[str, str], ...]  # (normalized name, as written)
    bigrams: frozenset[str]


@dataclass(frozen=True)
class _Source:
    text: str  # normalized
    folded: str  # width- and case-folded only, where Latin word boundaries survive
    quantities: tuple[Quantity, ...]
    bigrams: frozenset[str]


def _bigrams(norm: str) -> frozenset[str]:
    return char_bigrams(norm, _CONTENT, singles=True)


def _tagged_names(text: str) -> list[str]:
    """Person, place, organisation and other proper names jieba finds in `text`."""
    words = [(w.word.strip(), w.flag) for w in posseg().cut(text)]
    found: list[str] = []
    i = 0
    while i < len(words):
        word, flag = words[i]
        if flag.startswith("nr") and len(word) == 1 and i + 1 < len(words):
            # A surname the segmenter split from its given name: 李 / 四海.
            nxt, nxt_flag = words[i + 1]
            if nxt_flag.startswith("n") and 1 <= len(nxt) <= 2 and _CONTENT.fullmatch(nxt):
                word, flag = word + nxt, "nr"
                i += 1
        i += 1
        if (
            flag.startswith(_NAME_FLAGS)
            and len(word) >= 2
            and word not in _GENERIC_NAMES
            and not any(c.isdigit() for c in word)
        ):
            found.append(word)
    return found


@functools.lru_cache(maxsize=4096)
def _sentence_facts(text: str) -> _Facts:
    text = _ENUMERATOR.sub("", text, count=1)
    norm = normalize(text)
    quantities = tuple(find_quantities(text))
    names: dict[str, str] = {}
    for m in QUOTED.finditer(text):
        written = next(g for g in m.groups() if g is not None).strip()
        if normalize(written):
            names.setdefault(normalize(written), written)
    counted = {text[q.end - 1 : q.end] for q in quantities if q.unit in _CLASSIFIERS}
    for name in _tagged_names(text):
        # 18张床位 is no Mr 张: a "name" that starts with the classifier of a count
        if name[0] in counted and re.search(rf"[0-9{CN_NUMERALS}]{re.escape(name)}", text):
            continue
        names.setdefault(normalize(name), name)
    for m in LATIN.finditer(fold(text)):
        written = text[m.start() : m.end()]
        if len(written) >= 2 and not is_measure(written):
            names.setdefault(m.group(), written)
    return _Facts(quantities, tuple(names.items()), _bigrams(norm))


@functools.lru_cache(maxsize=1024)
def _source(text: str) -> _Source:
    norm = normalize(text)
    return _Source(norm, fold(text), tuple(find_quantities(text)), _bigrams(norm))


# Classifiers of counted things; 个 stands in for any of them (床位18个 is 18张床位).
_CLASSIFIERS = frozenset("个座家台辆架艘件套项条所栋幢只头棵株场张份处支颗枚块间根片幅首部本篇户")


def _same_count(q: Quantity, p: Quantity) -> bool:
    return (
        q.kind == p.kind == "number" and q.value == p.value and "个" in (q.unit, p.unit)
        and q.unit in _CLASSIFIERS and p.unit in _CLASSIFIERS
    )


def _states(p: Quantity, q: Quantity) -> bool:
    """Whether the source's quantity `p` states the claim's `q`: the same fact, and for a
    date the day the claim gives, and its month unless the source names a day of the
    month its context gives (5日 in a March report states 3月5日). 2025年底 does not state
    2025年12月28日; a year the source leaves to its context may be absent."""
    if not same_quantity(q, p):
        return False
    if q.kind == "date" and p.kind == "date" and q.date is not None and p.date is not None:
        (_, q_month, q_day), (_, p_month, p_day) = q.date, p.date
        if q_day is not None and p_day is None:
            return False
        if q_month is not None and p_month is None and p_day is None:
            return False
    return True


def _quantity_in(q: Quantity, src: _Source) -> bool:
    if any(_states(p, q) or _same_count(q, p) for p in src.quantities):
        return True
    # The same words, even if read differently (三亚, 十一假期), state the same thing. Bare
    # digits are left out: `5` read as 5万元 in a range must not match any other 5.
    literal = normalize(q.text)
    if len(literal) < 2 or literal.isascii():
        return False
    # 四次 is not in 三十四次: a literal that starts with a numeral must start the number.
    before = "0-9." + (CN_NUMERALS if literal[0] in CN_NUMERALS else "")
    return re.search(rf"(?<![{before}]){re.escape(literal)}(?![0-9])", src.text) is not None


# Administrative suffixes a writer adds or drops freely: 柳林县 is 柳林 in the next line.
_ADMIN_SUFFIX = re.compile(r"(?<=..)(?:省|市|县|区|镇|乡|村)$")


def _name_in(name: str, src: _Source) -> bool:
    if name.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", src.folded) is not None
    return name in src.text or _ADMIN_SUFFIX.sub("", name) in src.text


@dataclass(frozen=True)
class Support:
    """How well a passage supports a sentence.

    `missing` lists the facts of the sentence (numbers, dates, names, as written) that
    the passage does not state; `score` is the share of the sentence's character bigrams
    found in the passage; `facts` lists every fact that was checked.
    """

    supported: bool
    missing: tuple[str, ...]
    score: float
    facts: tuple[str, ...] = ()


def _support(
    facts: _Facts, sources: Sequence[_Source], min_overlap: float, min_fact_overlap: float
) -> Support:
    missing: list[str] = []
    for q in facts.quantities:
        if not any(_quantity_in(q, s) for s in sources):
            missing.append(q.text)
    for name, written in facts.names:
        if not any(_name_in(name, s) for s in sources):
            missing.append(written)
    if facts.bigrams:
        found = frozenset().union(*(s.bigrams for s in sources)) & facts.bigrams
        score = len(found) / len(facts.bigrams)
    else:
        score = 0.0
    checked = tuple(q.text for q in facts.quantities) + tuple(w for _, w in facts.names)
    # A sentence with checked facts is anchored by them; one without needs more wording
    # in common before we believe the passage says it.
    threshold = min_fact_overlap if checked else min_overlap
    return Support(not missing and score >= threshold, tuple(missing), score, checked)


def check_support(
    sentence_text: str,
    passage_text: str,
    *,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    min_fact_overlap: float = DEFAULT_MIN_FACT_OVERLAP,
) -> Support:
    """Whether `passage_text` supports `sentence_text`.

    Every number, amount, percent and date in the sentence must occur in the passage
    (compared by value and unit, see `same_quantity`), and every name must occur in it
    after normalization: quoted names (《…》, “…”), person, place and organisation names
    found by jieba, and Latin tokens (5G, AI). Beyond that the sentence's character-bigram
    recall in the passage must reach `min_fact_overlap` when it has such facts and
    `min_overlap` when it has none.
    """
    return _support(
        _sentence_facts(sentence_text), [_source(passage_text)], min_overlap, min_fact_overlap
    )


# ---------------------------------------------------------------- what a question pins down


# A question asking when: its answer is a date.
def states_anchors(anchors: Anchors, text: str) -> bool:
    """Whether `text` states every number and name the question pinned down."""
    src = _source(text)
    return all(_quantity_in(q, src) for q in anchors.quantities) and all(
        _name_in(n, src) for n in anchors.names
    )


def states_quantity(q: Quantity, text: str) -> bool:
    """Whether `text` states the quantity `q` (by value and unit, or in the same words)."""
    return _quantity_in(q, _source(text))


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifiedSentence:
    """An answer sentence after checking.

    `citations` are the passages that support it (1-based); `cited` what the model cited.
    `reattached` is True when the citation was moved to (or, for an uncited sentence,
    given) a passage the model did not cite. `missing` lists the facts no cited passage
    states when the sentence is unsupported. `refusal` marks sentences saying the sources
    do not answer; those are never attached to a passage.
    """

    text: str
    citations: tuple[int, ...]
    supported: bool
    reattached: bool = False
    missing: tuple[str, ...] = ()
    refusal: bool = False
    score: float = 0.0
    cited: tuple[int, ...] = ()


@dataclass(frozen=True)
class Verified:
    """A checked answer: every sentence, the answer rebuilt from the supported sentences
    (with `[n]` markers) and the refusal sentences that state no numbers, and whether any
    sentence is supported."""

    sentences: tuple[VerifiedSentence, ...]
    kept_text: str
    any_supported: bool


def _new_facts(facts: _Facts, given: _Source | None) -> _Facts:
    """The facts of a sentence less the numbers `given` (the question) already states:
    a number an answer repeats from its question (提到了五个方面 for 谁提到了五个方面) is
    the user's, not a claim the passage must make. Names stay: an answer about a name
    its passage never mentions is about something else (measured on chinese_squad_dev,
    where exempting them let a quarter of the unanswerable questions through)."""
    if given is None:
        return facts
    return _Facts(
        tuple(q for q in facts.quantities if not _quantity_in(q, given)),
        facts.names,
        facts.bigrams,
    )


def _check_sentence(
    s: Sentence, sources: Sequence[_Source], min_overlap: float, min_fact_overlap: float,
    given: _Source | None = None,
) -> VerifiedSentence:
    if is_refusal(s.text):
        return VerifiedSentence(s.text, (), False, refusal=True, cited=s.citations)
    facts = _new_facts(_sentence_facts(s.text), given)
    results = {
        i: _support(facts, [sources[i - 1]], min_overlap, min_fact_overlap)
        for i in range(1, len(sources) + 1)
    }
    ok = [i for i in s.citations if results[i].supported]
    if ok:
        return VerifiedSentence(
            s.text, tuple(ok), True, score=max(results[i].score for i in ok), cited=s.citations
        )
    if len(s.citations) > 1 and (facts.quantities or facts.names):
        # Facts drawn from two cited passages: each passage states part of the sentence.
        cited_sources = [sources[i - 1] for i in s.citations]
        joint = _support(facts, cited_sources, min_overlap, min_fact_overlap)
        if joint.supported:
            keep = tuple(i for i in s.citations if len(results[i].missing) < len(joint.facts))
            return VerifiedSentence(s.text, keep, True, score=joint.score, cited=s.citations)
    others = [i for i in results if i not in s.citations and results[i].supported]
    if others:
        # Highest overlap wins; on a tie the earlier (better retrieved) passage.
        best = max(others, key=lambda i: (results[i].score, -i))
        return VerifiedSentence(
            s.text, (best,), True, reattached=True, score=results[best].score, cited=s.citations
        )
    pool = list(s.citations) or list(results)
    if not pool:
        return VerifiedSentence(s.text, (), False, missing=(), cited=s.citations)
    closest = max(pool, key=lambda i: (-len(results[i].missing), results[i].score, -i))
    r = results[closest]
    return VerifiedSentence(s.text, (), False, missing=r.missing, score=r.score, cited=s.citations)


def verify(
    answer_text: str,
    passages: Sequence[str],
    *,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    min_fact_overlap: float = DEFAULT_MIN_FACT_OVERLAP,
    given: str = "",
) -> Verified:
    """Check every sentence of an answer against the passages it may cite.

    `passages[i]` is the passage cited as `[i+1]`. A sentence is kept with the cited
    passages that support it (see `check_support`); failing that, with the best other
    passage that does (`reattached`); failing that it is unsupported and left out of
    `kept_text`. Uncited sentences are attached the same way. Numbers that `given` (the
    question) states need no passage. Pure and deterministic.
    """
    sources = [_source(p) for p in passages]
    asked = _source(given) if given.strip() else None
    checked: list[VerifiedSentence] = []
    parts: list[str] = []
    last_end: int | None = None
    for s in parse_citations(answer_text, len(passages)):
        v = _check_sentence(s, sources, min_overlap, min_fact_overlap, asked)
        checked.append(v)
        # A refusal is kept as written, unchecked, unless it carries numbers: those could
        # be an invented answer wrapped in a disclaimer (没有提到X，但Y为5元).
        if not (v.supported or (v.refusal and not _sentence_facts(v.text).quantities)):
            continue
        if last_end is not None:
            parts.append("\n" if "\n" in answer_text[last_end : s.span[0]] else "")
        parts.append(with_markers(v.text, v.citations) if v.supported else v.text)
        last_end = s.span[1]
    return Verified(tuple(checked), "".join(parts), any(v.supported for v in checked))
