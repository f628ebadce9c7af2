"""Search at archive scale: all of ../shared/corpus/news2023 (about 300,000 passages).

    python bench/vector_scale.py build --index DIR [--max-tokens 64]
    python bench/vector_scale.py measure --index DIR [--queries 200]

`build` ingests every news2023 article into DIR through `Service.ingest`, with the
default ONNX embedder reading each passage's first `--max-tokens` tokens (64 by default,
so that 300,000 real passages embed in minutes rather than an hour on 2 cores: the
vectors are the model's own for real news text, which is what an approximate index's
recall depends on). It prints the ingest's time, passages/s and peak memory.

`measure` opens DIR as `rag search` does and reports, over the questions of
../shared/eval/dev/crud_qa_dev.jsonl: hybrid and dense search latency (p50/p95, warm),
the recall@10 of the dense search against an exact scan of the same vectors (every list
of the inverted file scanned), without and with date filters (news2023 is dated July and
August 2023: since 08-10 leaves about a third of the passages, since 08-19 a few hundred), the index's kind, disk
per passage and the search process's peak memory. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402

EVERY_LIST = 1 << 20  # probes beyond any list count: the inverted file is scanned exactly


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(index: Path, max_tokens: int) -> None:
    settings = Settings.load(index_dir=index)
    embedder = Service(settings).embedder
    embedder.max_seq_length = max_tokens  # type: ignore[attr-defined]
    service = Service(settings, embedder=embedder)
    files = sorted((SHARED / "corpus" / "news2023").glob("news2023-*.jsonl.gz"))
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 60 or done == total:
            last[0] = time.monotonic()
            print(f"  {done:,}/{total:,} passages", file=sys.stderr, flush=True)

    started = time.perf_counter()
    report = service.ingest(files, progress=progress)
    seconds = time.perf_counter() - started
    stats = service.stats()
    print(f"ingested {len(report.added):,} articles, {stats['passages']:,} passages "
          f"({report.passages_embedded:,} embedded, first {max_tokens} tokens) in {seconds:.0f} s: "
          f"{report.passages_embedded / seconds:.1f} embedded a second, peak RSS {peak_mb():.0f} MB, "
          f"vector index {stats['vector_index']}, {stats['disk_bytes'] / 2**20:.0f} MB on disk")


def timed(fn, queries: list[str]) -> tuple[list[float], list]:  # type: ignore[no-untyped-def]
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - t0) * 1000)
    return times, results


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def measure(index: Path, n_queries: int) -> None:
    questions = [
        json.loads(line)["question"] for line in
        (SHARED / "eval" / "dev" / "crud_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()
    ][:n_queries]
    t0 = time.perf_counter()
    service = Service(Settings.load(index_dir=index))
    service.search("预热")
    opened = time.perf_counter() - t0
    exact = Service(Settings.load(index_dir=index, nprobe=EVERY_LIST), embedder=service.embedder)
    exact.search("预热")
    stats = service.stats()
    n = stats["passages"]
    rows = []
    for label, since in (("no filter", None), ("since 2023-08-10", "2023-08-10"),
                         ("since 2023-08-19", "2023-08-19")):
        hybrid, _ = timed(lambda q, s=since: service.search(q, k=10, since=s), questions)
        dense, approx = timed(lambda q, s=since: service.search(q, k=10, mode="dense", since=s), questions)
        scan, truth = timed(lambda q, s=since: exact.search(q, k=10, mode="dense", since=s), questions)
        found = sum(len({h.passage.id for h in a} & {h.passage.id for h in t})
                    for a, t in zip(approx, truth, strict=True))
        wanted = sum(len(t) for t in truth)
        rows.append((label, pct(hybrid, 50), pct(hybrid, 95), pct(dense, 50), pct(dense, 95),
                     pct(scan, 50), found / max(1, wanted)))
    print(f"{n:,} passages, {stats['articles']:,} articles; vector index {stats['vector_index']}; "
          f"{stats['disk_bytes'] / n:,.0f} bytes a passage on disk ({stats['disk_bytes'] / 2**20:,.0f} MB); "
          f"opened and warmed in {opened:.1f} s; peak RSS of the searching process "
          f"{peak_mb():,.0f} MB; {len(questions)} queries, k=10\n")
    print("| filter | hybrid p50 ms | hybrid p95 ms | dense p50 ms | dense p95 ms "
          "| exact dense p50 ms | dense recall@10 vs exact |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, h50, h95, d50, d95, e50, recall in rows:
        print(f"| {label} | {h50:.1f} | {h95:.1f} | {d50:.1f} | {d95:.1f} | {e50:.1f} | {recall:.4f} |")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["build", "measure"])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    if args.step == "build":
        build(args.index, args.max_tokens)
    else:
        measure(args.index, args.queries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
