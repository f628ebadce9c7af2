"""Embedding runtimes compared: sentence-transformers (float32, torch) and ONNX Runtime (int8).

    python bench/embed_runtime.py [--n 512] [--queries 200] [--threads 2]

Both run the default model on the same passages: the first articles of
../shared/corpus/news2023/news2023-01.jsonl.gz, chunked as ingest does (240 characters,
one sentence of overlap), and the questions of ../shared/eval/dev/crud_qa_dev.jsonl.
Measures passages/s at batch 8 and 32, single-query latency (p50), the cold start of a
fresh process that imports the runtime and embeds one query (and whether torch got
imported), and the agreement of the two: cosine between the vectors of the same passage,
and the overlap of each question's top 10 passages. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402
from rag.text.chunking import windows  # noqa: E402

RUNTIMES = {"sentence-transformers": "sentence-transformers fp32", "onnx": "ONNX Runtime int8"}
COLD = """
import json, sys, time
start = time.perf_counter()
from rag.config import Settings
from rag.service import Service
e = Service(Settings.load(threads={threads}, embedding_runtime={runtime!r})).embedder
e.embed_queries(["今年一季度全国规模以上工业增加值增长了多少？"])
print(json.dumps({{"inside": time.perf_counter() - start, "torch": "torch" in sys.modules,
                   "runtime": type(e).__name__}}))
"""


def passages(n: int) -> list[str]:
    """The first `n` passage windows of news2023's first month, cut as ingest cuts them."""
    settings = Settings()
    out: list[str] = []
    with gzip.open(SHARED / "corpus" / "news2023" / "news2023-01.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            text = str(json.loads(line).get("text") or "")
            out += [text[a:b] for a, b in windows(text, settings.chunk_size, settings.chunk_overlap)]
            if len(out) >= n:
                break
    return out[:n]


def questions(n: int) -> list[str]:
    with (SHARED / "eval" / "dev" / "crud_qa_dev.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["question"] for line, _ in zip(fh, range(n), strict=False)]


def rate(embedder: Any, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    embedder.batch_size = batch_size  # type: ignore[attr-defined]
    start = time.perf_counter()
    vectors = embedder.embed_passages(texts)
    return len(texts) / (time.perf_counter() - start), vectors


def cold_start(runtime: str, threads: int) -> tuple[float, bool, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", COLD.format(threads=threads, runtime=runtime)],
                         cwd=REPO, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, bool(info["torch"]), str(info["runtime"])


def measure(runtime: str, texts: list[str], queries: list[str], threads: int) -> dict[str, object]:
    cold, torch_imported, cls = cold_start(runtime, threads)
    embedder = Service(Settings.load(threads=threads, embedding_runtime=runtime)).embedder
    start = time.perf_counter()
    embedder.warm_up()  # type: ignore[attr-defined]
    load = time.perf_counter() - start
    embedder.embed_passages(texts[:8])
    per_s8, _ = rate(embedder, texts, 8)
    per_s32, vectors = rate(embedder, texts, 32)
    latencies, qvecs = [], []
    for q in queries:
        start = time.perf_counter()
        qvecs.append(embedder.embed_queries([q])[0])
        latencies.append(time.perf_counter() - start)
    return {
        "class": cls, "cold": cold, "torch": torch_imported, "load": load, "batch8": per_s8,
        "batch32": per_s32, "p50": statistics.median(latencies) * 1000,
        "passages": vectors, "queries": np.vstack(qvecs), "checksum": embedder.checksum,  # type: ignore[attr-defined]
    }


def top_k(queries: np.ndarray, passages: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ passages.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="passages (default 512)")
    parser.add_argument("--queries", type=int, default=200, help="questions (default 200)")
    parser.add_argument("--threads", type=int, default=2, help="threads per runtime (default 2)")
    args = parser.parse_args()

    texts = passages(args.n)
    queries = questions(args.queries)
    results = {name: measure(name, texts, queries, args.threads) for name in RUNTIMES}
    ref, new = results["sentence-transformers"], results["onnx"]

    cos = (np.asarray(ref["passages"]) * np.asarray(new["passages"])).sum(axis=1)
    k = min(10, len(texts))
    a = top_k(np.asarray(ref["queries"]), np.asarray(ref["passages"]), k)
    b = top_k(np.asarray(new["queries"]), np.asarray(new["passages"]), k)
    overlap = np.array([len(set(x) & set(y)) / k for x, y in zip(a, b, strict=True)])
    qcos = (np.asarray(ref["queries"]) * np.asarray(new["queries"])).sum(axis=1)

    load1, load5, _ = os.getloadavg()
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} passages ({chars:.0f} characters on average), {len(queries)} questions, "
          f"{args.threads} thread(s), {os.cpu_count()} cores, load average {load1:.1f} / {load5:.1f}\n")
    print("| | " + " | ".join(RUNTIMES.values()) + " |")
    print("|---|" + "---:|" * len(RUNTIMES))
    rows = [
        ("passages/s, batch 8", lambda r: f"{r['batch8']:.1f}"),
        ("passages/s, batch 32", lambda r: f"{r['batch32']:.1f}"),
        ("one query, p50 (ms)", lambda r: f"{r['p50']:.1f}"),
        ("model load, warm process (s)", lambda r: f"{r['load']:.2f}"),
        ("cold start: import, load, 1 query (s)", lambda r: f"{r['cold']:.1f}"),
        ("torch imported", lambda r: "yes" if r["torch"] else "no"),
        ("embedder", lambda r: str(r["class"])),
    ]
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(results[name]) for name in RUNTIMES) + " |")
    print()
    print("| agreement (fp32 vs int8) | mean | min |")
    print("|---|---:|---:|")
    print(f"| cosine, same passage | {cos.mean():.4f} | {cos.min():.4f} |")
    print(f"| cosine, same question | {qcos.mean():.4f} | {qcos.min():.4f} |")
    print(f"| top-{k} overlap per question | {overlap.mean():.3f} | {overlap.min():.2f} |")
    print(f"\nspeed-up at batch 32: {new['batch32'] / ref['batch32']:.1f}x "  # type: ignore[operator]
          f"(batch 8: {new['batch8'] / ref['batch8']:.1f}x)")  # type: ignore[operator]


if __name__ == "__main__":
    main()
