"""report.md and its plots (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _short(text: Any, n: int = 120) -> str:
    s = " ".join(str(text or "").split()).replace("|", "\\|")
    return s if len(s) <= n else s[: n - 1] + "…"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------- plots


def _save(fig: Any, ax: Any, title: str, path: Path) -> bool:
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return True


def plot_recall(summary: dict[str, Any], path: Path) -> bool:
    retrievers = summary.get("retrievers") or (
        {summary.get("mode", "run"): summary["retrieval"]} if "retrieval" in summary else {}
    )
    if not retrievers:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ks = [1, 5, 10]
    width = 0.8 / len(retrievers)
    for i, (name, m) in enumerate(retrievers.items()):
        xs = [j + (i - (len(retrievers) - 1) / 2) * width for j in range(len(ks))]
        ax.bar(xs, [m[f"recall@{k}"] for k in ks], width, label=name)
    ax.set_xticks(range(len(ks)), [f"recall@{k}" for k in ks])
    ax.set_ylim(0, 1.1)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, ax, "Retrieval recall@k", path)


def plot_answers(summary: dict[str, Any], path: Path) -> bool:
    refusal = summary.get("refusal")
    if not refusal:
        return False
    plt = _pyplot()
    labels, values, colors = [], [], []
    if refusal["n_answerable"]:
        acc = summary.get("answer", {}).get("accuracy", 0.0)
        labels += [f"answerable\naccuracy (n={refusal['n_answerable']})", "answerable\nrefused (false)"]
        values += [acc, refusal["false_refusal_rate"]]
        colors += ["tab:green", "tab:red"]
    if refusal["n_unanswerable"]:
        labels += [f"unanswerable\nrefused (n={refusal['n_unanswerable']})"]
        values += [refusal["refusal_rate"]]
        colors += ["tab:blue"]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    bars = ax.bar(range(len(values)), values, color=colors)
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.02, f"{v:.2f}", ha="center")
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylim(0, 1.1)
    return _save(fig, ax, "Accuracy and refusal", path)


def plot_risk_coverage(records: Sequence[dict[str, Any]], path: Path) -> bool:
    """Risk against coverage when the candidates the gate is surest of are answered first,
    beside the model's P(yes) alone; the gate's own threshold marked."""
    from .metrics import risk_coverage

    gated = [r for r in records if r.get("verdict") and "scores" in r]
    if not gated:
        return False

    def right(r: dict[str, Any], score: str) -> bool:
        return bool(r["answerable"] and r["scores"].get(score))

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    curves = {"answer gate": ([r["verdict"]["probability"] for r in gated],
                              [right(r, "candidate_lenient_accuracy") for r in gated])}
    if all(r.get("confidence") is not None for r in gated):
        curves["model's P(yes) alone"] = ([r["confidence"] for r in gated],
                                         [right(r, "draft_lenient_accuracy") for r in gated])
    for name, (scores, correct) in curves.items():
        points = risk_coverage(scores, correct)
        ax.plot([c for c, _, _ in points], [r for _, r, _ in points], label=name)
    shown = [r for r in gated if r["verdict"]["probability"] >= r["verdict"]["threshold"]]
    if shown:
        risk = 1 - sum(right(r, "candidate_lenient_accuracy") for r in shown) / len(shown)
        ax.plot([len(shown) / len(gated)], [risk], "o", color="black", label="at the threshold")
    ax.set_xlabel("coverage (share answered)")
    ax.set_ylabel("risk (share of answers wrong)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, ax, "Selective answering: risk-coverage", path)


def plot_latency(series: dict[str, list[float]], path: Path) -> bool:
    series = {k: v for k, v in series.items() if v}
    if not series:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, values in series.items():
        ax.hist(values, bins=min(30, max(5, len(values) // 3)), alpha=0.6, label=name)
    ax.set_xlabel("seconds")
    ax.set_ylabel("items")
    ax.legend()
    return _save(fig, ax, "Latency", path)


def latency_series(summary: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    if summary["task"] == "retrieval":
        return {m: [r["timings"][m] for r in records if m in r.get("timings", {})]
                for m in summary.get("retrievers", {})}
    return {"total": [r["timings"]["total_s"] for r in records if "total_s" in r.get("timings", {})]}


# ---------------------------------------------------------------- markdown


def _metric_sections(summary: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "retrievers" in summary:
        cols = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "answer@5",
                "latency_p50_s", "latency_p95_s"]
        rows = [[name] + [m.get(c, "") for c in cols] for name, m in summary["retrievers"].items()]
        lines += ["## Retrieval", ""] + table(rows, ["retriever"] + cols) + [""]
    for section in ("retrieval", "answer", "citation", "evidence", "refusal", "summary", "latency_s"):
        if section in summary:
            values = summary[section]
            lines += [f"## {section}", ""] + table([list(values.values())], list(values)) + [""]
    if summary.get("latency_stages_s"):
        rows = [[k, v["p50"], v["p95"]] for k, v in summary["latency_stages_s"].items()]
        lines += ["## latency per stage (s)", ""] + table(rows, ["stage", "p50", "p95"]) + [""]
    return lines


def _worst_lines(summary: dict[str, Any], worst: Sequence[dict[str, Any]]) -> list[str]:
    if not worst:
        return []
    lines = ["## Items to read", ""]
    if summary["task"] == "retrieval":
        rows = [[r["id"], _short(r["question"], 60), _short("; ".join(r["gold"]), 30),
                 *(r["scores"][m]["mrr@10"] for m in r["scores"])] for r in worst]
        return lines + table(rows, ["id", "question", "gold", *(f"mrr@10 {m}" for m in summary["retrievers"])]) + [""]
    if summary["task"] == "qa":
        rows = [[r["id"], "yes" if r["answerable"] else "no", _short(r["question"], 60),
                 _short("; ".join(r["gold"]), 30), _short(r["answer"], 80),
                 r["scores"]["char_f1"] if r["scores"]["char_f1"] is not None else ""]
                for r in worst]
        return lines + table(rows, ["id", "answerable", "question", "gold", "answer", "char F1"]) + [""]
    rows = [[r["id"], _short(r.get("topic") or r["gold"], 60), _short(r["prediction"], 80),
             _short("、".join(r["facts_missing"]), 40), r["scores"]["rouge_l"] or "",
             r["scores"]["key_fact_recall"] if r["scores"]["key_fact_recall"] is not None else ""]
            for r in worst]
    return lines + table(rows, ["id", "reference / topic", "output", "facts missing", "ROUGE-L", "key facts"]) + [""]


def write(
    out: Path, summary: dict[str, Any], records: Sequence[dict[str, Any]],
    worst: Sequence[dict[str, Any]],
) -> Path:
    """Write report.md (and its plots) into `out`; returns the report's path."""
    cfg = summary.get("config", {})
    datasets = ", ".join(Path(d).name for d in summary.get("dataset", []))
    lines = [
        f"# {summary['task']}: {datasets}",
        "",
        f"{summary['n']} items" + (f" (mode {summary['mode']})" if summary.get("mode") else "")
        + f"; limit {cfg.get('limit')}, seed {cfg.get('seed')}; commit {cfg.get('commit')}; "
        f"{cfg.get('date')}",
        "",
    ]
    if summary.get("errors"):
        lines += [f"**{summary['errors']} items failed** (see `error` in items.jsonl) and are "
                  "not scored.", ""]
    lines += ["## Configuration", ""] + table([[k, v] for k, v in cfg.items()], ["setting", "value"]) + [""]
    lines += _metric_sections(summary)
    plots = [
        ("recall_at_k.png", plot_recall(summary, out / "recall_at_k.png")),
        ("answers.png", plot_answers(summary, out / "answers.png")),
        ("risk_coverage.png", plot_risk_coverage(records, out / "risk_coverage.png")),
        ("latency.png", plot_latency(latency_series(summary, records), out / "latency.png")),
    ]
    for name, made in plots:
        if made:
            lines += [f"![{name[:-4]}]({name})", ""]
    lines += _worst_lines(summary, worst)
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
