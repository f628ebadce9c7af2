"""Choose the passage window: retrieval quality per chunk size on news QA.

    python bench/chunk_sizes.py [--data ../shared/eval/dev/crud_qa_dev.jsonl] [--sizes 160,240,360,480]

For each size, pools the data set's articles into a fresh index and prints recall@5 (the
right article is retrieved) and answer@5 (a retrieved passage itself holds the answer,
which is what a reader needs), for hybrid retrieval.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval.run import run_retrieval  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/eval/dev/crud_qa_dev.jsonl")
    parser.add_argument("--sizes", default="160,240,360,480")
    parser.add_argument("--retrievers", default="hybrid")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            ns = argparse.Namespace(
                data=[args.data], retrievers=args.retrievers, limit=args.limit, seed=0,
                chunk_size=size, config=None, out=Path(tmp) / f"size-{size}",
            )
            summary = run_retrieval(ns)
            for name, m in summary["retrievers"].items():
                rows.append((size, name, m))
    print(f"\n{args.data.name}\n")
    print("| chunk size | retriever | recall@1 | recall@5 | answer@1 | answer@5 | answer@10 | mrr@10 |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size, name, m in rows:
        print(f"| {size} | {name} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['answer@1']:.3f} "
              f"| {m['answer@5']:.3f} | {m['answer@10']:.3f} | {m['mrr@10']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
