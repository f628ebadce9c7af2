"""`rag eval ...`: offline evaluation runs, written to an output folder, and comparisons.

    rag eval retrieval --data FILE... [--retrievers bm25,dense,hybrid] [--limit N] --out DIR
    rag eval qa --data FILE... [--mode corpus|reading] [--index DIR] [--limit N]
                [--generator NAME | --replay RUN_DIR] --out DIR
    rag eval summary --data FILE... [--index DIR] [--limit N] --out DIR
    rag eval compare DIR_A DIR_B

Each run writes `summary.json`, `items.jsonl` (one record per item, appended as it
finishes) and `report.md` with plots into `--out`. Rerunning an interrupted command
skips the items already finished; `--fresh` starts over.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.adapter import add_config_flag, fail, log_to_stderr
from rag.config import GENERATORS, SEARCH_MODES, Settings, store_for
from rag.errors import GenerationError, RagError

from . import compare as cmp
from . import qa, report, retrieval, summaries
from .data import (
    BriefItem,
    DataError,
    Item,
    QAItem,
    SummaryItem,
    excluding,
    load_many,
    negative,
    sample,
)
from .records import ItemLog, reset_dir

MakeService = Callable[[Settings], Any]
# Settings that decide results: a resumed run must use the same ones.
RESULT_SETTINGS = ("embedding_model", "chunk_size", "chunk_overlap", "candidates", "rrf_k",
                   "max_per_article")
ANSWER_SETTINGS = ("generator", "generator_model", "answer_k", "refuse_below",
                   "max_answer_tokens", "n_ctx", "answer_confidence", "answer_risk", "quote_risk")


def _default_service(settings: Settings) -> Any:
    from rag.service import Service

    return Service(settings)


def commit() -> str | None:
    """The short commit of this checkout, with "+dirty" when files are modified."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = head.stdout.strip()
    return (sha + ("+dirty" if dirty.stdout.strip() else "")) or None


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings of a run; the archive a run builds (`index_dir` under --out) is kept in the
    store that --store names: the folder, Milvus Lite in a file beside it, or a URI."""
    store = getattr(args, "store", None) or "folder"
    index_dir = overrides.get("index_dir")
    if store != "folder" and index_dir is not None and Path(args.out) in Path(index_dir).parents:
        overrides["store"] = store_for(store, index_dir)
    return Settings.load(args.config, **overrides)


def _identity(args: argparse.Namespace, task: str, mode: str, settings: Settings,
              names: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {
        "task": task, "mode": mode, "dataset": [str(Path(p).resolve()) for p in args.data],
        "seed": args.seed, **{n: getattr(settings, n) for n in names}, **extra,
        **({"store": args.store} if getattr(args, "store", "folder") not in (None, "folder") else {}),
    }


def _run_items(
    selection: Sequence[Item], log: ItemLog, work: Callable[[Any], dict[str, Any]],
    desc: str, quiet: bool, postfix: Callable[[list[dict[str, Any]]], str] | None = None,
) -> None:
    from tqdm import tqdm


    pending = [it for it in selection if it.id not in log.done or "error" in log.done[it.id]]
    bar = tqdm(total=len(selection), initial=len(selection) - len(pending), desc=desc,
               unit="item", file=sys.stderr, disable=quiet, dynamic_ncols=True)
    try:
        for item in pending:
            try:
                record = work(item)
            except GenerationError as exc:
                # One item the model cannot answer (context overflow, timeout) must not
                # stop the run; it is listed, not scored, and retried on the next run.
                record = {"id": item.id, "error": f"{type(exc).__name__}: {exc}"}
            log.append(record)
            bar.update(1)
            if postfix:
                bar.set_postfix_str(postfix([log.done[i.id] for i in selection if i.id in log.done]))
    finally:
        bar.close()


def _finish(
    args: argparse.Namespace, identity: dict[str, Any], settings: Settings,
    selection: Sequence[Item], log: ItemLog, sections: dict[str, Any] | Callable[[list[dict[str, Any]]], dict[str, Any]],
    worst: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], **top: Any,
) -> dict[str, Any]:
    records = [log.done[it.id] for it in selection if it.id in log.done]
    good = [r for r in records if "error" not in r]
    config = {k: v for k, v in identity.items() if k not in ("task", "mode", "dataset")}
    config.update(limit=args.limit, threads=settings.threads, commit=commit(),
                  date=time.strftime("%Y-%m-%d"))
    summary: dict[str, Any] = {
        "task": identity["task"], "dataset": [str(p) for p in args.data], "n": len(good),
        "mode": identity["mode"], "config": config, **top,
    }
    if len(good) < len(records):
        summary["errors"] = len(records) - len(good)
    summary.update(sections(good) if callable(sections) else sections)
    out = Path(args.out)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    report.write(out, summary, good, worst(good))
    return summary


# ---------------------------------------------------------------- retrieval


def run_retrieval(args: argparse.Namespace, make_service: MakeService = _default_service) -> dict[str, Any]:

    retrievers = [r.strip() for r in args.retrievers.split(",") if r.strip()]
    bad = [r for r in retrievers if r not in SEARCH_MODES]
    if bad or not retrievers:
        raise DataError(f"unknown retriever(s) {', '.join(bad) or '(none)'}; choose from {', '.join(SEARCH_MODES)}")
    items = [it for it in load_many(args.data, ("qa",)) if isinstance(it, QAItem)]
    if not any(it.passages for it in items):
        raise DataError("no item has passages to pool into an index")
    # Every passage goes into the pool, even of questions not sampled: distractors.
    selection = sample([it for it in items if it.gold_passages()], args.limit, args.seed)
    out = Path(args.out)
    settings = _settings(args, index_dir=out / "pool-index", chunk_size=getattr(args, "chunk_size", None))
    identity = _identity(args, "retrieval", "pool", settings, RESULT_SETTINGS, retrievers=retrievers)
    fresh = getattr(args, "fresh", False)
    log = ItemLog(out, identity, fresh=fresh)
    if fresh:
        reset_dir(out / "pool-index")
    service = make_service(settings)
    try:
        n_pool = retrieval.write_pool(items, out / "pool.jsonl")
        _ingest(service, out / "pool.jsonl", n_pool, getattr(args, "quiet", False))
        keys = service.article_keys()
        _run_items(selection, log, lambda it: retrieval.score_item(service, it, retrievers, keys),
                   "retrieval", getattr(args, "quiet", False))
    finally:
        service.close()

    def worst(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        last = retrievers[-1]
        return sorted(records, key=lambda r: (r["scores"][last]["mrr@10"], r["id"]))[:10]

    return _finish(
        args, identity, settings, selection, log,
        lambda recs: {"retrievers": retrieval.summarize(recs, retrievers)}, worst,
        pool_passages=n_pool,
    )


def _ingest(service: Any, path: Path, n: int, quiet: bool) -> None:
    print(f"indexing {n} passages from {path} …", file=sys.stderr)
    t0 = time.perf_counter()
    rep = service.ingest([path])
    if not quiet:
        print(f"index ready in {time.perf_counter() - t0:.0f} s "
              f"({rep.passages_embedded} passages embedded)", file=sys.stderr)


# ---------------------------------------------------------------- qa


def run_qa(args: argparse.Namespace, make_service: MakeService = _default_service) -> dict[str, Any]:
    if args.index and args.mode:
        raise DataError("--index asks the questions of that index; --mode does not apply")
    replay = getattr(args, "replay", None)
    if replay and (args.index or args.mode != "reading"):
        raise DataError("--replay re-checks a reading run's drafts: use it with --mode reading")
    drafts = qa.recorded_drafts(replay) if replay else None
    mode = "index" if args.index else args.mode or "corpus"
    items = [it for it in load_many(args.data, ("qa",)) if isinstance(it, QAItem)]
    held_out = getattr(args, "exclude_sample", 0)
    pool = excluding(items, held_out, args.seed) if held_out else items
    selection = sample(pool, args.limit, args.seed)
    if getattr(args, "negatives", False):
        if mode != "reading":
            raise DataError("--negatives replaces each item's passages: use it with --mode reading")
        selection = [negative(it, pool) for it in selection if it.answerable and it.passages]
    out = Path(args.out)
    index_dir = Path(args.index) if args.index else out / "pool-index"
    settings = _settings(args, index_dir=index_dir, generator=args.generator,
                         answer_confidence=False if getattr(args, "no_confidence", False) else None,
                         answer_risk=getattr(args, "risk", None),
                         quote_risk=getattr(args, "risk", None))
    extra: dict[str, Any] = {"index": str(index_dir.resolve())} if mode == "index" else {}
    if replay:
        extra["replay"] = str(Path(replay).resolve())
    if held_out:
        extra["exclude_sample"] = held_out
    if getattr(args, "negatives", False):
        extra["negatives"] = True
    identity = _identity(args, "qa", mode, settings, RESULT_SETTINGS + ANSWER_SETTINGS, **extra)
    log = ItemLog(out, identity, fresh=args.fresh)
    if args.fresh and mode == "corpus":
        reset_dir(out / "pool-index")
    service = make_service(settings)
    try:
        asker: qa.Asker
        if mode == "reading":
            asker = qa.ReadingAsker(service, drafts)
        else:
            if mode == "corpus":
                n_pool = retrieval.write_pool(items, out / "pool.jsonl")
                if not n_pool:
                    raise DataError("no item has passages to pool; use --mode reading or --index DIR")
                _ingest(service, out / "pool.jsonl", n_pool, args.quiet)
            asker = qa.CorpusAsker(service, mode)

        def progress(records: list[dict[str, Any]]) -> str:
            done = [r for r in records if "scores" in r]
            acc = [r["scores"]["accuracy"] for r in done if r["scores"]["accuracy"] is not None]
            refused = sum(r["refused"] for r in done)
            return f"acc {sum(acc) / max(1, len(acc)):.2f} refused {refused}/{len(done)}"

        _run_items(selection, log, lambda it: qa.ask_and_score(asker, it), f"qa ({mode})",
                   args.quiet, progress)
    finally:
        service.close()
    return _finish(args, identity, settings, selection, log, qa.summarize, qa.worst)


# ---------------------------------------------------------------- summaries and briefs


def run_summary(args: argparse.Namespace, make_service: MakeService = _default_service) -> dict[str, Any]:
    items = load_many(args.data, ("summary", "brief"))
    selection = sample(items, args.limit, args.seed)
    docs = [it for it in selection if isinstance(it, SummaryItem)]
    topics = [it for it in selection if isinstance(it, BriefItem)]
    if topics and not args.index:
        raise DataError("brief items are briefed from an existing index: pass --index DIR")
    out = Path(args.out)
    settings = _settings(args, index_dir=out / "summary-index", generator=args.generator)
    mode = "+".join(k for k, v in (("summary", docs), ("brief", topics)) if v)
    extra = {"index": str(Path(args.index).resolve())} if topics else {}
    identity = _identity(args, "summary", mode, settings, RESULT_SETTINGS + ANSWER_SETTINGS, **extra)
    log = ItemLog(out, identity, fresh=args.fresh)
    if args.fresh:
        reset_dir(out / "summary-index")
    services: list[Any] = []
    try:
        doc_service = brief_service = None
        article_ids: dict[str, str] = {}
        if docs:
            doc_service = make_service(settings)
            services.append(doc_service)
            summaries.require(doc_service, "summarize")
            print(f"indexing {len(docs)} articles …", file=sys.stderr)
            article_ids = summaries.ingest_articles(doc_service, docs, out)
        if topics:
            brief_service = make_service(settings.replace(index_dir=Path(args.index)))
            services.append(brief_service)
            summaries.require(brief_service, "brief")

        def work(item: Item) -> dict[str, Any]:
            t0 = time.perf_counter()
            if isinstance(item, SummaryItem):
                if item.id not in article_ids:
                    return {"id": item.id, "error": "the article was not indexed (empty, or the same text as another item's)"}
                brief = doc_service.summarize(article_ids[item.id])  # type: ignore[union-attr]
            else:
                assert isinstance(item, BriefItem)
                brief = brief_service.brief(topic=item.topic, since=item.since, until=item.until)  # type: ignore[union-attr]
            record = summaries.score(item, brief)
            record["timings"].setdefault("total_s", round(time.perf_counter() - t0, 4))
            return record

        _run_items(selection, log, work, f"summary ({mode})", args.quiet)
    finally:
        for s in services:
            s.close()
    return _finish(args, identity, settings, selection, log, summaries.summarize, summaries.worst)


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag eval", description="Offline evaluation on gold data; results compare run to run."
    )
    sub = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    run = argparse.ArgumentParser(add_help=False)
    run.add_argument("--data", nargs="+", required=True, type=Path, metavar="FILE",
                     help="gold JSONL file(s); see DESIGN.md for the schema")
    run.add_argument("--limit", type=int, default=None, help="score a fixed random sample of N items")
    run.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    run.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    add_config_flag(run)
    run.add_argument("--fresh", action="store_true", help="discard earlier results in --out")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--store", default="folder", metavar="folder|milvus|URI",
                     help="where the run's own archive is kept: a folder (default), Milvus Lite "
                          "beside it, or a Milvus server's URI")

    p = sub.add_parser("retrieval", parents=[run], help="score bm25 / dense / hybrid retrieval side by side")
    p.add_argument("--retrievers", default="bm25,dense,hybrid")
    p.add_argument("--chunk-size", type=int, default=None, help="passage window (default: settings)")

    p = sub.add_parser("qa", parents=[run], help="answer accuracy, citations and refusals")
    p.add_argument("--mode", choices=("corpus", "reading"), default=None,
                   help="corpus: ask the pooled passages of all items (default); "
                        "reading: each question sees only its own passages")
    p.add_argument("--index", metavar="DIR", help="ask an existing index instead")
    p.add_argument("--generator", choices=GENERATORS, help="answer backend (default: settings)")
    p.add_argument("--no-confidence", action="store_true",
                   help="do not ask the model after each draft whether the passages answer the "
                        "question (the answer gate then uses its model fitted without it)")
    p.add_argument("--risk", type=float, default=None, metavar="RATE",
                   help="the answer gate's target error rate among answered questions "
                        "(settings answer_risk and quote_risk; 1 shows every candidate answer)")
    p.add_argument("--exclude-sample", type=int, default=0, metavar="N",
                   help="leave out the N items that --limit N with this --seed scores "
                        "(to collect drafts for fitting the answer gate on other items)")
    p.add_argument("--negatives", action="store_true",
                   help="make each answerable item unanswerable: its passages are replaced by "
                        "the closest other item's passage without its answer (reading mode)")
    p.add_argument("--replay", metavar="RUN_DIR", type=Path,
                   help="no model: re-check the drafts a reading run recorded in RUN_DIR "
                        "with today's verification (same --data, --limit, --seed)")

    p = sub.add_parser("summary", parents=[run], help="summaries of articles, briefs of topics")
    p.add_argument("--index", metavar="DIR", help="index that brief items are briefed from")
    p.add_argument("--generator", choices=GENERATORS, help="generation backend (default: settings)")

    p = sub.add_parser("fit-gate", help="fit the answer gate on qa runs' candidates (needs scikit-learn)")
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="reading-mode qa runs made with --risk 1 (every candidate recorded)")
    p.add_argument("--out", type=Path, default=None, help="where to write (default: the shipped gate.json)")
    p.add_argument("--c", type=float, default=1.0, help="inverse regularization strength (default 1)")

    p = sub.add_parser("compare", help="metric deltas between two runs, regressions flagged")
    p.add_argument("a", metavar="DIR_A", help="the baseline run's --out")
    p.add_argument("b", metavar="DIR_B", help="the run to judge")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="score/rate drop that counts as a regression (absolute, default 0.01)")
    p.add_argument("--latency-tolerance", type=float, default=0.2,
                   help="latency rise that counts as a regression (relative, default 0.2)")
    return parser


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    shown = {k: v for k, v in summary.items() if k not in ("config", "dataset", "latency_stages_s")}
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    print(f"report: {out / 'report.md'}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, config: str | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_to_stderr()
    if getattr(args, "config", None) is None and hasattr(args, "config"):
        args.config = config
    try:
        if args.task == "compare":
            a, b = cmp.load_summary(args.a), cmp.load_summary(args.b)
            rows = cmp.compare(a, b, args.tolerance, args.latency_tolerance)
            print(cmp.render(rows, args.a, args.b, cmp.differences(a, b)))
            return 1 if any(r.flag == "regression" for r in rows) else 0
        if args.task == "fit-gate":
            from . import fit_gate

            fit_gate.run(args.runs, args.out or fit_gate.GATE_FILE, args.c)
            return 0
        runner = {"retrieval": run_retrieval, "qa": run_qa, "summary": run_summary}[args.task]
        summary = runner(args)
    except RagError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print(f"interrupted; finished items are kept in {args.out}/items.jsonl: "
              "rerun the same command to continue", file=sys.stderr)
        return 130
    _print_summary(summary, Path(args.out))
    return 0
