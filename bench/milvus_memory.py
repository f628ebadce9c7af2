"""Memory per passage of the vector indexes a Milvus deployment would choose between, at
our 384 dimensions, measured on real news vectors: the arithmetic behind the README's
scale plan ("Past one machine").

    python bench/milvus_memory.py --index DIR [--n 200000] [--queries 200]

DIR is a folder archive (`rag ingest --index DIR`, e.g. all of news2023 built by
bench/vector_scale.py); its float16 vectors are read from archive.db. Milvus builds these
indexes with Knowhere, which wraps FAISS, so FAISS's own indexes of the same parameters
give the bytes each passage costs in a query node's memory and the recall each reaches:

- HNSW (M=16, efConstruction=200, ef=256: what `rag` asks Milvus for) and M=32;
- IVF_SQ8 (one byte a dimension);
- IVF_PQ (m=48 and m=96 sub-quantizers of 8 bits: 48 or 96 bytes a vector), and m=48
  with its top 200 re-scored from the float vectors (kept on disk, as Milvus's refine
  and DISKANN do; the memory counted is the codes');
- FLAT (the float32 vectors alone) for reference.

Recall@10 is against an exact scan, over the questions of crud_qa_dev embedded by the
default model. The scalar fields a passage row carries in Milvus (its text, title, source
and tokens) are measured too: Milvus keeps loaded fields in memory beside the index.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402


def index_bytes(index) -> int:  # type: ignore[no-untyped-def]
    import faiss

    return int(faiss.serialize_index(index).size)


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--n", type=int, default=200_000, help="passages to index (default 200,000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--only", help="measure only the indexes whose label contains this")
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)

    db = sqlite3.connect(str(args.index / "archive.db"))
    rows = db.execute("SELECT vector FROM passages ORDER BY rowid LIMIT ?", (args.n,)).fetchall()
    dim = len(rows[0][0]) // 2
    vectors = np.frombuffer(b"".join(r[0] for r in rows), dtype="<f2").reshape(-1, dim).astype(np.float32)
    # What a passage row holds in Milvus beyond its vector: text, title, source, tokens.
    scalar = db.execute(
        "SELECT avg(length(CAST(substr(a.text, p.start + 1, p.end - p.start) AS BLOB)) + "
        "length(CAST(a.title AS BLOB)) + length(CAST(a.source AS BLOB)) + length(CAST(p.tokens AS BLOB))) "
        "FROM passages p JOIN articles a ON a.rowid = p.article_rowid").fetchone()[0]
    n = len(vectors)
    service = Service(Settings.load(index_dir=args.index))
    questions = [json.loads(line)["question"] for line in
                 (SHARED / "eval" / "dev" / "crud_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = np.asarray(service.embedder.embed_queries(questions[: args.queries]), dtype=np.float32)

    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    _, truth = flat.search(queries, 10)
    nlist = int(4 * math.sqrt(n))
    kept: list[object] = []
    codes: dict[int, int] = {}  # bytes in memory of an index whose vectors stay on disk

    def hnsw(m: int):  # type: ignore[no-untyped-def]
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.add(vectors)
        index.hnsw.efSearch = 256
        return index

    def ivf(kind: str, add: bool = True):  # type: ignore[no-untyped-def]
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, int(kind), 8, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[np.random.default_rng(0).choice(n, min(n, nlist * 40), replace=False)])
        if add:
            index.add(vectors)
        index.nprobe = 256  # as the folder's inverted file (Settings.nprobe)
        kept.append(quantizer)  # FAISS's index points at it, Python must keep it alive
        return index

    def refined():  # type: ignore[no-untyped-def]
        # IVF_PQ codes in memory, the top 200 candidates re-scored with the float vectors
        # read from disk (what Milvus's refine and DISKANN do); memory: the codes alone.
        base = ivf("48", add=False)
        index = faiss.IndexRefineFlat(base)
        index.add(vectors)
        index.k_factor = 20
        codes[id(index)] = index_bytes(base)
        kept.append(base)
        return index

    builds = [("FLAT (float32)", lambda: flat), ("HNSW M=16", lambda: hnsw(16)), ("HNSW M=32", lambda: hnsw(32)),
              ("IVF_SQ8", lambda: ivf("sq8")), ("IVF_PQ m=96", lambda: ivf("96")), ("IVF_PQ m=48", lambda: ivf("48")),
              ("IVF_PQ m=48, top 200 re-scored from disk", refined)]
    only = [b for b in builds if args.only and args.only in b[0]]
    builds = only or builds
    print(f"{n:,} passages of {args.index}, {dim} dimensions, {len(queries)} queries; scalar fields "
          f"{scalar:,.0f} bytes a passage\n")
    print("| index | build s | bytes / passage (index) | passages / GB (index) | passages / GB (with scalar fields) "
          "| recall@10 | ms / query |")
    print("|---|---|---|---|---|---|---|")
    for label, build in builds:
        t0 = time.perf_counter()
        index = build()
        built = time.perf_counter() - t0
        per = codes.get(id(index)) or index_bytes(index)
        per /= n
        t0 = time.perf_counter()
        _, found = index.search(queries, 10)
        ms = (time.perf_counter() - t0) * 1000 / len(queries)
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
        print(f"| {label} | {built:.0f} | {per:,.0f} | {1e9 / per:,.0f} | {1e9 / (per + scalar):,.0f} "
              f"| {recall:.3f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
