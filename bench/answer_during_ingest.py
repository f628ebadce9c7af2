"""A question asked during an upload, against one asked alone (real models).

The model (in its worker) and the embedder share the machine's cores. Ingest embeds its
batches only while no answer is being written (`Service._yield_to_answers`); this prints
what that buys the question and what it costs the upload, beside the same run with the
waiting switched off.

    python bench/answer_during_ingest.py [--articles 300] [--after 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402

NEWS = REPO.parent / "shared" / "corpus" / "news2023" / "news2023-01.jsonl.gz"
QUESTIONS = ["北原县2024年的苹果最后实际产量是多少？", "2025青川马拉松最终一共有多少人报了名？"]


def news_batches(n: int, count: int, folder: Path) -> list[Path]:
    """`count` files of `n` distinct news2023 articles each."""
    files = []
    with gzip.open(NEWS, "rt", encoding="utf-8") as lines:
        for k in range(count):
            path = folder / f"upload-{k}.jsonl"
            with path.open("w", encoding="utf-8") as out:
                for _ in range(n):
                    out.write(next(lines))
            files.append(path)
    return files


def timed_ask(service: Service, question: str) -> float:
    start = time.perf_counter()
    service.ask(question)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300, help="articles per upload")
    parser.add_argument("--after", type=float, default=4.0, help="seconds into the upload the question is asked")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        service = Service(Settings.load(index_dir=root / "index"))
        service.ingest([REPO / "examples" / "archive"])
        service.warm_up()
        uploads = iter(news_batches(args.articles, 2 * args.rounds, root))
        waiting = service._yield_to_answers
        rows: dict[str, list[tuple[float, float | None]]] = {
            "alone": [], "during upload, answers first": [], "during upload, no waiting": []}
        for round_ in range(args.rounds):
            for name in rows:
                question = QUESTIONS[round_ % 2]
                timed_ask(service, QUESTIONS[(round_ + 1) % 2])  # the same KV cache state each time
                if name == "alone":
                    rows[name].append((timed_ask(service, question), None))
                    print(f"round {round_ + 1}, alone: answer {rows[name][-1][0]:.1f} s", file=sys.stderr)
                    continue
                service._yield_to_answers = waiting if "first" in name else (lambda: None)  # type: ignore[method-assign]
                upload = next(uploads)
                took: dict[str, float] = {}

                def ingest(path: Path = upload, took: dict[str, float] = took) -> None:
                    start = time.perf_counter()
                    service.ingest([path])
                    took["s"] = time.perf_counter() - start

                worker = threading.Thread(target=ingest)
                worker.start()
                time.sleep(args.after)
                answer_s = timed_ask(service, question)
                worker.join()
                rows[name].append((answer_s, took["s"]))
                print(f"round {round_ + 1}, {name}: answer {answer_s:.1f} s, upload {took['s']:.1f} s",
                      file=sys.stderr)
        service._yield_to_answers = waiting  # type: ignore[method-assign]
        service.close()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    alone = statistics.median(r[0] for r in rows["alone"])
    print(f"\ncommit {commit}; {args.articles} news2023 articles per upload, the question asked "
          f"{args.after:.0f} s into it; median of {args.rounds} rounds\n")
    print("| question asked | answer s | vs alone | upload s |")
    print("|---|---:|---:|---:|")
    for name, values in rows.items():
        answer = statistics.median(r[0] for r in values)
        uploads_s = [r[1] for r in values if r[1] is not None]
        upload = f"{statistics.median(uploads_s):.1f}" if uploads_s else "–"
        print(f"| {name} | {answer:.1f} | {answer / alone:.2f}× | {upload} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
