"""Run an evaluation and write summary.json, items.jsonl and report.md.

    python -m eval.run retrieval --data FILE... [--retrievers bm25,dense,hybrid]
                                 [--limit N] [--seed S] --out DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.retrieve import MODES
from rag.service import Service

from . import retrieval
from .data import DataError, load_qa, sample


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def run_retrieval(args: argparse.Namespace) -> dict[str, Any]:
    retrievers = [r.strip() for r in args.retrievers.split(",") if r.strip()]
    bad = [r for r in retrievers if r not in MODES]
    if bad:
        raise DataError(f"unknown retriever(s) {', '.join(bad)}; choose from {', '.join(MODES)}")
    items = []
    for path in args.data:
        items += load_qa(path)
    pool_items = items  # every passage goes into the pool, even of unsampled questions
    items = [it for it in sample(items, args.limit, args.seed) if it.gold_passages()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings.load(args.config, index_dir=out / "pool-index", chunk_size=args.chunk_size)
    service = Service(settings)
    n_pool = retrieval.write_pool(pool_items, out / "pool.jsonl")
    print(f"indexing {n_pool} passages …", file=sys.stderr)
    t0 = time.perf_counter()
    report = service.ingest([out / "pool.jsonl"])
    print(f"index ready in {time.perf_counter() - t0:.0f} s "
          f"({report.passages_embedded} passages embedded)", file=sys.stderr)

    def progress(mode: str, done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"  {mode}: {done}/{total}", file=sys.stderr)

    results, per_item = retrieval.evaluate(service, items, retrievers, progress=progress)
    summary = {
        "task": "retrieval",
        "dataset": [str(p) for p in args.data],
        "n": len(items),
        "pool_passages": n_pool,
        "config": {
            "embedding_model": settings.embedding_model, "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap, "candidates": settings.candidates,
            "rrf_k": settings.rrf_k, "limit": args.limit, "seed": args.seed, "commit": _commit(),
            "date": time.strftime("%Y-%m-%d"),
        },
        "retrievers": results,
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    with (out / "items.jsonl").open("w", encoding="utf-8") as fh:
        for rec in per_item:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(retrieval_table(summary), encoding="utf-8")
    service.close()
    return summary


def retrieval_table(summary: dict[str, Any]) -> str:
    cols = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "answer@5", "latency_p50_s"]
    lines = [
        f"# Retrieval: {', '.join(Path(d).name for d in summary['dataset'])}",
        "",
        f"{summary['n']} questions, {summary['pool_passages']} passages pooled; "
        f"chunk size {summary['config']['chunk_size']}; commit {summary['config']['commit']}; "
        f"{summary['config']['date']}",
        "",
        "| retriever | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name, m in summary["retrievers"].items():
        lines.append(f"| {name} | " + " | ".join(f"{m[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.run")
    sub = parser.add_subparsers(dest="task", required=True)
    p = sub.add_parser("retrieval", help="score bm25 / dense / hybrid retrieval")
    p.add_argument("--data", nargs="+", required=True, type=Path)
    p.add_argument("--retrievers", default="bm25,dense,hybrid")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--config", default=None)
    p.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        summary = run_retrieval(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(retrieval_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
