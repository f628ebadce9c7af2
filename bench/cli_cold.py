"""`rag search` and `rag --help` from the shell, cold, each embedding runtime.

    python bench/cli_cold.py [--archive examples/archive] [--runs 5]

Indexes the archive once per runtime (`RAG_EMBEDDING_RUNTIME`), then times whole
processes as a user starts them: `rag --help`, and `rag search QUERY` on that index, run
`--runs` times each (the first run of each is kept: the operating system's file cache is
warm after indexing either way). Prints wall seconds p50 / max and whether the process
imported torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUERY = "柳林县有多少座煤矿"
RUNTIMES = ("onnx", "sentence-transformers")


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def imports_torch(index: Path, env: dict[str, str]) -> bool:
    code = ("import sys; from rag.cli import main; "
            f"main(['search', {QUERY!r}, '--index', {str(index)!r}, '--k', '3']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] == "True"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", type=Path, default=REPO / "examples/archive")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rag = str(Path(sys.executable).parent / "rag")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in RUNTIMES:
            env = {**os.environ, "RAG_EMBEDDING_RUNTIME": runtime}
            index = Path(tmp) / runtime
            subprocess.run([rag, "ingest", str(args.archive), "--index", str(index), "--quiet"],
                           env=env, check=True, capture_output=True)
            search = [timed([rag, "search", QUERY, "--index", str(index), "--k", "3"], env)
                      for _ in range(args.runs)]
            helps = [timed([rag, "--help"], env) for _ in range(args.runs)]
            rows.append((runtime, search, helps, imports_torch(index, env)))
    print(f"\n`rag search` cold, {args.runs} runs each, {os.cpu_count()} cores\n")
    print("| runtime | rag search p50 s | max s | rag --help p50 s | torch imported |")
    print("|---|---:|---:|---:|---|")
    for runtime, search, helps, torch in rows:
        print(f"| {runtime} | {statistics.median(search):.2f} | {max(search):.2f} | "
              f"{statistics.median(helps):.2f} | {'yes' if torch else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
