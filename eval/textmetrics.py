"""Answer and summary metrics for Chinese text, as pure functions.

- `contains_answer` / `answer_accuracy`: the RGB criterion, a prediction is right when it
  contains any (or all) gold strings. Both sides are normalized first (full-width to
  half-width, case, spaces), and numbers compare by value, so 3.04亿元 matches 30400万元,
  十八座 matches 18座 and ４２０００人 matches 4.2万人.
- `lenient_contains` / `lenient_accuracy`: the same, forgiving what a gold string's
  wording adds to the fact: its qualifier (1.1 for 低于1.1, 2人 for 至少2人), a name's
  given part (里特 for 斯科特·里特), an administrative suffix (北京 for 北京市), and a
  short answer that is the core of the gold string. The labels a selective-answering
  gate learns from; strict accuracy stays the headline.
- `char_f1`, `rouge_l`: character-level overlap F1 and longest-common-subsequence F1,
  the usual scores for Chinese, where words are not delimited; punctuation and spaces
  are ignored.
- `key_facts` / `key_fact_recall`: the numbers, dates and names of a reference text,
  and the share of them an output states.

Each list-level function returns (mean, per-item scores), like `eval.metrics`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.text.normalize import normalize
from rag.text.quantities import Quantity, find_quantities, parse_number, same_quantity
from rag.text.words import posseg

_MARKERS = re.compile(r"[\[［【]\s*\d+(?:\s*[-–,，、]\s*\d+)*\s*[\]］】]")


def strip_markers(text: str) -> str:
    """`text` without citation markers ([1], [1,2], 【3】)."""
    return _MARKERS.sub("", text)


# Punctuation that is part of a value: 3.04, 85%, 25℃.
_KEEP = frozenset(".%‰℃°$¥€£")


def _is_content(ch: str) -> bool:
    return ch in _KEEP or unicodedata.category(ch)[0] not in "PSZC"


def content_chars(text: str) -> list[str]:
    """The characters that carry content: normalized, no markers, punctuation or spaces."""
    return [ch for ch in normalize(strip_markers(text)) if _is_content(ch)]


def _squeeze(text: str) -> str:
    return "".join(content_chars(text))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# ---------------------------------------------------------------- answer accuracy


def _numbers_match(prediction: str, gold: str) -> bool:
    """Whether every quantity of `gold` is stated in `prediction` (by value and unit) and
    the words around them occur too: 4.2万人 in 共有42000人报名."""
    found = find_quantities(prediction)
    wanted = find_quantities(gold)
    if not wanted:
        value = parse_number(gold)  # a lone numeral (三) is no quantity to the scanner
        return value is not None and any(
            q.value is not None and q.value == value for q in found
        )
    if not all(any(same_quantity(q, f) for f in found) for q in wanted):
        return False
    pieces, pos = [], 0
    for q in wanted:
        pieces.append(gold[pos : q.start])
        pos = q.end
    pieces.append(gold[pos:])
    squeezed = _squeeze(prediction)
    return all(_squeeze(p) in squeezed for p in pieces)


def contains_answer(prediction: str, gold: str) -> bool:
    """Whether `prediction` states the gold string `gold` (see the module docstring)."""
    p, g = _squeeze(prediction), _squeeze(gold)
    if not g or not p:
        return False
    if g in p:
        return True
    return _numbers_match(normalize(strip_markers(prediction)), normalize(gold))


# Words that qualify a figure without changing which figure it is.
_QUALIFIERS = re.compile(r"低于|高于|超过|不足|不到|至少|至多|最多|最少|将近|接近|近|约|大约|逾|多于|少于|以上|以下|左右|余|多")
# Suffixes an answer may leave off a place name.
_PLACE_SUFFIX = re.compile(r"(?<=[\u4e00-\u9fff])(?:市|省|县|区|自治区|特别行政区)(?=$|[^\u4e00-\u9fff]|[、和与及])")


def _lenient_form(text: str) -> str:
    return _squeeze(_PLACE_SUFFIX.sub("", normalize(strip_markers(text))))


def lenient_contains(prediction: str, gold: str) -> bool:
    """Whether `prediction` states the fact of `gold`, forgiving the wording around it:
    qualifiers of a figure, a name's given part, place-name suffixes, and a short answer
    that is the core of the gold string (at least half of it, two characters or more)."""
    if contains_answer(prediction, gold):
        return True
    p, g = _lenient_form(prediction), _lenient_form(gold)
    if not p or not g:
        return False
    if g in p:
        return True
    bare = _QUALIFIERS.sub("", normalize(gold))
    if bare != normalize(gold) and bare.strip() and contains_answer(prediction, bare):
        return True  # 1.1 for 低于1.1, 2人 for 至少2人
    parts = [part for part in re.split(r"[·•・]", normalize(gold)) if len(_squeeze(part)) >= 2]
    if len(parts) > 1:  # a foreign name: its family name is its core (里特 for 斯科特·里特)
        return _squeeze(parts[-1]) in _squeeze(prediction)
    short = _lenient_form(prediction.split("。")[0]) if len(p) <= 16 else ""
    return len(short) >= 2 and short in g and 2 * len(short) >= len(g)


def is_correct_lenient(prediction: str, gold: Sequence[str], mode: str = "any") -> bool:
    """`is_correct` with `lenient_contains`: any (or all) gold facts stated."""
    return is_correct(prediction, gold, mode, match=lenient_contains)


def lenient_accuracy(
    predictions: Sequence[str], golds: Sequence[Sequence[str]], modes: Sequence[str] | None = None
) -> tuple[float, list[float]]:
    """Share of predictions that state their gold facts, by `lenient_contains`."""
    return answer_accuracy(predictions, golds, modes, match=lenient_contains)


def is_correct(
    prediction: str, gold: Sequence[str], mode: str = "any",
    match: Callable[[str, str], bool] = contains_answer,
) -> bool:
    """RGB accuracy of one prediction: it contains any (mode "any") or all of `gold`."""
    if not gold:
        return False
    hits = [match(prediction, g) for g in gold]
    return all(hits) if mode == "all" else any(hits)


def answer_accuracy(
    predictions: Sequence[str], golds: Sequence[Sequence[str]], modes: Sequence[str] | None = None,
    match: Callable[[str, str], bool] = contains_answer,
) -> tuple[float, list[float]]:
    """Share of predictions that contain their gold strings (any / all per item)."""
    modes = modes or ["any"] * len(predictions)
    per = [
        1.0 if is_correct(p, g, m, match) else 0.0
        for p, g, m in zip(predictions, golds, modes, strict=True)
    ]
    return _mean(per), per


# ---------------------------------------------------------------- overlap scores


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    precision, recall = overlap / n_pred, overlap / n_ref
    return 2 * precision * recall / (precision + recall)


def char_f1_one(prediction: str, reference: str) -> float:
    """Character-overlap F1 (bag of characters, as in CMRC/SQuAD-zh evaluation)."""
    p, r = content_chars(prediction), content_chars(reference)
    common = sum((Counter(p) & Counter(r)).values())
    return _f1(common, len(p), len(r))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of `a` and `b`."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l_one(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over characters: LCS / length, harmonic mean of precision and recall."""
    p, r = content_chars(prediction), content_chars(reference)
    return _f1(lcs_length(p, r), len(p), len(r))


def _against_gold(score, prediction: str, gold: Sequence[str], mode: str) -> float:  # type: ignore[no-untyped-def]
    if not gold:
        return 0.0
    scores = [score(prediction, g) for g in gold]
    # "all": every string is needed, so each counts; "any": the closest one counts.
    return _mean(scores) if mode == "all" else max(scores)


def char_f1(
    predictions: Sequence[str], golds: Sequence[Sequence[str]], modes: Sequence[str] | None = None
) -> tuple[float, list[float]]:
    """Character F1 against the best gold string (mean over gold strings for mode "all")."""
    modes = modes or ["any"] * len(predictions)
    per = [_against_gold(char_f1_one, p, g, m) for p, g, m in zip(predictions, golds, modes, strict=True)]
    return _mean(per), per


def rouge_l(
    predictions: Sequence[str], references: Sequence[str | Sequence[str]],
    modes: Sequence[str] | None = None,
) -> tuple[float, list[float]]:
    """Character ROUGE-L F1 against one reference, or the best of several."""
    modes = modes or ["any"] * len(predictions)
    per = [
        _against_gold(rouge_l_one, p, [r] if isinstance(r, str) else r, m)
        for p, r, m in zip(predictions, references, modes, strict=True)
    ]
    return _mean(per), per


# ---------------------------------------------------------------- key facts

_QUOTED = re.compile(r"《([^》]{1,40})》|“([^”]{1,20})”|「([^」]{1,20})」")
_NAME_FLAGS = ("nr", "ns", "nt", "nz")
_ADMIN_SUFFIX = re.compile(r"(?<=..)(?:省|市|县|区|镇|乡|村)$")


@dataclass(frozen=True)
class Fact:
    """A fact of a reference text: a quantity (number, amount, percent, date) or a name."""

    text: str
    quantity: Quantity | None = None


def _names(text: str) -> list[str]:
    names = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]
    for w in posseg().cut(text):
        word = w.word.strip()
        if w.flag.startswith(_NAME_FLAGS) and len(word) >= 2 and not any(c.isdigit() for c in word):
            names.append(word)
    return names


def key_facts(reference: str) -> list[Fact]:
    """The numbers, amounts, percents, dates and names (people, places, organisations,
    titles in 《》) of `reference`, each once."""
    facts: list[Fact] = []
    for q in find_quantities(reference):
        if q.kind == "ordinal" or (q.kind == "number" and q.unit is None and q.value is not None and abs(q.value) < 10):
            continue  # 第一, a bare 3: layout and small talk more than facts
        if not any(f.quantity is not None and same_quantity(q, f.quantity) for f in facts):
            facts.append(Fact(q.text, q))
    seen = {normalize(f.text) for f in facts}
    for name in _names(reference):
        if normalize(name) not in seen:
            seen.add(normalize(name))
            facts.append(Fact(name))
    return facts


def fact_found(fact: Fact | str, output: str) -> bool:
    """Whether `output` states `fact` (a Fact of a reference, or a must-contain string)."""
    if isinstance(fact, str):
        return contains_answer(output, fact)
    norm = normalize(strip_markers(output))
    if fact.quantity is not None:
        if any(same_quantity(fact.quantity, q) for q in find_quantities(norm)):
            return True
        literal = normalize(fact.text)
        return len(literal) >= 2 and literal in norm
    name = normalize(fact.text)
    return name in norm or _ADMIN_SUFFIX.sub("", name) in norm


_DIGITS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def figures_in_cited_one(sentences: Sequence[tuple[str, Sequence[str]]]) -> float | None:
    """Share of sentences with Arabic figures whose every figure occurs, as written
    (full-width folded, thousands separators dropped), in the passages the sentence
    cites; None when no sentence has a figure. Plain string matching, on purpose: an
    independent check of citations that shares no code with the product's verifier."""

    def digits(text: str) -> list[str]:
        folded = unicodedata.normalize("NFKC", text)
        return _DIGITS.findall(re.sub(r"(?<=[0-9]),(?=[0-9]{3})", "", folded))

    checked = held = 0
    for sentence, passages in sentences:
        wanted = digits(strip_markers(sentence))
        if not wanted:
            continue
        checked += 1
        found = {d for p in passages for d in digits(p)}
        held += all(d in found for d in wanted)
    return held / checked if checked else None


def key_fact_recall_one(output: str, facts: Sequence[Fact | str]) -> float | None:
    """Share of `facts` that `output` states; None when there are no facts to find."""
    if not facts:
        return None
    return sum(fact_found(f, output) for f in facts) / len(facts)


def key_fact_recall(
    outputs: Sequence[str], facts: Sequence[Sequence[Fact | str]]
) -> tuple[float, list[float | None]]:
    """Mean share of each item's facts found in its output, over items that have facts."""
    per = [key_fact_recall_one(o, f) for o, f in zip(outputs, facts, strict=True)]
    return _mean([v for v in per if v is not None]), per
