"""The same questions through the three ways into `rag serve`: Gradio's `/ask` API
(gradio_client), the OpenAI-compatible chat API whole, and streamed (the `openai` client).

    python bench/interfaces_bench.py                # configured generator (llama.cpp)
    python bench/interfaces_bench.py --rounds 1 --generator extractive   # quick check

The example archive is indexed into a temporary folder and `rag serve` started on a free
port, as `load_chat.py` does; the run begins after the server's warm-up and one question
that is not counted. Each round asks every question through one interface, then through
the next (so consecutive questions always differ and no interface inherits another's
model cache), the order of interfaces reversed every other round.

Times are seen by the client: first byte (the first event of a stream), evidence (the
first reasoning chunk: the evidence sentences), draft (the model's first words, the next
reasoning chunk), answer (the verified answer's content) and total. The server keeps
the last questions' vectors, so after the first round a question's retrieval skips
embedding it. Gradio's `/ask` returns its answer in one piece: only its total is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import load_chat

QUESTIONS = load_chat.QUESTIONS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def via_gradio(url: str) -> Callable[[str], dict[str, float]]:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False, analytics_enabled=False)

    def ask(question: str) -> dict[str, float]:
        started = time.perf_counter()
        client.predict(question, None, None, api_name="/ask")
        return {"total": time.perf_counter() - started}

    return ask


def via_chat(url: str, stream: bool) -> Callable[[str], dict[str, float]]:
    import openai

    client = openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key="unused", max_retries=0, timeout=600)

    def ask(question: str) -> dict[str, float]:
        messages = [{"role": "user", "content": question}]
        started = time.perf_counter()
        if not stream:
            client.chat.completions.create(model="rag-news", messages=messages)  # type: ignore[arg-type]
            return {"total": time.perf_counter() - started}
        seen: dict[str, float] = {}
        for chunk in client.chat.completions.create(model="rag-news", messages=messages, stream=True):  # type: ignore[arg-type]
            now = time.perf_counter() - started
            seen.setdefault("first_byte", now)
            delta = chunk.choices[0].delta
            if (delta.model_extra or {}).get("reasoning_content"):
                if "evidence" in seen:
                    seen.setdefault("draft", now)  # the model's first words, under the evidence
                seen.setdefault("evidence", now)
            if delta.content:
                seen.setdefault("answer", now)
        seen["total"] = time.perf_counter() - started
        return seen

    return ask


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--generator", help="answer backend of the server (default: settings)")
    parser.add_argument("--start-timeout", type=float, default=900.0)
    args = parser.parse_args()
    args.concurrency = None
    with tempfile.TemporaryDirectory(prefix="rag-interfaces-") as tmp:
        proc, server = load_chat._start_server(args, Path(tmp))
        try:
            ways = {"Gradio /ask": via_gradio(server.url), "chat API": via_chat(server.url, False),
                    "chat API, streamed": via_chat(server.url, True)}
            ways["chat API"](load_chat.WARM_UP_QUESTION)
            times: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
            for r in range(args.rounds):
                order = list(ways) if r % 2 == 0 else list(reversed(ways))
                for name in order:
                    for question in QUESTIONS:
                        times[name].append(ways[name](question))
                        print(f"round {r + 1} {name}: {times[name][-1]['total']:.1f} s", file=sys.stderr)
        finally:
            load_chat._stop(proc)
    print(f"`{server.how}` ({server.generator}), {len(QUESTIONS)} questions × {args.rounds} rounds per interface\n")
    print("| interface | first byte p50 | evidence p50 | draft p50 | answer p50 | total p50 | total p95 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in times.items():
        def cell(key: str, q: float = 0.5, runs: list[dict[str, float]] = runs) -> str:
            values = [t[key] for t in runs if key in t]
            return f"{percentile(values, q):.2f} s" if values else "–"
        print(f"| {name} | {cell('first_byte')} | {cell('evidence')} | {cell('draft')} | {cell('answer')} | "
              f"{cell('total')} | {cell('total', 0.95)} |")
    totals = {name: statistics.median(t["total"] for t in runs) for name, runs in times.items()}
    print(f"\nchat API total / Gradio /ask total (p50): {totals['chat API'] / totals['Gradio /ask']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
