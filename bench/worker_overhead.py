"""What the model's worker process costs per answer: the same questions asked of the
example archive by two services, one whose model runs in its worker process (the
default) and one whose model runs in the service's own process (`model_worker` off).
They take turns, each model with its own KV cache seeing the same prompts in order.

    python bench/worker_overhead.py [--rounds 3]
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

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402

QUESTIONS = ["北原县2024年的苹果最后实际产量是多少？", "地铁2号线一期目前完成了多少总工程量？",
             "沙溪河治理工程已完成投资多少？", "青川马拉松什么时候举行？"]


def timed(service: Service, question: str) -> tuple[float, float, str]:
    """(first draft token, whole answer) seconds, and the answer."""
    start = time.perf_counter()
    first: list[float] = []
    answer = service.ask(question, on_token=lambda _: first or first.append(time.perf_counter()))
    end = time.perf_counter()
    return (first[0] if first else end) - start, end - start, answer.answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        Service(Settings.load(index_dir=index)).ingest([REPO / "examples" / "archive"])
        services = {"worker process (default)": Service(Settings.load(index_dir=index)),
                    "the service's own process": Service(Settings.load(index_dir=index, model_worker=False))}
        loads = {}
        for name, service in services.items():
            loads[name] = service.warm_up()
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in services}
        for _ in range(args.rounds):
            for question in QUESTIONS:
                answers = set()
                for name, service in services.items():
                    first, total, text = timed(service, question)
                    times[name].append((first, total))
                    answers.add(text)
                if len(answers) != 1:
                    print(f"note: the two answers differ: {answers}", file=sys.stderr)
        for service in services.values():
            service.close()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    n = len(next(iter(times.values())))
    print(f"the example archive, the bundled models, {os.cpu_count()} cores; commit {commit}; "
          f"{n} answers each, taking turns\n")
    print("| where the model runs | warm-up s | first draft token p50 s | answer p50 s | answer mean s |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in times.items():
        print(f"| {name} | {loads[name]:.2f} | {statistics.median(r[0] for r in rows):.3f} "
              f"| {statistics.median(r[1] for r in rows):.3f} | {statistics.mean(r[1] for r in rows):.3f} |")
    worker, local = times.values()
    diffs = [w[1] - p[1] for w, p in zip(worker, local, strict=True)]
    print(f"\nworker minus own process, per answer: median {statistics.median(diffs) * 1000:+.0f} ms, "
          f"mean {statistics.mean(diffs) * 1000:+.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
