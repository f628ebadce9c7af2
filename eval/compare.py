"""Compare two runs: every metric of their summary.json side by side, regressions flagged.

A metric regresses when it moves the wrong way by more than a tolerance: by more than
`tolerance` (absolute) for scores and rates, by more than `latency_tolerance` (relative)
for latencies (and by at least 5 ms). Counts and chosen thresholds are shown, never flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import DataError

SECTIONS = ("retrieval", "answer", "citation", "evidence", "refusal", "selective", "selective_p_yes",
            "summary", "latency_s")
LOWER_IS_BETTER = {"false_refusal_rate", "aurc"}
LATENCY_FLOOR_S = 0.005
CONFIG_KEYS = ("generator", "generator_model", "embedding_model", "chunk_size", "answer_k",
               "refuse_below", "limit", "seed", "threads", "commit")


@dataclass(frozen=True)
class Row:
    metric: str
    a: float | None
    b: float | None
    flag: str  # "regression", "improvement", "" (within tolerance), "count"

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def load_summary(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "summary.json" if Path(folder).is_dir() else Path(folder)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no summary.json (is {folder} the --out of a run?)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg})") from None


def flatten(summary: dict[str, Any]) -> dict[str, float]:
    """{"section.metric": value} for every numeric metric of a summary."""
    flat: dict[str, float] = {}
    for name, metrics in (summary.get("retrievers") or {}).items():
        for k, v in metrics.items():
            if isinstance(v, (int, float)):
                flat[f"retrievers.{name}.{k}"] = float(v)
    for section in SECTIONS:
        for k, v in (summary.get(section) or {}).items():
            if isinstance(v, (int, float)):
                flat[f"{section}.{k}"] = float(v)
    return flat


def _judge(metric: str, a: float, b: float, tolerance: float, latency_tolerance: float) -> str:
    leaf = metric.rsplit(".", 1)[-1]
    if leaf.startswith(("n_", "threshold_")):
        return "count"  # a count or a chosen threshold: shown, neither better nor worse
    if metric.startswith("latency_s.") or leaf.startswith("latency_"):
        if a <= 0 or abs(b - a) < LATENCY_FLOOR_S:
            return ""  # a few milliseconds either way is noise, not a change
        change = (b - a) / a
        return "regression" if change > latency_tolerance else "improvement" if change < -latency_tolerance else ""
    delta = b - a if leaf not in LOWER_IS_BETTER else a - b
    return "regression" if delta < -tolerance else "improvement" if delta > tolerance else ""


def compare(
    a: dict[str, Any], b: dict[str, Any], tolerance: float = 0.01, latency_tolerance: float = 0.2
) -> list[Row]:
    """One row per metric in either summary, in A's order, then B's new ones."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for metric in list(fa) + [m for m in fb if m not in fa]:
        va, vb = fa.get(metric), fb.get(metric)
        flag = "" if va is None or vb is None else _judge(metric, va, vb, tolerance, latency_tolerance)
        rows.append(Row(metric, va, vb, flag))
    return rows


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between the runs besides the code: data, size, mode, settings."""
    notes = []
    for key in ("task", "mode", "n"):
        if a.get(key) != b.get(key):
            notes.append(f"{key}: {a.get(key)} → {b.get(key)}")
    da = [Path(d).name for d in a.get("dataset", [])]
    db = [Path(d).name for d in b.get("dataset", [])]
    if da != db:
        notes.append(f"dataset: {', '.join(da)} → {', '.join(db)}")
    ca, cb = a.get("config", {}), b.get("config", {})
    for key in CONFIG_KEYS:
        if ca.get(key) != cb.get(key):
            notes.append(f"{key}: {ca.get(key)} → {cb.get(key)}")
    return notes


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def render(rows: list[Row], a_name: str, b_name: str, notes: list[str]) -> str:
    lines = [f"A = {a_name}", f"B = {b_name}"]
    if notes:
        lines += ["", "Differences between the runs (compare like with like):"]
        lines += [f"  {n}" for n in notes]
    lines += ["", "| metric | A | B | Δ (B−A) | |", "|---|---:|---:|---:|---|"]
    marks = {"regression": "**REGRESSION**", "improvement": "better", "count": "", "": ""}
    for r in rows:
        delta = "–" if r.delta is None else f"{r.delta:+.3f}"
        lines.append(f"| {r.metric} | {_num(r.a)} | {_num(r.b)} | {delta} | {marks[r.flag]} |")
    n_bad = sum(r.flag == "regression" for r in rows)
    lines += ["", f"{n_bad} regression(s)" if n_bad else "no regressions"]
    return "\n".join(lines)
