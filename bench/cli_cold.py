"""`rag search` and `rag --help` from the shell, cold, each embedding runtime.

    python bench/cli_cold.py [--archive examples/archive] [--runs 5] [--against COMMIT]

Indexes the archive once per runtime (`RAG_EMBEDDING_RUNTIME`), and with `--against`
once more with that commit's code (a git worktree, ONNX runtime), then times whole
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
sys.path.insert(0, str(REPO))

from bench.worktree import worktree  # noqa: E402

QUERY = "柳林县有多少座煤矿"
RUNTIMES = ("onnx", "sentence-transformers")


def timed(args: list[str], env: dict[str, str], cwd: Path = REPO) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - start


def head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()


def imports_torch(index: Path, env: dict[str, str], cwd: Path) -> bool:
    code = ("import sys; from rag.cli import main; "
            f"main(['search', {QUERY!r}, '--index', {str(index)!r}, '--k', '3']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                         text=True, cwd=cwd)
    return out.stdout.strip().splitlines()[-1] == "True"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", type=Path, default=REPO / "examples/archive")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", help="also time this commit's code (ONNX runtime)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            with worktree(args.against, Path(tmp) / "old") as old:
                rows.append(measure(old, "onnx", Path(tmp) / "old-index", args))
        for runtime in RUNTIMES:
            rows.append(measure(REPO, runtime, Path(tmp) / runtime, args))
    print(f"\n`rag search` cold, {args.runs} runs each, {os.cpu_count()} cores\n")
    print("| commit | runtime | rag search p50 s | max s | rag --help p50 s | torch imported |")
    print("|---|---|---:|---:|---:|---|")
    for commit, runtime, search, helps, torch in rows:
        print(f"| {commit} | {runtime} | {statistics.median(search):.2f} | {max(search):.2f} | "
              f"{statistics.median(helps):.2f} | {'yes' if torch else 'no'} |")
    return 0


def measure(repo: Path, runtime: str, index: Path, args: argparse.Namespace) -> tuple:  # type: ignore[type-arg]
    """`python -m rag.cli` of the checkout at `repo`, so a worktree runs its own code."""
    env = {**os.environ, "RAG_EMBEDDING_RUNTIME": runtime, "PYTHONPATH": str(repo)}
    rag = [sys.executable, "-m", "rag.cli"]
    subprocess.run([*rag, "ingest", str(args.archive), "--index", str(index), "--quiet"],
                   env=env, check=True, capture_output=True, cwd=repo)
    search = [timed([*rag, "search", QUERY, "--index", str(index), "--k", "3"], env, repo)
              for _ in range(args.runs)]
    helps = [timed([*rag, "--help"], env, repo) for _ in range(args.runs)]
    return head(repo), runtime, search, helps, imports_torch(index, env, repo)


if __name__ == "__main__":
    sys.exit(main())
