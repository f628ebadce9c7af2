"""Ingest and search benchmark on real 2023 news (../shared/corpus/news2023).

    python bench/ingest_bench.py [--sizes 1000,10000] [--queries 200]

For each size: a fresh index; ingest (articles/s, passages/s, peak memory); the same
ingest again (must be a small fraction of the first); index size on disk; search
latency p50/p95 over real questions (hybrid, default settings). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def write_subset(n: int, path: Path) -> None:
    files = sorted((SHARED / "corpus" / "news2023").glob("news2023-*.jsonl.gz"))
    with gzip.open(path, "wt", encoding="utf-8") as out:
        written = 0
        for f in files:
            with gzip.open(f, "rt", encoding="utf-8") as fh:
                for line in itertools.islice(fh, n - written):
                    out.write(line)
                    written += 1
            if written >= n:
                break


def child_ingest(index: str, data: str) -> None:
    """Run one ingest in this process and print its measurements as JSON."""
    sys.path.insert(0, str(REPO))
    from rag.config import Settings
    from rag.service import Service

    service = Service(Settings.load(index_dir=index))
    t0 = time.perf_counter()
    report = service.ingest([data])
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "seconds": seconds, "added": len(report.added), "unchanged": len(report.unchanged),
        "embedded": report.passages_embedded,
        "passages": service.stats()["passages"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def run_child(index: Path, data: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(index), str(data)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def search_latency(index: Path, queries: list[str]) -> tuple[float, float]:
    sys.path.insert(0, str(REPO))
    from eval.metrics import percentile
    from rag.config import Settings
    from rag.service import Service

    service = Service(Settings.load(index_dir=index))
    service.search("预热")  # load the model and the index once, outside the timing
    times = []
    for q in queries:
        t0 = time.perf_counter()
        service.search(q)
        times.append(time.perf_counter() - t0)
    return percentile(times, 50) * 1000, percentile(times, 95) * 1000


def du(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", nargs=2, metavar=("INDEX", "DATA"))
    args = parser.parse_args()
    if args.child:
        child_ingest(*args.child)
        return 0
    questions = [
        json.loads(line)["question"]
        for line in (SHARED / "eval" / "dev" / "crud_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()
    ][: args.queries]
    print(f"threads={os.environ.get('RAG_THREADS', 'default (2)')}, {len(questions)} queries, "
          "hybrid search, k=5\n")
    print("| articles | passages | ingest s | articles/s | passages/s | peak RSS MB | index MB "
          "| re-ingest s | re-ingest / first | search p50 ms | search p95 ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            data = Path(tmp) / f"news-{n}.jsonl.gz"
            write_subset(n, data)
            index = Path(tmp) / f"index-{n}"
            first = run_child(index, data)
            again = run_child(index, data)
            p50, p95 = search_latency(index, questions)
            print(
                f"| {n:,} | {first['passages']:,} | {first['seconds']:.0f} "
                f"| {n / first['seconds']:.1f} | {first['passages'] / first['seconds']:.1f} "
                f"| {first['peak_rss_mb']:.0f} | {du(index):.0f} | {again['seconds']:.1f} "
                f"| {again['seconds'] / first['seconds']:.3f} | {p50:.0f} | {p95:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
