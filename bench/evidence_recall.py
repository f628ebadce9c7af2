"""How often the evidence sentences hold the answer, and how many characters they take.

    python bench/evidence_recall.py --data ../shared/eval/dev/chinese_squad_dev.jsonl --limit 200

Reading mode, as `rag eval qa --mode reading`: each answerable question sees only its own
passages. For each, the retrieved windows (what the model was shown before) and the
selected evidence sentences (what it can be shown instead) are checked for a gold answer
string, after the same normalisation the answer metrics use. No language model runs.
Prints one table row per data set.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval import textmetrics as tm  # noqa: E402
from eval.data import load_qa, sample  # noqa: E402
from eval.retrieval import passage_key  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402


def _holds(text: str, answers: tuple[str, ...]) -> bool:
    return tm.is_correct(text, answers, "any")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, nargs="+",
                        default=[REPO.parent / "shared/eval/dev/chinese_squad_dev.jsonl"])
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None, help="evidence characters (default: settings)")
    args = parser.parse_args()
    # Selection is measured, not refusal: no question is turned away before it.
    settings = Settings.load(env={}, evidence_chars=args.budget, refuse_below=0)
    service = Service(settings)
    print(f"| data | answerable | windows hold answer | windows chars p50 | evidence holds answer "
          f"| evidence chars p50 | selection ms p50 | (budget {settings.evidence_chars}) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for path in args.data:
        items = [it for it in sample(load_qa(path), args.limit, args.seed) if it.answerable]
        win_hits = ev_hits = 0
        win_chars, ev_chars, ms = [], [], []
        for it in items:
            search = service.search_given([(passage_key(t), t) for t in it.passages])
            hits = search(it.question, None, None)
            windows = "".join(h.passage.text for h in hits)
            started = time.perf_counter()
            evidence = service.evidence(it.question, search=lambda q, a, b, hits=hits: hits)
            ms.append(1000 * (time.perf_counter() - started))
            text = "".join(e.text for e in evidence)
            win_hits += _holds(windows, it.answer)
            ev_hits += _holds(text, it.answer)
            win_chars.append(len(windows))
            ev_chars.append(len(text))
        n = len(items) or 1
        print(f"| {path.stem} | {len(items)} | {win_hits / n:.3f} | {statistics.median(win_chars or [0]):.0f} "
              f"| {ev_hits / n:.3f} | {statistics.median(ev_chars or [0]):.0f} "
              f"| {statistics.median(ms or [0]):.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
