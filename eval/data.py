"""Loading gold data (JSONL), validated with errors that name the file and line."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DataError(ValueError):
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
        found = tuple(p for p in self.passages if any(a and a in p for a in self.answer))
        return found or (self.passages if self.answerable else ())


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: file does not exist") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from None
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{n}: expected a JSON object")
        out.append((n, record))
    if not out:
        raise DataError(f"{path}: no items")
    return out


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: field {name!r} must be a list of strings")
    return tuple(value)


def load_qa(path: str | Path) -> list[QAItem]:
    """QA items: {"id", "question", "answer": [str], "answer_mode", "passages", "answerable"}."""
    path = Path(path)
    items = []
    for n, r in _records(path):
        where = f"{path}:{n}"
        for name in ("id", "question"):
            if not isinstance(r.get(name), str) or not r[name].strip():
                raise DataError(f"{where}: field {name!r} is missing or not a non-empty string")
        mode = r.get("answer_mode", "any")
        if mode not in ("any", "all"):
            raise DataError(f"{where}: answer_mode must be 'any' or 'all', got {mode!r}")
        answer = _strings(r.get("answer", []), where, "answer")
        answerable = r.get("answerable", bool(answer))
        if not isinstance(answerable, bool):
            raise DataError(f"{where}: field 'answerable' must be true or false")
        items.append(QAItem(
            id=r["id"], question=r["question"], answer=answer, answer_mode=mode,
            passages=_strings(r.get("passages", []), where, "passages"),
            answerable=answerable, meta=r.get("meta") or {},
        ))
    return items


def sample(items: list[QAItem], limit: int | None, seed: int = 0) -> list[QAItem]:
    """A fixed random sample of `limit` items (all when limit is None), in file order."""
    if limit is None or limit >= len(items):
        return items
    keep = set(random.Random(seed).sample(range(len(items)), limit))
    return [it for i, it in enumerate(items) if i in keep]
