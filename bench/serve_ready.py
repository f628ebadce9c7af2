"""Seconds from `rag serve` to the first answer, side by side with another commit.

    python bench/serve_ready.py --ref HEAD~1 [--generator llama.cpp]

For each tree (a git worktree of `--ref`, then this checkout) the example archive is
indexed, `rag serve` started, and the same question asked through the web API as soon
as the page answers (or `--think` seconds later, as a person typing would); then a
second question, warm. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from worktree import ROOT, worktree  # noqa: E402  (bench/ is on the path)

FIRST = "地铁2号线什么时候开通试运营？"
SECOND = "第十二届青川河元宵灯会一共迎来了多少游客？"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _measure(tree: Path, index: Path, generator: str, think: float) -> tuple[float, float, float, float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), RAG_INDEX=str(index), RAG_GENERATOR=generator)
    subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--quiet", str(ROOT / "examples" / "archive")],
                   cwd=tree, env=env, check=True, capture_output=True)
    port = _port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=tree,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit(f"{tree}: rag serve did not start") from None
                time.sleep(0.2)
        up = time.perf_counter() - started
        from gradio_client import Client

        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        time.sleep(think)
        asked = time.perf_counter()
        client.predict(FIRST, api_name="/ask")
        first = time.perf_counter() - started
        waited = time.perf_counter() - asked
        t = time.perf_counter()
        answer = client.predict(SECOND, api_name="/ask")
        second = time.perf_counter() - t
        return up, first, waited, second, float(answer.get("timings", {}).get("first_token_s", 0.0))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True)
    parser.add_argument("--generator", default="llama.cpp")
    parser.add_argument("--think", type=float, default=0.0, help="seconds between page up and question")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-serve-") as tmp, \
            worktree(args.ref, Path(tmp) / "ref") as old:
        rows.append((args.ref, *_measure(old, Path(tmp) / "index-ref", args.generator, args.think)))
        rows.append(("this checkout", *_measure(ROOT, Path(tmp) / "index-new", args.generator, args.think)))
    print(f"| tree ({args.generator}, asked {args.think:.0f} s after page up) | page up s "
          "| first answer, from start s | first answer, from asking s | next answer s "
          "| next first token s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, up, first, waited, second, token in rows:
        print(f"| {name} | {up:.1f} | {first:.1f} | {waited:.1f} | {second:.1f} | {token:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
