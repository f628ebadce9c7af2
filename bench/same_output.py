"""Show that two commits give the same `rag … --json` output on the example archive.

Each commit is checked out into a temporary git worktree, indexes `examples/archive` into
its own folder, and answers the same `search`, `ask`, `summarize` and `brief` commands;
the JSON text is compared, key order included, with timings removed (they differ run
to run by nature).

    python bench/same_output.py --ref HEAD~1                 # extractive generator
    python bench/same_output.py --ref HEAD~1 --generator llama.cpp
    python bench/same_output.py --ref HEAD~1 --store milvus  # the archive in Milvus Lite

Prints one row per command and exits 1 if any output differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from worktree import ROOT, worktree  # noqa: E402  (bench/ is on the path)

sys.path.insert(0, str(ROOT))
from rag.config import store_for  # noqa: E402

QUESTIONS = ("地铁2号线什么时候开通试运营？", "青川马拉松有多少人报名？", "青川市有几座核电站？")
SEARCHES = ("沙溪河治理", "苹果产量")
BRIEF_TOPIC = "地铁2号线"


def _strip_timings(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_timings(v) for k, v in data.items() if k not in ("timings", "seconds")}
    if isinstance(data, list):
        return [_strip_timings(v) for v in data]
    return data


def _run(tree: Path, env: dict[str, str], args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], cwd=tree, env=env, capture_output=True,
        text=True, check=False,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"{tree}: rag {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _outputs(tree: Path, index: Path, generator: str, store: str, brief_articles: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree), RAG_INDEX=str(index), RAG_GENERATOR=generator,
               RAG_STORE=store_for(store, index))

    def rag(*args: str) -> Any:
        return json.loads(_run(tree, env, [*args, "--json"]))

    _run(tree, env, ["ingest", "--quiet", str(ROOT / "examples" / "archive")])
    out: dict[str, Any] = {}
    for query in SEARCHES:
        out[f"search {query}"] = rag("search", query)
    for question in QUESTIONS:
        out[f"ask {question}"] = rag("ask", question)
    articles = rag("articles")
    out["articles"] = articles
    first = sorted(a["id"] for a in articles)[0]
    out[f"show {first}"] = rag("show", first)
    out[f"summarize {first}"] = rag("summarize", first)
    out[f"brief {BRIEF_TOPIC}"] = rag("brief", BRIEF_TOPIC, "--max-articles", str(brief_articles))
    return {k: _strip_timings(v) for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="the commit to compare with (e.g. HEAD~1)")
    parser.add_argument("--generator", default="extractive", help="answer backend (default extractive)")
    parser.add_argument("--brief-articles", type=int, default=3, help="articles in the brief (default 3)")
    parser.add_argument("--store", choices=("folder", "milvus"), default="folder",
                        help="where both archives are kept (default folder; milvus: Milvus Lite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-same-") as tmp, \
            worktree(args.ref, Path(tmp) / "ref") as old_tree:
        old = _outputs(old_tree, Path(tmp) / "index-ref", args.generator, args.store, args.brief_articles)
        new = _outputs(ROOT, Path(tmp) / "index-new", args.generator, args.store, args.brief_articles)
    differ = 0
    print(f"| command ({args.generator}, {args.store}) | {args.ref} vs working tree |")
    print("|---|---|")
    for key in old:
        # Key order counts: the JSON must be the same text, timings aside.
        same = json.dumps(old[key], ensure_ascii=False) == json.dumps(new.get(key), ensure_ascii=False)
        differ += not same
        print(f"| rag {key} --json | {'identical' if same else 'DIFFERS'} |")
        if not same:
            print(json.dumps({"ref": old[key], "new": new.get(key)}, ensure_ascii=False)[:2000],
                  file=sys.stderr)
    print(f"\n{len(old) - differ} identical, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
