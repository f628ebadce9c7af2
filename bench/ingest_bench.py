"""Ingest and search benchmark on real 2023 news (../shared/corpus/news2023).

    python bench/ingest_bench.py [--sizes 1000,10000] [--queries 200]
                                 [--store folder|milvus] [--ray [ADDRESS]] [--files N]

For each size: a fresh index; ingest (articles/s, passages/s, peak memory); the same
ingest again (must be a small fraction of the first); index size on disk; search
latency p50/p95 over real questions (hybrid, default settings). Prints a Markdown table.

`--store milvus` keeps the archive in Milvus Lite (a file in the temporary folder);
`--ray` reads and embeds on Ray (a local Ray of RAG_THREADS CPUs without an address),
with the articles split over `--files` files so that workers can read them in parallel.
The report's counts are printed, to compare with a local ingest of the same articles.
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
sys.path.insert(0, str(REPO))


def write_subset(n: int, folder: Path, files: int = 1) -> None:
    """The first `n` news2023 articles, in `files` files of about equal size."""
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for f in sorted((SHARED / "corpus" / "news2023").glob("news2023-*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            lines.extend(itertools.islice(fh, n - len(lines)))
        if len(lines) >= n:
            break
    per = -(-len(lines) // files)
    for i in range(files):
        with gzip.open(folder / f"news-{i:03d}.jsonl.gz", "wt", encoding="utf-8") as out:
            out.writelines(lines[i * per : (i + 1) * per])


def settings_for(index: str | Path, store: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(REPO))
    from rag.config import Settings, store_for

    return Settings.load(index_dir=index, store=store_for(store, index))


def child_ingest(index: str, data: str, store: str, ray: str | None) -> None:
    """Run one ingest in this process and print its measurements as JSON."""
    from rag.service import Service

    service = Service(settings_for(index, store))
    t0 = time.perf_counter()
    report = service.ingest([data], ray=ray)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "seconds": seconds, "added": len(report.added), "unchanged": len(report.unchanged),
        "skipped": len(report.skipped), "duplicates": len(report.duplicates),
        "embedded": report.passages_embedded,
        "passages": service.stats()["passages"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def run_child(index: Path, data: Path, store: str, ray: str | None) -> dict:
    extra = ["--store", store] + (["--ray", ray] if ray is not None else [])
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(index), str(data), *extra],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def search_latency(index: Path, queries: list[str], store: str) -> tuple[float, float]:
    from eval.metrics import percentile
    from rag.service import Service

    service = Service(settings_for(index, store))
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
    parser.add_argument("--store", choices=("folder", "milvus"), default="folder")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS")
    parser.add_argument("--files", type=int, default=1, help="files the articles are split over")
    parser.add_argument("--child", nargs=2, metavar=("INDEX", "DATA"))
    args = parser.parse_args()
    if args.child:
        child_ingest(*args.child, args.store, args.ray)
        return 0
    questions = [
        json.loads(line)["question"]
        for line in (SHARED / "eval" / "dev" / "crud_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()
    ][: args.queries]
    mode = "local" if args.ray is None else f"ray {args.ray or 'local'}"
    print(f"threads={os.environ.get('RAG_THREADS', 'default (2)')}, store {args.store}, ingest {mode}, "
          f"{args.files} file(s), {len(questions)} queries, hybrid search, k=5\n")
    print("| articles | added / duplicates / skipped | passages | ingest s | articles/s | passages/s "
          "| peak RSS MB | index MB | re-ingest s | re-ingest / first | search p50 ms | search p95 ms |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            data = Path(tmp) / f"news-{n}"
            write_subset(n, data, args.files)
            index = Path(tmp) / f"index-{n}"
            first = run_child(index, data, args.store, args.ray)
            again = run_child(index, data, args.store, args.ray)
            p50, p95 = search_latency(index, questions, args.store)
            counts = f"{first['added']} / {first['duplicates']} / {first['skipped']}"
            print(
                f"| {n:,} | {counts} | {first['passages']:,} | {first['seconds']:.0f} "
                f"| {n / first['seconds']:.1f} | {first['passages'] / first['seconds']:.1f} "
                f"| {first['peak_rss_mb']:.0f} | {du(index):.0f} | {again['seconds']:.1f} "
                f"| {again['seconds'] / first['seconds']:.3f} | {p50:.0f} | {p95:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
