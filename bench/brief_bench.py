"""Speed of briefs and summaries with the bundled model, this checkout beside another commit.

    python bench/brief_bench.py [--against COMMIT] [--summaries 20] [--articles 10]

Each checkout runs in its own process, one after the other, on the same data:
- a brief of the `--articles` newest articles of examples/archive (since 1900; settings
  such as RAG_BRIEF_WRITE_FROM come from the environment, as for `rag`): time to
  the first story's paragraph (the second progress report), the total, and the same
  brief asked again (a checkout that reuses replies answers it without the model);
- one-article summaries of the first `--summaries` articles of
  ../shared/eval/dev/crud_summary_dev.jsonl: p50 and p95 of the total.
The model is loaded and warmed before the timings. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.worktree import worktree  # noqa: E402

CHILD = r"""
import json, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from rag.config import Settings
from rag.service import Service

def brief_once(service):
    marks = []
    started = time.perf_counter()
    b = service.brief(since="1900", max_articles={articles},
                      on_progress=lambda f, m: marks.append(time.perf_counter() - started))
    total = time.perf_counter() - started
    first = marks[1] if len(marks) > 1 else total
    return b, first, total

with tempfile.TemporaryDirectory() as tmp:
    service = Service(Settings.load(index_dir=Path(tmp) / "brief"))
    service.ingest([{archive!r}])
    service.warm_up()
    b, first, total = brief_once(service)
    _, _, again = brief_once(service)
    out = {{"stories": len(b.sections), "articles": len(b.articles), "first": first,
            "total": total, "again": again,
            "written": sum(not s.extracted for s in b.sentences), "quoted": sum(s.extracted for s in b.sentences)}}
    items = [json.loads(x) for x in open({data!r}, encoding="utf-8")][:{summaries}]
    folder = Path(tmp) / "sum"
    folder.mkdir()
    with open(folder / "a.jsonl", "w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps({{"id": it["id"], "text": it["article"]}}, ensure_ascii=False) + "\n")
    summaries = Service(Settings.load(index_dir=Path(tmp) / "sumindex"), generator=service.generator)
    summaries.ingest([folder / "a.jsonl"])
    times = []
    for info in summaries.articles():
        started = time.perf_counter()
        summaries.summarize(info.id)
        times.append(time.perf_counter() - started)
    times.sort()
    out["summary_p50"] = statistics.median(times) if times else 0.0
    out["summary_p95"] = times[max(0, round(0.95 * len(times)) - 1)] if times else 0.0
    out["summaries"] = len(times)
    print(json.dumps(out))
"""


def run(repo: Path, args: argparse.Namespace) -> dict:
    code = CHILD.format(repo=str(repo), articles=args.articles, summaries=args.summaries,
                        archive=str(REPO / "examples" / "archive"),
                        data=str(REPO.parent / "shared" / "eval" / "dev" / "crud_summary_dev.jsonl"))
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{repo}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", help="a commit to run beside this checkout")
    parser.add_argument("--summaries", type=int, default=20)
    parser.add_argument("--articles", type=int, default=10)
    args = parser.parse_args()
    rows = []
    if args.against:
        with tempfile.TemporaryDirectory() as tmp, worktree(args.against, Path(tmp) / "old") as old:
            rows.append((head(old), run(old, args)))
    rows.append((head(REPO), run(REPO, args)))
    print("| commit | brief: stories (written / quoted sentences) | first story s | brief total s "
          "| same brief again s | summaries | summary p50 s | summary p95 s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for commit, r in rows:
        print(f"| {commit} | {r['stories']} of {r['articles']} articles ({r['written']} / {r['quoted']}) "
              f"| {r['first']:.1f} | {r['total']:.1f} | {r['again']:.1f} | {r['summaries']} "
              f"| {r['summary_p50']:.1f} | {r['summary_p95']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
