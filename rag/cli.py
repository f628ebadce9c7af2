"""`rag` command line: ingest, search, ask, chat, summarize, brief, articles, show, stats, delete."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rag.adapter import add_archive_flags, add_config_flag, fail, settings_from
from rag.config import GENERATORS, SEARCH_MODES
from rag.errors import ModelCrashedError, RagError
from rag.results import article_info_to_json, article_to_json, hit_to_json
from rag.types import IngestReport

# Commands that other installed packages add to `rag` (the evaluation adds `rag eval`):
# name = "module:main", where main(argv, config=…) returns an exit code.
PLUGIN_GROUP = "rag.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Ask questions of, and search, an archive of Chinese news."
    )
    add_config_flag(parser)
    common = argparse.ArgumentParser(add_help=False)
    add_archive_flags(common)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="add files or folders to the index")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="read and embed on a Ray cluster (no ADDRESS: a local Ray on this machine)")

    p = sub.add_parser("migrate", parents=[common],
                       help="copy the archive into another store, vectors and all (nothing is embedded)")
    p.add_argument("--to", required=True, metavar="URI",
                   help="the target: milvus:FILE.db, http://HOST:19530 or a folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("reindex", parents=[common],
                       help="embed every passage again with the configured embedding runtime")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("search", parents=[common], help="search the index")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=None, help="number of passages (default 5)")
    p.add_argument("--since", help="only articles published on or after this date")
    p.add_argument("--until", help="only articles published on or before this date")
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--mode", choices=SEARCH_MODES, default="hybrid")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("ask", parents=[common], help="answer a question from the archive, cited")
    p.add_argument("question")
    p.add_argument("--generator", choices=GENERATORS, help="answer backend (default: settings, llama.cpp)")
    p.add_argument("--as-of", help="date that 今天/昨天/上个月 refer to (default: newest article)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("chat", parents=[common], help="a conversation with the archive (empty line ends)")
    p.add_argument("--generator", choices=GENERATORS, help="answer backend (default: settings, llama.cpp)")
    p.add_argument("--as-of", help="date that 今天/昨天/上个月 refer to (default: newest article)")

    p = sub.add_parser("summarize", parents=[common], help="a cited summary of one article")
    p.add_argument("article_id", help="article id (a unique prefix is enough)")
    p.add_argument("--generator", choices=GENERATORS, help="backend (default: settings, llama.cpp)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", metavar="FILE.md", help="also write the Markdown to this file")

    p = sub.add_parser("brief", parents=[common], help="a cited brief on a topic and/or date range")
    p.add_argument("topic", nargs="?", help="what the brief is about (optional with --since/--until)")
    p.add_argument("--since", help="only articles published on or after this date")
    p.add_argument("--until", help="only articles published on or before this date")
    p.add_argument("--max-articles", type=int, default=10, help="at most this many articles (default 10)")
    p.add_argument("--generator", choices=GENERATORS, help="backend (default: settings, llama.cpp)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", metavar="FILE.md", help="also write the Markdown to this file")

    p = sub.add_parser("articles", parents=[common], help="list the indexed articles")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("show", parents=[common], help="print one article with its passages")
    p.add_argument("article_id")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("stats", parents=[common], help="index statistics")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("delete", parents=[common], help="remove an article from the index")
    p.add_argument("article_id")

    # Everything after `serve` goes to the web app's own parser (rag.web), as for app.py.
    p = sub.add_parser("serve", help="start the web app: chat, briefs, library (rag serve --help)",
                       add_help=False, prefix_chars="\0")
    p.add_argument("serve_args", nargs=argparse.REMAINDER)

    # Everything after a plugin's name (even --help) goes to the plugin's own parser.
    for name, (_, summary) in _plugins().items():
        p = sub.add_parser(name, help=summary, add_help=False, prefix_chars="\0")
        p.add_argument("plugin_args", nargs=argparse.REMAINDER)
    return parser


# One line of `rag --help` for the plugins we know; loading a plugin to ask costs time.
_PLUGIN_HELP = {"eval": "offline evaluation on gold data (rag eval --help)"}


@functools.cache
def _plugins() -> dict[str, tuple[Any, str]]:
    """{command: (entry point, one-line help)} of the installed `rag` plugins."""
    from importlib.metadata import entry_points

    return {
        ep.name: (ep, _PLUGIN_HELP.get(ep.name, f"{ep.name} (rag {ep.name} --help)"))
        for ep in entry_points(group=PLUGIN_GROUP)
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plugins = _plugins()
    if args.command in plugins:
        plugin_main = plugins[args.command][0].load()
        return int(plugin_main(args.plugin_args, config=args.config))
    if args.command == "serve":
        from rag.web.app import main as web_main

        config = ["--config", args.config] if args.config else []
        return web_main([*config, *args.serve_args], prog="rag serve")
    try:
        settings = settings_from(args, generator=getattr(args, "generator", None))
        from rag.service import Service

        service = Service(settings)
        try:
            return COMMANDS[args.command](service, args)
        finally:
            service.close()
    except ModelCrashedError as exc:
        # The model's process died (its crash is logged with the likely cause); this
        # command's answer is lost, nothing else.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RagError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("interrupted; the index keeps everything committed so far", file=sys.stderr)
        return 130


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


@contextlib.contextmanager
def _embedding_bar(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A `progress(done, total)` callback drawing a bar of passages embedded on stderr."""
    from tqdm import tqdm

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if quiet or total == 0:
            return
        if bar is None:
            bar = tqdm(total=total, unit="passage", desc="embedding", file=sys.stderr)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


def cmd_ingest(service: Any, args: argparse.Namespace) -> int:
    print(f"reading {', '.join(args.paths)} …", file=sys.stderr)
    with _embedding_bar(args.quiet) as progress:
        report = service.ingest(args.paths, progress=progress, ray=args.ray)
    print(format_report(report))
    return 1 if report.skipped else 0


def cmd_migrate(service: Any, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    started = time.perf_counter()
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if args.quiet or total == 0:
            return
        if bar is None:
            bar = tqdm(total=total, unit="article", desc="copying", file=sys.stderr)
        bar.update(done - bar.n)

    try:
        copied, present = service.copy_to(args.to, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(f"copied {copied:,} articles from {service.settings.store_uri} to {args.to} in "
          f"{time.perf_counter() - started:.1f} s ({present:,} were there already; nothing embedded)")
    return 0


def cmd_reindex(service: Any, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with _embedding_bar(args.quiet) as progress:
        n, embedded = service.reindex(progress=progress)
    seconds = time.perf_counter() - started
    if embedded:
        print(f"embedded {n:,} passages again with {service.settings.embedding_runtime} "
              f"in {seconds:.1f} s")
    else:
        print(f"converted the vectors of {n:,} passages to this version's format in "
              f"{seconds:.1f} s (the embedding is unchanged: nothing was embedded)")
    return 0


def format_report(report: IngestReport) -> str:
    """The ingest summary, then one line per skipped file and per duplicate.

    Control characters in names and reasons (a newline in a file name) are escaped, as
    `\\n` or `\\x1b`, so that each item stays on one line.
    """
    import unicodedata

    def one_line(text: str) -> str:
        return "".join(
            c.encode("unicode_escape").decode("ascii")
            if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") else c
            for c in text
        )

    lines = [
        f"added {len(report.added)}, updated {len(report.updated)}, "
        f"unchanged {len(report.unchanged)}, removed {len(report.removed)}, "
        f"duplicates {len(report.duplicates)}, skipped {len(report.skipped)} "
        f"({report.passages_embedded} passages embedded in {report.seconds:.1f} s)"
    ]
    for item in report.skipped:
        lines.append(f"  skipped {one_line(item.source)}: {one_line(item.reason)}")
    for item in report.duplicates[:20]:
        lines.append(f"  duplicate {one_line(item.source)}: {one_line(item.reason)}")
    if len(report.duplicates) > 20:
        lines.append(f"  … and {len(report.duplicates) - 20} more duplicates")
    return "\n".join(lines)


def cmd_search(service: Any, args: argparse.Namespace) -> int:
    if service.is_empty():
        index = service.settings.store_uri
        flag = "--store" if service.settings.store else "--index"
        print(
            f"the index {index} is empty: add articles with `rag ingest {flag} {index} PATH...`",
            file=sys.stderr,
        )
        return 1
    hits = service.search(
        args.query, k=args.k, since=args.since, until=args.until, sources=args.source,
        mode=args.mode,
    )
    if args.json:
        _print_json({"query": args.query, "hits": [hit_to_json(h) for h in hits]})
        return 0
    if not hits:
        print("no matching passages")
    for h in hits:
        ranks = f"dense #{h.dense_rank or '-'}, bm25 #{h.bm25_rank or '-'}"
        print(f"[{h.rank}] {h.title}  ({h.published or 'undated'}; {ranks}; score {h.score:.4f})")
        print(f"    {h.passage.article_id} {h.source} chars {h.passage.start}-{h.passage.end}")
        print("    " + h.passage.text.replace("\n", " ")[:300])
        print()
    return 0


def print_evidence(evidence: Any) -> None:
    """The evidence sentences, shown while the model writes (to stderr: the answer,
    verified, follows on stdout)."""
    if not evidence:
        return
    print("依据：", file=sys.stderr)
    for e in evidence:
        date = (e.published or "日期不详")[:10]
        print(f"  [{e.n}] {e.text.replace(chr(10), ' ')}（《{e.title}》{date}）", file=sys.stderr)
    print("回答：", end="", flush=True, file=sys.stderr)


def cmd_ask(service: Any, args: argparse.Namespace) -> int:
    streamed = not args.json and sys.stdout.isatty()

    def on_token(delta: str) -> None:
        print(delta, end="", flush=True, file=sys.stderr)

    answer = service.ask(
        args.question, as_of=args.as_of, on_token=on_token if streamed else None,
        on_evidence=print_evidence if streamed else None,
    )
    if args.json:
        from rag.results import answer_to_json

        _print_json(answer_to_json(answer))
        return 0
    if streamed:
        print("\n", file=sys.stderr)
    print_answer(answer)
    return 0


def print_answer(answer: Any) -> None:
    if answer.standalone_question != answer.question:
        print(f"（理解为：{answer.standalone_question}）")
    print(answer.answer)
    print("最接近的资料：" if answer.refused else "引用：")
    for c in answer.citations:
        snippet = c.text.replace("\n", " ")[:80]
        print(f"[{c.n}] {c.title}（{c.published or '日期不详'}）{snippet}…")


def cmd_chat(service: Any, args: argparse.Namespace) -> int:
    history: list[tuple[str, str]] = []
    while True:
        try:
            question = input("问：").strip()
        except EOFError:
            break
        if not question:
            break
        try:
            answer = service.ask(question, history=history, as_of=args.as_of)
        except ModelCrashedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        print_answer(answer)
        print()
        history += [("user", answer.standalone_question), ("assistant", answer.answer)]
    return 0


def _progress_line(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def _print_brief(brief: Any, args: argparse.Namespace) -> int:
    from rag.results import brief_to_json

    if args.out:
        from pathlib import Path

        Path(args.out).write_text(brief.markdown, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        _print_json(brief_to_json(brief))
    else:
        print(brief.markdown)
    return 0


def cmd_summarize(service: Any, args: argparse.Namespace) -> int:
    return _print_brief(service.summarize(args.article_id, on_progress=_progress_line), args)


def cmd_brief(service: Any, args: argparse.Namespace) -> int:
    brief = service.brief(
        args.topic, since=args.since, until=args.until, max_articles=args.max_articles,
        on_progress=_progress_line,
    )
    _print_brief(brief, args)
    return 0 if brief.sections else 1


def cmd_articles(service: Any, args: argparse.Namespace) -> int:
    rows = service.articles()
    if args.json:
        _print_json([article_info_to_json(a) for a in rows])
        return 0
    for a in rows:
        print(f"{a.id}  {a.published or '----------'}  {a.n_passages:3d} passages  {a.title}")
    print(f"{len(rows)} articles", file=sys.stderr)
    return 0


def cmd_show(service: Any, args: argparse.Namespace) -> int:
    article = service.article(args.article_id)
    passages = service.passages(article.id)
    if args.json:
        _print_json(article_to_json(article, passages))
        return 0
    print(article.title)
    if article.subtitle:
        print(article.subtitle)
    meta = [article.published or "undated", article.source]
    if article.reporters:
        meta.append("记者 " + " ".join(article.reporters))
    print(" | ".join(meta))
    print()
    print(article.text)
    for caption in article.captions:
        print(f"\n[图片说明] {caption}")
    print(f"\n{len(passages)} passages", file=sys.stderr)
    return 0


def cmd_stats(service: Any, args: argparse.Namespace) -> int:
    stats = service.stats()
    if args.json:
        _print_json(stats)
        return 0
    width = max(len(k) for k in stats)
    for key, value in stats.items():
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_delete(service: Any, args: argparse.Namespace) -> int:
    article = service.delete(args.article_id)
    print(f"deleted {article.id} {article.title}")
    return 0


COMMANDS = {
    "ask": cmd_ask,
    "chat": cmd_chat,
    "summarize": cmd_summarize,
    "brief": cmd_brief,
    "ingest": cmd_ingest, "reindex": cmd_reindex, "search": cmd_search, "articles": cmd_articles, "show": cmd_show,
    "stats": cmd_stats, "delete": cmd_delete, "migrate": cmd_migrate,
}

if __name__ == "__main__":
    sys.exit(main())
