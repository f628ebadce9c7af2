"""Answer quality and speed of `ask`, and speed of `summarize` and `brief` (real models).

    python bench/answer_bench.py [--archive ../shared/corpus/seed] [--questions tests/data/seed_questions.jsonl]
                                 [--generator llama.cpp] [--limit N] [--summaries 3]
                                 [--brief-archive examples/archive] [--brief-articles 10]

Correct: not refused, an answer string occurs in the answer, and a cited passage holds
the evidence. Refused: on unanswerable questions, the share refused (higher is better);
confident-wrong answers are listed, since they are the failure that matters most.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402


def norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", type=Path, default=REPO.parent / "shared/corpus/seed")
    parser.add_argument("--questions", type=Path, default=REPO / "tests/data/seed_questions.jsonl")
    parser.add_argument("--generator", default="llama.cpp")
    parser.add_argument("--limit", type=int, default=None, help="per kind (answerable / not)")
    parser.add_argument("--summaries", type=int, default=3, help="articles of --archive to summarize")
    parser.add_argument("--brief-archive", type=Path, default=REPO / "examples/archive")
    parser.add_argument("--brief-articles", type=int, default=10, help="0: no brief")
    args = parser.parse_args()
    items = [json.loads(x) for x in args.questions.read_text(encoding="utf-8").splitlines() if x.strip()]
    answerable = [q for q in items if q["answerable"]][: args.limit]
    unanswerable = [q for q in items if not q["answerable"]][: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(Settings.load(index_dir=Path(tmp) / "index", generator=args.generator))
        service.ingest([args.archive])
        correct, wrong, ttft, total = 0, [], [], []
        for q in answerable:
            a = service.ask(q["question"])
            ttft.append(a.timings.get("first_token_s", a.timings["total_s"]))
            total.append(a.timings["total_s"])
            ok_text = not a.refused and any(norm(x) in norm(a.answer) for x in q["answer"])
            ok_cite = any(norm(q["evidence"]) in norm(c.text) for c in a.citations)
            correct += ok_text and ok_cite
            if not (ok_text and ok_cite):
                wrong.append((q["id"], q["question"], a.answer))
        refused, confident = 0, []
        for q in unanswerable:
            a = service.ask(q["question"])
            total.append(a.timings["total_s"])
            refused += a.refused
            if not a.refused:
                confident.append((q["id"], q["question"], a.answer))
        summary_s = []
        for info in service.articles()[: args.summaries]:
            summary_s.append(service.summarize(info.id).timings["total_s"])
        brief = None
        if args.brief_articles:
            briefs = Service(Settings.load(index_dir=Path(tmp) / "brief", generator=args.generator))
            briefs.ingest([args.brief_archive])
            brief = briefs.brief(since="1900", max_articles=args.brief_articles)
    print(f"\nspeed, {args.generator}, threads={service.settings.threads}\n")
    print("| stage | n | p50 s | p95 s |")
    print("|---|---:|---:|---:|")
    rows = [("ask: first token", ttft), ("ask: total", total), ("summarize: total", summary_s)]
    if brief is not None:
        rows.append((f"brief of {len(brief.articles)} articles ({len(brief.sections)} stories): total",
                     [brief.timings["total_s"]]))
    for name, xs in rows:
        print(f"| {name} | {len(xs)} | {statistics.median(xs) if xs else 0:.1f} "
              f"| {sorted(xs)[max(0, round(0.95 * len(xs)) - 1)] if xs else 0:.1f} |")
    print(f"\n{args.generator} on {args.archive.name}: {len(answerable)} answerable, {len(unanswerable)} unanswerable\n")
    print("| correct with right citation | refused when unanswerable | TTFT p50 s | total p50 s |")
    print("|---:|---:|---:|---:|")
    print(f"| {correct}/{len(answerable)} ({correct / max(1, len(answerable)):.0%}) "
          f"| {refused}/{len(unanswerable)} ({refused / max(1, len(unanswerable)):.0%}) "
          f"| {statistics.median(ttft) if ttft else 0:.1f} | {statistics.median(total) if total else 0:.1f} |")
    print("\nnot correct:", *wrong, sep="\n  ")
    print("\nanswered though unanswerable:", *confident, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
