"""Speed and quality of one-article summaries against `summary_chars`, in one run.

    python bench/summary_curve.py [--limit 40] [--chars 300,450,600,900] [--seed 0]
                                  [--exclude-sample N] [--data ../shared/eval/dev/crud_summary_dev.jsonl]

The `--limit` items are the sample `rag eval summary --limit N --seed S` scores; with
`--exclude-sample N`, a sample of the items that `--limit N` (seed 0) never scores, to
check a budget chosen on those on others. Each
budget gets its own fresh index of their articles (so no budget reuses another's
replies); all share one model, loaded and warmed first. Item by item, every budget
summarizes the article, in an order that rotates from item to item, so a slow minute of
the machine falls on all of them. Scored as `rag eval summary` scores (character ROUGE-L
against the reference, key-fact recall, citation precision). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval.data import SummaryItem, excluding, load, sample  # noqa: E402
from eval.metrics import mean_defined, percentile  # noqa: E402
from eval.summaries import ingest_articles, score  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402

DATA = REPO.parent / "shared" / "eval" / "dev" / "crud_summary_dev.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude-sample", type=int, default=None, metavar="N",
                        help="leave out the items `--limit N --seed 0` scores")
    parser.add_argument("--chars", default="300,450,600,900", help="summary_chars values, comma-separated")
    args = parser.parse_args()
    budgets = [int(c) for c in args.chars.split(",")]
    pool = load(args.data, ("summary",))
    if args.exclude_sample:
        pool = excluding(pool, args.exclude_sample)
    items = [it for it in sample(pool, args.limit, args.seed) if isinstance(it, SummaryItem)]
    rows: dict[int, list[tuple[float, dict]]] = {b: [] for b in budgets}
    with tempfile.TemporaryDirectory() as tmp:
        first = Service(Settings.load(index_dir=Path(tmp) / "model"))
        first.warm_up()
        services, ids = {}, {}
        for b in budgets:
            services[b] = Service(Settings.load(index_dir=Path(tmp) / f"i{b}", summary_chars=b),
                                  embedder=first.embedder, generator=first.generator)
            ids[b] = ingest_articles(services[b], items, Path(tmp) / f"a{b}")
        for i, item in enumerate(items):
            turn = budgets[i % len(budgets):] + budgets[:i % len(budgets)]
            for b in turn:
                started = time.perf_counter()
                made = services[b].summarize(ids[b][item.id])
                rows[b].append((time.perf_counter() - started, score(item, made)["scores"]))
            print(f"{i + 1}/{len(items)}", file=sys.stderr, flush=True)
    held = f", none of the {args.exclude_sample} of --limit {args.exclude_sample}" if args.exclude_sample else ""
    print(f"{len(items)} items of {args.data.name} (seed {args.seed}{held}), one run\n")
    print("| summary_chars | ROUGE-L | key-fact recall | citation precision | p50 s | p95 s | mean s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for b in budgets:
        times = [t for t, _ in rows[b]]
        scores = [s for _, s in rows[b]]
        mean = {m: mean_defined([s[m] for s in scores]) for m in ("rouge_l", "key_fact_recall", "citation_precision")}
        print(f"| {b} | {mean['rouge_l']:.3f} | {mean['key_fact_recall']:.3f} | {mean['citation_precision']:.3f} "
              f"| {statistics.median(times):.1f} | {percentile(times, 95):.1f} | {statistics.fmean(times):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
