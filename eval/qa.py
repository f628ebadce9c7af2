"""Question answering evaluation: ask every question, score answer, citations, refusal.

Three ways to ask:

- ``corpus``: every item's passages pooled into one fresh index; each question is asked
  of the whole pool through `Service.ask`, so retrieval counts (and is scored too);
- ``reading``: each question sees only its own passages (`Service.search_given`), which
  tests the reader and its refusals apart from retrieval, as RGB does;
- ``index``: questions asked of an existing index; items with passages are also scored
  for retrieval and citations, by matching retrieved text to their passages.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.results import Answer
from rag.service import Service

from . import textmetrics as tm
from .data import DataError, QAItem
from .metrics import citation_precision_one, latency, mean_defined, refusal_rates, selective
from .records import ITEMS, parse_items
from .retrieval import METRICS as RETRIEVAL_METRICS
from .retrieval import passage_key, rank_scores

STAGES = ("retrieve_s", "evidence_s", "first_token_s", "confidence_s", "gate_s", "total_s")
Asked = tuple[Answer, list[str] | None]  # the answer, and ranked passage keys if retrieved


def question_date(item: QAItem) -> str | None:
    """The date the question was asked on (ChronoQA's meta.question_date), if known:
    昨天 and 上个月 in the question are relative to it."""
    value = item.meta.get("question_date")
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None
    return None


def _text_key(text: str, item: QAItem) -> str:
    """The key of the item passage that `text` (a passage of another index) comes from,
    or a key of its own: a window lies inside its passage, or holds a short one."""
    squeezed = "".join(tm.content_chars(text))
    for p in item.passages:
        gold = "".join(tm.content_chars(p))
        if squeezed and gold and (squeezed in gold or gold in squeezed):
            return passage_key(p)
    return passage_key(text)


class Asker:
    """Asks one item's question; `key(article_id, text, item)` names a retrieved or cited
    passage by the item-passage key it comes from."""

    mode = ""

    def __call__(self, item: QAItem) -> Asked:
        raise NotImplementedError

    def key(self, article_id: str, text: str, item: QAItem) -> str:
        return article_id


class CorpusAsker(Asker):
    """Asks the whole index (`corpus`: the pooled passages; `index`: an existing one)."""

    def __init__(self, service: Service, mode: str = "corpus", k: int = 10) -> None:
        self.service = service
        self.mode = mode
        self.k = k
        self.keys = service.article_keys() if mode == "corpus" else {}

    def __call__(self, item: QAItem) -> Asked:
        ranked = None
        if item.passages:
            hits = self.service.search(item.question, k=self.k)
            ranked = [self.key(h.passage.article_id, h.passage.text, item) for h in hits]
        return self.service.ask(item.question, as_of=question_date(item)), ranked

    def key(self, article_id: str, text: str, item: QAItem) -> str:
        if self.mode == "corpus":
            return self.keys.get(article_id, article_id)
        return _text_key(text, item)


class RecordedDraft:
    """A "model" that writes the draft a previous run recorded for the question, and
    gives the probability of yes it recorded (`Answer.confidence`), if any."""

    name = "replay"

    def __init__(self, draft: str, confidence: float | None = None) -> None:
        self.draft = draft
        if confidence is not None:
            self.choice_probabilities = lambda messages, choices: [confidence, 1.0 - confidence]

    def warm_up(self) -> None:
        pass

    def stream(self, messages: Sequence[Any], *, max_tokens: int, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        yield self.draft

    def generate(self, messages: Sequence[Any], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        return self.draft


def recorded_drafts(run_dir: Path) -> dict[str, tuple[str, float | None]]:
    """Item id → the model's draft and confidence, from a finished qa run's `items.jsonl`."""
    path = Path(run_dir) / ITEMS
    if not path.is_file():
        raise DataError(f"{path}: no such file; --replay takes the --out folder of a qa run")
    records = parse_items(path.read_text(encoding="utf-8"), path)
    return {key: (str(r.get("draft") or ""), r.get("confidence")) for key, r in records.items()}


class ReadingAsker(Asker):
    """Asks each question of its own passages only (see `eval.reading`).

    With `drafts` (see `recorded_drafts`) the model is not run: each question gets the
    draft recorded for it, so a change to verification or refusal is measured in
    seconds on the very same model output.
    """

    mode = "reading"

    def __init__(self, service: Service, drafts: dict[str, tuple[str, float | None]] | None = None) -> None:
        self.service = service
        self.drafts = drafts

    def _generator(self, item: QAItem) -> RecordedDraft | None:
        if self.drafts is None:
            return None  # the configured backend
        if item.id not in self.drafts:
            raise DataError(f"item {item.id} has no recorded draft; replay with the run's "
                            f"--data, --limit and --seed")
        return RecordedDraft(*self.drafts[item.id])

    def __call__(self, item: QAItem) -> Asked:
        published = item.meta.get("published") or item.meta.get("date")
        search = self.service.search_given(
            [(passage_key(text), text) for text in item.passages],
            title=str(item.meta.get("title") or ""),
            published=published if isinstance(published, str) else None,
        )
        answer = self.service.ask(item.question, as_of=question_date(item), search=search,
                                  generator=self._generator(item))
        return answer, None


def score(item: QAItem, answer: Answer, ranked: list[str] | None, key: Callable[[str, str], str]) -> dict[str, Any]:
    """The record of one asked item: prediction, citations, per-metric scores, timings."""
    gold_keys = {passage_key(p) for p in item.gold_passages()}
    prediction = "" if answer.refused else tm.strip_markers(answer.answer)
    by_n = {c.n: c for c in answer.citations}
    pairs = [
        (s.text, by_n[n].evidence)
        for s in answer.sentences if s.supported for n in s.citations if n in by_n
    ]
    cited = {key(c.article_id, c.text) for c in answer.citations}
    scores: dict[str, Any] = {
        "accuracy": None, "lenient_accuracy": None, "draft_lenient_accuracy": None,
        "char_f1": None, "rouge_l": None, "refused": float(answer.refused),
        "citation_precision": None if answer.refused else citation_precision_one(pairs),
        "citation_recall": None, "citation_holds_gold": None, "evidence_holds_gold": None,
    }
    if item.answerable:
        scores["accuracy"] = float(tm.is_correct(prediction, item.answer, item.answer_mode))
        # Forgiving the wording around the fact (1.1 for 低于1.1); and the same of the
        # model's draft before verification, to see what the checks keep or lose.
        scores["lenient_accuracy"] = float(tm.is_correct_lenient(prediction, item.answer, item.answer_mode))
        draft = tm.strip_markers(answer.draft or "")
        scores["draft_lenient_accuracy"] = float(
            bool(draft) and tm.is_correct_lenient(draft, item.answer, item.answer_mode))
        if answer.verdict is not None:
            # The gate's surest candidate, shown or not, judged as an answer.
            scores["candidate_lenient_accuracy"] = float(tm.is_correct_lenient(
                tm.strip_markers(answer.verdict.best.text), item.answer, item.answer_mode))
        if scores["accuracy"]:
            # Checked apart from the product's own support check: a right answer's cited
            # passages state a gold answer string.
            quoted = "".join(c.text for c in answer.citations)
            scores["citation_holds_gold"] = float(tm.is_correct(quoted, item.answer, item.answer_mode))
        if answer.evidence:
            shown = "".join(e.text for e in answer.evidence)
            scores["evidence_holds_gold"] = float(tm.is_correct(shown, item.answer, item.answer_mode))
        scores["char_f1"] = tm.char_f1([prediction], [item.answer], [item.answer_mode])[0]
        scores["rouge_l"] = tm.rouge_l([prediction], [list(item.answer)], [item.answer_mode])[0]
        if gold_keys and not answer.refused:
            scores["citation_recall"] = 1.0 if cited & gold_keys else 0.0
    if ranked is not None and gold_keys:
        scores.update(rank_scores(ranked, gold_keys))
    return {
        "id": item.id, "question": item.question, "answerable": item.answerable,
        "answer_mode": item.answer_mode, "gold": list(item.answer),
        "gold_passages": sorted(gold_keys), "prediction": prediction, "answer": answer.answer,
        "refused": answer.refused, "draft": answer.draft, "confidence": answer.confidence,
        "verdict": None if answer.verdict is None else {
            "probability": answer.verdict.probability, "threshold": answer.verdict.threshold,
            "candidates": [
                {"text": c.text, "quoted": c.quoted, "probability": c.probability,
                 "features": c.features,
                 # the label the gate is fitted to: is this candidate a right answer?
                 "right": bool(item.answerable and tm.is_correct_lenient(
                     tm.strip_markers(c.text), item.answer, item.answer_mode))}
                for c in answer.verdict.candidates
            ],
        },
        "sentences": [
            {"text": s.text, "citations": list(s.citations), "supported": s.supported}
            for s in answer.sentences
        ],
        "citations": [
            {"n": c.n, "key": key(c.article_id, c.text), "gold": key(c.article_id, c.text) in gold_keys,
             "title": c.title, "text": c.text}
            for c in answer.citations
        ],
        "retrieved": ranked,
        "scores": scores,
        "timings": {k: round(answer.timings[k], 4) for k in STAGES if k in answer.timings},
    }


def ask_and_score(asker: Asker, item: QAItem) -> dict[str, Any]:
    t0 = time.perf_counter()
    answer, ranked = asker(item)
    record = score(item, answer, ranked, lambda aid, text: asker.key(aid, text, item))
    record["timings"].setdefault("total_s", round(time.perf_counter() - t0, 4))
    return record


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary.json sections of a QA run, from its item records."""
    scored = [r for r in records if "scores" in r]

    def mean(name: str) -> float:
        return mean_defined([r["scores"].get(name) for r in scored])

    out: dict[str, Any] = {}
    with_retrieval = [r for r in scored if r["scores"].get("recall@1") is not None]
    if with_retrieval:
        out["retrieval"] = {
            m: mean_defined([r["scores"][m] for r in with_retrieval]) for m in RETRIEVAL_METRICS
        }
    if any(r["answerable"] for r in scored):
        out["answer"] = {m: mean(m) for m in ("accuracy", "lenient_accuracy", "draft_lenient_accuracy",
                                              "char_f1", "rouge_l")}
    out["citation"] = {"precision": mean("citation_precision"), "recall": mean("citation_recall"),
                       "holds_gold": mean("citation_holds_gold")}
    if any(r["scores"].get("evidence_holds_gold") is not None for r in scored):
        out["evidence"] = {"holds_gold": mean("evidence_holds_gold")}
    out["refusal"] = refusal_rates([r["refused"] for r in scored], [r["answerable"] for r in scored])
    gated = [r for r in scored if r.get("verdict")]
    if gated:
        # Selective answering: would showing the candidates the gate is surest of give
        # right answers? (An unanswerable question's candidate is never right.)
        out["selective"] = selective(
            [r["verdict"]["probability"] for r in gated],
            [bool(r["answerable"] and r["scores"].get("candidate_lenient_accuracy")) for r in gated],
        )
        out["selective"]["covered"] = len(gated) / len(scored)
    if any(r.get("confidence") is not None for r in scored):
        # The model's P(是) alone, over its drafts.
        out["selective_p_yes"] = selective(
            [r.get("confidence") for r in scored],
            [bool(r["answerable"] and r["scores"].get("draft_lenient_accuracy")) for r in scored],
        )
    out["latency_s"] = latency([r["timings"]["total_s"] for r in scored if "total_s" in r["timings"]])
    out["latency_stages_s"] = {
        stage: latency([r["timings"][stage] for r in scored if stage in r["timings"]])
        for stage in STAGES if any(stage in r["timings"] for r in scored)
    }
    out["counts"] = {
        "answerable": sum(r["answerable"] for r in scored),
        "unanswerable": sum(not r["answerable"] for r in scored),
        "answered": sum(not r["refused"] for r in scored),
        "with_citation_precision": sum(r["scores"]["citation_precision"] is not None for r in scored),
        "with_citation_recall": sum(r["scores"]["citation_recall"] is not None for r in scored),
        "with_evidence": sum(r["scores"].get("evidence_holds_gold") is not None for r in scored),
    }
    return out


def worst(records: Sequence[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """Items to read first: wrong answers (lowest character F1 first), then unanswerable
    questions that were answered anyway."""
    wrong = [r for r in records if "scores" in r and r["answerable"] and not r["scores"]["accuracy"]]
    wrong.sort(key=lambda r: (r["scores"]["char_f1"] or 0.0, r["id"]))
    invented = [r for r in records if "scores" in r and not r["answerable"] and not r["refused"]]
    return (wrong[: max(1, n - min(len(invented), n // 2))] + invented)[:n]
