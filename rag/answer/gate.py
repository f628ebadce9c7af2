"""The answer gate: one learned decision whether an answer is shown or refused.

The model drafts from the passages and verification keeps the sentences their cited
passages support. Then every candidate answer (a refused or unsupported draft becomes
the best evidence sentence, quoted) is scored by a logistic regression over cheap
features of the question, the evidence and the model's own probability that the
passages answer (see `prompts.answerable_messages`). The probability that the answer
is right decides: the model's sentences are shown when it reaches the threshold that
kept the error rate among answered questions at the `answer_risk` setting on the
fitting data, else the quote when it reaches the stricter one of `quote_risk` (a quote
that does not answer still reads as the archive's word on the question).

The coefficients are fitted offline on labelled drafts (`eval/fit_gate.py`) and
shipped as `gate.json` beside this file: plain numbers, one model with the model's
probability and one without, for backends that cannot give it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer import question as asked
from rag.answer.verify import states_anchors
from rag.results import Evidence, Scored, Verdict
from rag.text.bigrams import char_bigrams, content_bigrams, without_question_words
from rag.text.chunking import split_sentences
from rag.text.words import tokenize
from rag.types import Hit

GATE_FILE = Path(__file__).with_name("gate.json")
Embed = Callable[[str, Sequence[str]], list[float]]  # (question, sentences) → their cosines

# Every feature the gate can use, in a fixed order; a fitted model names its own subset.
FEATURES = (
    "p_yes",  # the model's log-odds that the passages answer the question
    "refused",  # the model refused (the candidate is the best evidence sentence, quoted)
    "unsupported",  # share of the draft's sentences no cited passage supports
    "misfit",  # a figure, date or title is asked and the answer has none
    "restates",  # the answer only repeats the question's words
    "anchors_missed",  # the answer's sentence misses a number or name the question states
    "cover",  # share of the question's content bigrams in the answer's sentence (and the one before)
    "cosine",  # e5 cosine between the question and that sentence (absent without an embedder)
    "dense_best",  # the best passage's dense cosine to the question
    "dense_cited",  # the cited passage's dense cosine
    "evidence_top",  # the best evidence sentence's score
    "length",  # log of the answer's length in characters
    "asks_figure",
    "asks_date",
    "refused_p_yes",  # the model's probability where it refused
    "quoted",  # the candidate is the best evidence sentence, quoted
    "quoted_p_yes",
    "quoted_cover",  # how much of the question a quoted sentence states
    "absent",  # share of the question's words found in no passage
    "in_evidence",  # share of the answer's bigrams in the best evidence sentence
)


@dataclass(frozen=True)
class Candidate:
    """What would be shown: sentences with their passage numbers."""

    sentences: tuple[tuple[str, tuple[int, ...]], ...]
    quoted: bool  # the best evidence sentence, quoted, in place of a refused draft

    @property
    def text(self) -> str:
        return "".join(s for s, _ in self.sentences)

    @property
    def cited(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(n for _, ns in self.sentences for n in ns))


def quote(evidence: Sequence[Evidence]) -> Candidate | None:
    """The best evidence sentence as the answer: 资料原文：“…”[n]。"""
    if not evidence:
        return None
    best = max(evidence, key=lambda e: (e.score, -e.n))
    return Candidate(((f"资料原文：“{best.text.strip().rstrip('。！？；!?;')}”。", (best.n,)),), True)


def _log_odds(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _window(answer: str, passages: Sequence[str]) -> str:
    """The sentence of `passages` holding most of the answer's bigrams, with the sentence
    before it (where a report names what its next sentence is about): where the answer
    comes from."""
    best, best_share = "", -1.0
    for body in passages:
        spans = split_sentences(body)
        for i, (start, end) in enumerate(spans):
            share = _share(answer, body[start:end])
            if share > best_share:
                best, best_share = body[spans[max(0, i - 1)][0] : end], share
    return best


def score(
    question: str, candidates: Sequence[Candidate], hits: Sequence[Hit], evidence: Sequence[Evidence],
    *, refused: bool, supported_share: float, p_yes: float | None, cosine: Embed | None = None,
    dense: bool = True,
) -> list[dict[str, float]]:
    """The features of each candidate (see FEATURES); `cosine` is asked once for all their
    sentences.

    Cosines are on the scale of the embedding model the gate was fitted with: without
    `cosine`, or with `dense` false (another model's scores), those features are left
    out, and the gate takes their mean."""
    windows = [_window(c.text, [hits[n - 1].passage.text for n in c.cited if 0 < n <= len(hits)])
               for c in candidates]
    cosines: list[float | None] = (list(cosine(question, windows)) if cosine is not None
                                   else [None] * len(windows))
    wanted = content_bigrams(question)
    kind = asked.kind(question)
    anchors = asked.question_anchors(question)
    scores = [h.dense_score for h in hits if h.dense_score is not None]
    yes = _log_odds(p_yes) if p_yes is not None else 0.0
    absent = _absent(question, [h.passage.text for h in hits])
    top = max(evidence, key=lambda e: e.score).text if evidence else ""
    out = []
    for candidate, window, cos in zip(candidates, windows, cosines, strict=True):
        text = candidate.text
        cited = [hits[n - 1].dense_score for n in candidate.cited if 0 < n <= len(hits)]
        cover = len(wanted & content_bigrams(window)) / len(wanted) if wanted else 0.0
        out.append({
            "p_yes": yes,
            "refused": float(refused),
            "unsupported": 0.0 if refused else 1.0 - supported_share,
            "misfit": float(kind in ("figure", "date", "title") and not asked.fits(question, text)),
            "restates": float(asked.restates(question, text)),
            "anchors_missed": float(bool(anchors) and not states_anchors(anchors, window)),
            "cover": cover,
            **({"cosine": float(cos)} if cos is not None and window else {}),
            **({"dense_best": max(scores, default=0.0),
                "dense_cited": max((d for d in cited if d is not None), default=0.0)} if dense else {}),
            "evidence_top": max((e.score for e in evidence), default=0.0),
            "length": math.log1p(len(text)),
            "asks_figure": float(kind == "figure"),
            "asks_date": float(kind == "date"),
            "refused_p_yes": yes if refused else 0.0,
            "quoted": float(candidate.quoted),
            "quoted_p_yes": yes if candidate.quoted else 0.0,
            "quoted_cover": cover if candidate.quoted else 0.0,
            "absent": absent,
            "in_evidence": _share(text, top) if top else 0.0,
        })
    return out


def _share(text: str, other: str) -> float:
    """The share of `text`'s bigrams that `other` has."""
    mine = char_bigrams(text.lower(), singles=True)
    return len(mine & char_bigrams(other.lower(), singles=True)) / len(mine) if mine else 0.0


def _absent(question: str, passages: Sequence[str]) -> float:
    """The share of the question's content words (two characters or more) that no passage
    has: an unanswerable question often names what the passages never mention."""
    words = {w for w in tokenize(without_question_words(question)) if len(w) >= 2}
    if not words:
        return 0.0
    text = "".join(passages).lower()
    return sum(w not in text for w in words) / len(words)


@dataclass(frozen=True)
class Model:
    """A fitted logistic regression over named features, standardized as fitted, with the
    thresholds that held each error rate among answered questions on its fitting data."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    center: tuple[float, ...]
    scale: tuple[float, ...]
    risks: tuple[tuple[float, float], ...]  # (error rate among answered, threshold), by rate

    def probability(self, x: Mapping[str, float]) -> float:
        """P(right); a feature `x` lacks (no embedder to give a cosine) counts as its mean."""
        z = self.bias + sum(
            w * (x.get(f, c) - c) / s
            for f, w, c, s in zip(self.features, self.weights, self.center, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def threshold(self, risk: float) -> float:
        """The lowest threshold whose error rate among answered stayed within `risk` on the
        fitting data; 0 (answer everything) at a risk of 1."""
        if risk >= 1.0:
            return 0.0
        fitting = [t for r, t in self.risks if r <= risk]
        return min(fitting) if fitting else 1.0

    def to_json(self) -> dict[str, object]:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias,
                "center": list(self.center), "scale": list(self.scale),
                "risks": [list(r) for r in self.risks]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Model:
        def floats(name: str) -> tuple[float, ...]:
            return tuple(float(v) for v in data[name])  # type: ignore[attr-defined]

        names = tuple(str(f) for f in data["features"])  # type: ignore[attr-defined]
        unknown = set(names) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown gate features: {sorted(unknown)}")
        return cls(names, floats("weights"), float(data["bias"]),  # type: ignore[arg-type]
                   floats("center"), floats("scale"),
                   tuple((float(r), float(t)) for r, t in data["risks"]))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Gate:
    with_probability: Model  # for a backend that gives P(是)
    without_probability: Model
    embedding_model: str = ""  # whose cosines the features were fitted on

    def model(self, has_probability: bool) -> Model:
        return self.with_probability if has_probability else self.without_probability


@functools.lru_cache(maxsize=4)
def load(path: Path = GATE_FILE) -> Gate:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    models = data["models"]
    return Gate(Model.from_json(models["with_probability"]), Model.from_json(models["without_probability"]),
                str(data.get("embedding_model") or ""))


def decide(gate: Gate, scored: Sequence[tuple[Candidate, Mapping[str, float]]], risk: float,
           has_probability: bool, quote_risk: float | None = None) -> Verdict:
    """Each candidate's probability of being right, the threshold for `risk`, and the
    (stricter) one for `quote_risk` that a quoted sentence must reach."""
    model = gate.model(has_probability)
    quote_risk = risk if quote_risk is None else min(risk, quote_risk)
    return Verdict(model.threshold(risk), tuple(
        Scored(c.text, c.quoted, model.probability(x), dict(x)) for c, x in scored),
        model.threshold(quote_risk))


def cosine_with(embed_query: Callable[[Sequence[str]], np.ndarray],
                embed_passage: Callable[[Sequence[str]], np.ndarray]) -> Embed:
    """An `Embed` from an embedder's query and passage encoders (unit vectors, so the dot
    product is the cosine)."""

    def cosine(question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        return [float(v) for v in embed_passage(list(sentences)) @ embed_query([question])[0]]

    return cosine
