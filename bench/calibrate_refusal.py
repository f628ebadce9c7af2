"""Calibrate `refuse_below`: the best passage's dense cosine, answerable vs unanswerable.

    python bench/calibrate_refusal.py [--data ../shared/eval/dev/chinese_squad_dev.jsonl] [--limit N]

Pools the data set's passages into one index, takes each question's best dense cosine,
and prints, per threshold, the share of unanswerable questions refused and of
answerable ones wrongly refused. The chosen default keeps false refusals at or under 5%.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval.data import load_qa, sample  # noqa: E402
from eval.retrieval import write_pool  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/eval/dev/chinese_squad_dev.jsonl")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--max-false-refusals", type=float, default=0.05)
    args = parser.parse_args()
    items = load_qa(args.data)
    asked = sample(items, args.limit, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        write_pool(items, Path(tmp) / "pool.jsonl")
        service = Service(Settings.load(index_dir=Path(tmp) / "index"))
        service.ingest([Path(tmp) / "pool.jsonl"])
        best = {True: [], False: []}
        for it in asked:
            hits = service.search(it.question, k=1, mode="dense")
            best[it.answerable].append(hits[0].dense_score if hits else 0.0)
    yes, no = sorted(best[True]), sorted(best[False])
    print(f"\n{args.data.name}: {len(yes)} answerable, {len(no)} unanswerable\n")
    print("| refuse_below | unanswerable refused | answerable refused (false) |")
    print("|---:|---:|---:|")
    chosen = 0.0
    for t in [x / 100 for x in range(70, 96)]:
        refused = sum(s < t for s in no) / max(1, len(no))
        false = sum(s < t for s in yes) / max(1, len(yes))
        if false <= args.max_false_refusals:
            chosen = t
        print(f"| {t:.2f} | {refused:.1%} | {false:.1%} |")
    print(f"\nhighest threshold with false refusals <= {args.max_false_refusals:.0%}: {chosen:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
