"""Loading gold data (JSONL), validated with errors that name the file and line.

Three kinds of item, one a line (see DESIGN.md, "Evaluation data"):

- QA: ``{"id", "question", "answer": [str], "answer_mode": "any"|"all", "passages": [str],
  "answerable": bool, "meta": {}}``; ``passages`` may be empty when the questions are
  asked against an existing index;
- summary: ``{"id", "article", "summary", "meta"}``, one article and its reference summary;
- brief: ``{"id", "topic", "since"?, "until"?, "must_contain": [str], "summary"?}``, a
  topic (and date range) to brief on, and the facts the brief must state.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import RagError


class DataError(RagError, ValueError):
    """A gold file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: tuple[str, ...]
    answer_mode: str = "any"
    passages: tuple[str, ...] = ()
    answerable: bool = True
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def gold_passages(self) -> tuple[str, ...]:
        """The item's passages that contain an answer string.

        When none does (answers reworded, e.g. yes/no), all the item's passages are the
        evidence the question was written from, so all count as gold.
        """
        if not self.answerable:
            return ()
        found = tuple(p for p in self.passages if any(a and a in p for a in self.answer))
        return found or self.passages


@dataclass(frozen=True)
class SummaryItem:
    id: str
    article: str
    summary: str  # the reference
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def title(self) -> str | None:
        title = self.meta.get("title")
        return title if isinstance(title, str) and title.strip() else None

    @property
    def published(self) -> str | None:
        for key in ("published", "time", "date"):
            value = self.meta.get(key)
            if isinstance(value, str) and value.strip():
                return value
        return None


@dataclass(frozen=True)
class BriefItem:
    id: str
    topic: str
    must_contain: tuple[str, ...]
    since: str | None = None
    until: str | None = None
    summary: str | None = None  # an optional reference brief, scored by ROUGE-L
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


Item = QAItem | SummaryItem | BriefItem
T = TypeVar("T")

_DATE = re.compile(r"^\d{4}(?:[-/.]\d{1,2}(?:[-/.]\d{1,2})?)?$")


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a JSONL file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{n}: expected a JSON object, got {type(record).__name__}")
        out.append((n, record))
    if not out:
        raise DataError(f"{path}: no items")
    return out


def _text(r: dict[str, Any], name: str, where: str) -> str:
    value = r.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and name == "id":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: field {name!r} is missing or not a non-empty string")
    return value


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: field {name!r} must be a list of strings")
    return tuple(value)


def _meta(r: dict[str, Any], where: str) -> dict[str, Any]:
    meta = r.get("meta")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise DataError(f"{where}: field 'meta' must be an object")
    return meta


def _date(r: dict[str, Any], name: str, where: str) -> str | None:
    value = r.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        raise DataError(f"{where}: field {name!r} must be a date YYYY, YYYY-MM or YYYY-MM-DD, got {value!r}")
    return value.strip()


def kind_of(r: dict[str, Any]) -> str | None:
    """"qa", "summary" or "brief", by the fields a record has; None if it fits none."""
    if "question" in r:
        return "qa"
    if "article" in r:
        return "summary"
    if "topic" in r:
        return "brief"
    return None


def _qa(r: dict[str, Any], where: str) -> QAItem:
    question = _text(r, "question", where)
    mode = r.get("answer_mode", "any")
    if mode not in ("any", "all"):
        raise DataError(f"{where}: answer_mode must be 'any' or 'all', got {mode!r}")
    answer = tuple(a for a in _strings(r.get("answer", []), where, "answer") if a.strip())
    answerable = r.get("answerable", bool(answer))
    if not isinstance(answerable, bool):
        raise DataError(f"{where}: field 'answerable' must be true or false")
    if answerable and not answer:
        raise DataError(f"{where}: answerable item has no answer strings")
    # An unanswerable item may still list plausible answers (SQuAD 2.0 does): they are
    # kept for reading, and the item is scored on refusal only.
    return QAItem(
        id=_text(r, "id", where), question=question, answer=answer, answer_mode=mode,
        passages=_strings(r.get("passages", []), where, "passages"),
        answerable=answerable, meta=_meta(r, where),
    )


def _summary(r: dict[str, Any], where: str) -> SummaryItem:
    return SummaryItem(
        id=_text(r, "id", where), article=_text(r, "article", where),
        summary=_text(r, "summary", where), meta=_meta(r, where),
    )


def _brief(r: dict[str, Any], where: str) -> BriefItem:
    if "must_contain" not in r:
        raise DataError(f"{where}: field 'must_contain' is missing (a list of strings)")
    reference = r.get("summary")
    if reference is not None and not isinstance(reference, str):
        raise DataError(f"{where}: field 'summary' must be a string")
    since, until = _date(r, "since", where), _date(r, "until", where)
    return BriefItem(
        id=_text(r, "id", where), topic=_text(r, "topic", where),
        must_contain=tuple(s for s in _strings(r["must_contain"], where, "must_contain") if s.strip()),
        since=since, until=until, summary=reference or None, meta=_meta(r, where),
    )


_PARSERS: dict[str, Callable[[dict[str, Any], str], Item]] = {
    "qa": _qa, "summary": _summary, "brief": _brief,
}


def load(path: str | Path, kinds: Sequence[str] = ("qa", "summary", "brief")) -> list[Item]:
    """Every item of one JSONL file; all lines must be of one kind, one of `kinds`."""
    path = Path(path)
    items: list[Item] = []
    first: tuple[str, int] | None = None
    seen: dict[str, int] = {}
    for n, r in _records(path):
        where = f"{path}:{n}"
        kind = kind_of(r)
        if kind is None:
            raise DataError(
                f"{where}: cannot tell what this item is: expected a 'question' (QA), an "
                f"'article' with its 'summary' (summary) or a 'topic' (brief)"
            )
        if first is None:
            first = (kind, n)
            if kind not in kinds:
                raise DataError(
                    f"{where}: this command takes {' or '.join(kinds)} items, "
                    f"this file holds {kind} items"
                )
        elif kind != first[0]:
            raise DataError(f"{where}: a {kind} item in a file of {first[0]} items (line {first[1]})")
        item = _PARSERS[kind](r, where)
        if item.id in seen:
            raise DataError(f"{where}: duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = n
        items.append(item)
    return items


def load_qa(path: str | Path) -> list[QAItem]:
    """QA items: {"id", "question", "answer": [str], "answer_mode", "passages", "answerable"}."""
    return [it for it in load(path, ("qa",)) if isinstance(it, QAItem)]


def load_many(paths: Sequence[str | Path], kinds: Sequence[str]) -> list[Item]:
    """Items of several files; ids must be unique across them (results are kept by id)."""
    items: list[Item] = []
    where: dict[str, Path] = {}
    for path in paths:
        for item in load(path, kinds):
            if item.id in where:
                raise DataError(f"{path}: id {item.id!r} also occurs in {where[item.id]}")
            where[item.id] = Path(path)
            items.append(item)
    return items


def sample(items: list[T], limit: int | None, seed: int = 0) -> list[T]:
    """A fixed random sample of `limit` items (all when limit is None), in file order."""
    if limit is not None and limit < 0:
        raise DataError(f"--limit must be 0 or more, got {limit}")
    if limit is None or limit >= len(items):
        return items
    keep = set(random.Random(seed).sample(range(len(items)), limit))
    return [it for i, it in enumerate(items) if i in keep]


def excluding(items: list[T], held_out: int, seed: int = 0) -> list[T]:
    """`items` without the `held_out` ones that `sample(items, held_out, seed)` scores: a
    pool to fit on that an evaluation with `--limit held_out` never sees."""
    kept = {id(it) for it in sample(items, held_out, seed)} if held_out else set()
    return [it for it in items if id(it) not in kept]


@functools.cache
def _bigrams(text: str) -> frozenset[str]:
    chars = [ch for ch in text if ch.isalnum()]
    return frozenset(a + b for a, b in zip(chars, chars[1:], strict=False))


def negative(item: QAItem, others: Sequence[QAItem]) -> QAItem:
    """`item` made unanswerable the way RGB builds its noise-only cases: its passages are
    replaced by the passage of `others` closest to its question (most shared character
    bigrams) that holds none of its answers, with that passage's title and date."""
    wanted = _bigrams(item.question)
    own = set(item.passages)
    best: tuple[int, QAItem, str] | None = None
    for other in others:
        for passage in other.passages:
            if passage in own or any(a and a in passage for a in item.answer):
                continue
            overlap = len(wanted & _bigrams(passage))
            if best is None or overlap > best[0]:
                best = (overlap, other, passage)
    if best is None:
        raise DataError(f"item {item.id}: no other passage to build a negative from")
    _, other, passage = best
    meta = {k: v for k, v in other.meta.items() if k in ("title", "published", "date")}
    meta["negative_of"] = item.id
    return QAItem(f"{item.id}~noise", item.question, (), item.answer_mode, (passage,), False, meta)
