"""Fitting the answer gate (`rag.answer.gate`) on labelled drafts.

    rag eval fit-gate RUN_DIR... [--out rag/answer/gate.json]

Each RUN_DIR is a reading-mode qa run that recorded the gate's features for every
candidate answer (`rag eval qa --mode reading --risk 1`, or `--replay` of such a run).
A candidate is labelled right when its question is answerable and it holds a gold
answer under the lenient match (`textmetrics.is_correct_lenient`). Every run weighs
the same, however many items it has, so no one dev set decides the gate.

Two logistic regressions are fitted (scikit-learn, needed here only): one with the
model's probability of yes, one without it. Each is written as plain numbers, with
the thresholds that held each error rate among answered candidates on the fitting data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.service import GATE_FEATURES as FEATURES
from rag.service import GATE_FILE

from .data import DataError
from .metrics import auroc
from .records import ITEMS, parse_items

WITHOUT_PROBABILITY = ("p_yes", "refused_p_yes", "quoted_p_yes")
RISKS = tuple(round(0.01 * r, 2) for r in range(1, 61))


Rows = tuple[list[dict[str, float]], list[int], list[float], list[str], list[int]]


def labelled(run_dirs: Sequence[Path]) -> Rows:
    """(features, labels, weights, run names, item numbers) of every candidate the gate
    scored; an item's candidates share its weight, and every run weighs the same."""
    xs: list[dict[str, float]] = []
    ys: list[int] = []
    ws: list[float] = []
    names: list[str] = []
    items: list[int] = []
    n_items = 0
    for run in run_dirs:
        path = Path(run) / ITEMS
        if not path.is_file():
            raise DataError(f"{path}: no such file; give the --out folders of qa runs")
        records = [r for r in parse_items(path.read_text(encoding="utf-8"), path).values()
                   if r.get("verdict") and "scores" in r]
        if not records:
            raise DataError(f"{path}: no item has the gate's features; run qa with --risk 1")
        for r in records:
            candidates = r["verdict"]["candidates"]
            for c in candidates:
                xs.append({k: float(v) for k, v in c["features"].items()})
                ys.append(int(bool(c["right"])))
                ws.append(1.0 / len(records) / len(candidates))
                names.append(Path(run).name)
                items.append(n_items)
            n_items += 1
    return xs, ys, ws, names, items


def _risk_table(p: Sequence[float], ys: Sequence[int], ws: Sequence[float], items: Sequence[int]
                ) -> tuple[tuple[float, float], ...]:
    """(risk, the lowest threshold whose weighted error among answered items is within it),
    an item showing its first candidate (the model's sentences before the quote) that
    reaches the threshold."""
    by_item: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_item.setdefault(item, []).append(i)
    weight = {item: sum(ws[i] for i in rows) for item, rows in by_item.items()}
    errors: list[tuple[float, float]] = []  # (threshold, error among answered)
    for t in sorted(set(p), reverse=True):
        shown = wrong = 0.0
        for item, rows in by_item.items():
            chosen = next((i for i in rows if p[i] >= t), None)
            if chosen is not None:
                shown += weight[item]
                wrong += weight[item] * (1 - ys[chosen])
        errors.append((t, wrong / shown))
    table = []
    for risk in RISKS:
        ok = [t for t, e in errors if e <= risk + 1e-12]
        if ok:
            table.append((risk, float(min(ok))))
    return tuple(table)


def fit(xs: list[dict[str, float]], ys: list[int], ws: list[float], items: list[int],
        features: Sequence[str], c: float = 1.0) -> tuple[dict[str, Any], np.ndarray]:
    """The model as `gate.json` stores it (`rag.answer.gate.Model`), and its probability
    for each candidate. A feature a candidate lacks counts as its mean, as in the product."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[row.get(f, np.nan) for f in features] for row in xs], dtype=float)
    center = np.nan_to_num(np.nanmean(x, axis=0))
    x = np.where(np.isnan(x), center, x)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    w = np.array(ws, dtype=float)
    lr = LogisticRegression(C=c, max_iter=1000).fit((x - center) / scale, np.array(ys),
                                                    sample_weight=w * len(w) / w.sum())
    p = lr.predict_proba((x - center) / scale)[:, 1]
    model = {"features": list(features), "weights": [float(v) for v in lr.coef_[0]],
             "bias": float(lr.intercept_[0]), "center": [float(v) for v in center],
             "scale": [float(v) for v in scale],
             "risks": [list(r) for r in _risk_table(list(p), ys, ws, items)]}
    return model, p


def report(model: dict[str, Any], p: np.ndarray, ys: list[int]) -> str:
    lines = [f"  AUROC on the fitting data {auroc(list(p), [bool(y) for y in ys]):.3f}",
             "  feature            weight (per standard deviation)"]
    for f, wt in sorted(zip(model["features"], model["weights"], strict=True), key=lambda t: -abs(t[1])):
        lines.append(f"  {f:<18} {wt:+.3f}")
    return "\n".join(lines)


def run(run_dirs: Sequence[Path], out: Path = GATE_FILE, c: float = 1.0) -> dict[str, Any]:
    xs, ys, ws, names, items = labelled(run_dirs)
    models = {json.loads((Path(r) / "run.json").read_text(encoding="utf-8")).get("embedding_model")
              for r in run_dirs if (Path(r) / "run.json").is_file()}
    if len(models) != 1:
        raise DataError(f"the runs used {len(models)} embedding models ({sorted(map(str, models))}); "
                        "the gate's cosines are on one model's scale: fit on runs of one")
    with_p, p_with = fit(xs, ys, ws, items, FEATURES, c)
    without_p, p_without = fit(xs, ys, ws, items, [f for f in FEATURES if f not in WITHOUT_PROBABILITY], c)
    data = {
        "fitted_on": sorted(set(names)), "embedding_model": models.pop(),
        "candidates": len(ys), "right": int(sum(ys)),
        "models": {"with_probability": with_p, "without_probability": without_p},
    }
    Path(out).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(ys)} candidates from {len(set(names))} runs, {sum(ys)} right; written {out}")
    print("with the model's probability:\n" + report(with_p, p_with, ys))
    print("without it:\n" + report(without_p, p_without, ys))
    return data
