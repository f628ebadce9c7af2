"""What the web app's events do: each handler calls `rag.service.Service` and renders
the result with `render`; uploads go through `upload`.

Gradio runs handlers in threads, several at once. Handlers that change the archive
(ingest, delete) take turns; those that read it (answers, briefs, the library) never
wait for them: the archive gives readers its last committed state (see
`rag.archive.store`), so an answer never sees half an ingest and is not held up by one.
"""

import contextlib
import queue
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError, StoreError
from rag.results import Evidence, evidence_to_json
from rag.web import render
from rag.web.files import safe_filename
from rag.web.upload import ingest_upload

if TYPE_CHECKING:
    from rag.service import Service

MAX_CHOICES = 2000  # articles offered in the summary picker (the library lists all)
ID_CHARS = 8  # article ids shown in the table (a prefix is enough to open one)
STREAM_EVERY = 0.08  # seconds between streamed updates of an answer

# Questions the example archive (examples/archive) answers, keyed by the title of the
# article that answers them; shown when that article is in the archive.
EXAMPLE_QUESTIONS = {
    "地铁2号线一期工程完成总工程量60%": "地铁2号线一期工程的总投资是多少钱？",
    "3万跑者竞逐青川河畔": "2025青川马拉松男子全程项目的冠军是谁？",
    "第十二届青川河元宵灯会落幕": "第十二届青川河元宵灯会一共迎来了多少游客？",
    "市第一人民医院东院区正式启用": "市第一人民医院新启用的东院区能提供多少张病床？",
    "沙溪河流域综合治理工程全面开工": "沙溪河流域水环境综合治理工程计划总共投入多少资金？",
}

KEEP_DOWNLOADS = 20  # Markdown files kept for download
TABLE_HEADERS = ["标题", "日期", "来源", "段落", "字数", "ID"]

def example_questions(titles: Sequence[str], limit: int = 5) -> list[str]:
    """Questions to offer: the example archive's own, else ones made from recent titles."""
    known = [EXAMPLE_QUESTIONS[t] for t in titles if t in EXAMPLE_QUESTIONS]
    if known:
        return known[:limit]
    out: list[str] = []
    for title in titles:
        title = title.strip()
        if 4 <= len(title) <= 30 and title not in out:
            out.append(title)
        if len(out) == min(limit, 3):
            break
    return [f"{t}是怎么回事？" for t in out]


# ------------------------------------------------------------------------------ the app
class Handlers:
    """What the page's events do; each public method calls the service and renders the
    result."""

    def __init__(self, service: "Service") -> None:
        self.service = service
        self.writing = threading.Lock()  # one upload or deletion at a time
        # Brief and summary Markdown files to download: Gradio copies each into its own
        # cache when it is offered, so only the newest few are kept, and none after exit.
        self.downloads = Path(tempfile.mkdtemp(prefix="rag-downloads-"))
        weakref.finalize(self, shutil.rmtree, self.downloads, True)

    # ---------------------------------------------------------------- helpers
    def _has_archive(self) -> bool:
        return self.service.has_index()

    def _article_or_none(self, article_id: str) -> Any:
        try:
            return self.service.article(article_id)
        except StoreError:
            return None

    def _views(self, citations: Sequence[Any], sentences: Sequence[Any] = (),
              fallback: str = "") -> list[dict[str, Any]]:
        """Citations as the sources panel shows them; `sentences` (with .text and
        .citations) are what cites them, `fallback` what to match when nothing does."""
        articles: dict[str, Any] = {}
        out = []
        for c in citations:
            if c.article_id not in articles:
                articles[c.article_id] = self._article_or_none(c.article_id)
            claims = [s.text for s in sentences if c.n in s.citations] or [fallback]
            out.append(render.citation_view(c, articles[c.article_id], claims))
        return out

    # ------------------------------------------------------------------- chat
    def chat(self, question: str, turns: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        """Stream an answer: partial text while the model writes, then the verified,
        cited answer (or the refusal) and its sources."""
        import gradio as gr

        turns = list(turns or [])
        question = (question or "").strip()
        if not question:
            gr.Warning("请输入问题。")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history: list[tuple[str, str]] = []
        for t in turns:
            if t["status"] in ("answer", "refused"):
                history += [("user", t["standalone"]), ("assistant", t["answer"])]
        turn: dict[str, Any] = {"question": question, "standalone": None, "status": "pending", "draft": ""}
        turns.append(turn)
        yield "", render.render_chat(turns), render.render_sources(turns), turns
        ready = self._has_archive()
        if not ready:
            turn.update(status="error", message="资料库还是空的：请先在“资料库”页上传新闻文件。")
            yield gr.skip(), render.render_chat(turns), render.render_sources(turns), turns
            return

        # The model's tokens, and (once, first) the evidence sentences as a list.
        tokens: queue.Queue[str | list[dict[str, Any]] | None] = queue.Queue()
        outcome: dict[str, Any] = {}

        def on_evidence(evidence: Sequence[Evidence]) -> None:
            tokens.put([evidence_to_json(e) for e in evidence])

        def work() -> None:
            try:
                outcome["answer"] = self.service.ask(
                    question, history=history, on_token=tokens.put, on_evidence=on_evidence,
                )
            except BaseException as exc:  # handed to the request thread below, not swallowed
                outcome["error"] = exc
            finally:
                tokens.put(None)

        threading.Thread(target=work, name="rag-ask", daemon=True).start()
        done, last = False, 0.0
        while not done:
            pieces = []
            shown = False
            item = tokens.get()
            while True:
                if item is None:
                    done = True
                    break
                if isinstance(item, list):
                    turn["evidence"] = item
                    shown = True
                    break  # shown on its own, before any of the model's words
                else:
                    pieces.append(item)
                try:
                    item = tokens.get_nowait()
                except queue.Empty:
                    break
            turn["draft"] += "".join(pieces)
            if shown and not done or pieces and time.monotonic() - last >= STREAM_EVERY:  # the evidence is shown at once, before the model writes
                last = time.monotonic()
                yield gr.skip(), render.render_chat(turns), gr.skip(), gr.skip()
            elif pieces and not done:
                time.sleep(STREAM_EVERY / 2)

        error = outcome.get("error")
        if error is not None:
            if not isinstance(error, RagError):
                raise error
            turn.update(status="error", message=str(error))
        else:
            self._finish(turn, outcome["answer"])
        # The question box was cleared when the question was sent; what the user has typed
        # since is kept.
        yield gr.skip(), render.render_chat(turns), render.render_sources(turns), turns

    def _finish(self, turn: dict[str, Any], answer: Any) -> None:
        kept = [s for s in answer.sentences if s.supported and s.citations]
        turn.update(
            standalone=answer.standalone_question,
            answer=answer.answer,
            status="refused" if answer.refused else "answer",
            sentences=[{"text": s.text, "citations": list(s.citations)} for s in kept],
            dropped=0 if answer.refused else len(answer.sentences) - len(kept),
            citations=self._views(answer.citations, kept, answer.standalone_question),
            seconds=answer.timings.get("total_s"),
        )
        turn.pop("draft", None)

    def new_chat(self) -> tuple[str, str, str, list[Any]]:
        return "", render.render_chat([], self.hint()), render.render_sources([]), []

    def refresh_chat(self, turns: list[dict[str, Any]]) -> tuple[Any, Any]:
        """The empty conversation with a hint fitting the archive now (on page load);
        a conversation already started is left alone."""
        import gradio as gr

        if turns:
            return gr.skip(), gr.skip()
        return render.render_chat([], self.hint()), render.render_sources([])

    def hint(self) -> str:
        ready = self._has_archive()
        return "" if ready else "资料库还是空的：请先在“资料库”页上传新闻文件。"

    def titles(self) -> list[str]:
        """Titles of the archive's articles, newest first (none before anything is indexed)."""
        return [a.title for a in self.service.articles()] if self._has_archive() else []

    def examples(self) -> Any:
        """The example-question list for the archive as it is now (hidden when empty)."""
        import gradio as gr

        questions = example_questions(self.titles())
        return gr.Dataset(samples=[[q] for q in questions] or [[""]], visible=bool(questions))

    # ----------------------------------------------------------------- briefs
    def brief(self, topic: str, since: str, until: str, count: float, progress: Any = None):  # type: ignore[no-untyped-def]
        """Yields the page's (brief, download) as each story's paragraph is written, then
        the finished brief with its Markdown to download."""
        import gradio as gr

        from rag.text.dates import parse_date

        for label, value in (("开始日期", since), ("结束日期", until)):
            try:
                parse_date(value)
            except ValueError:
                yield self._brief_error(f"{label}“{value}”格式不对：请写成 2025、2025-03 或 2025-03-15。")
                return
        if not (topic or "").strip() and not (since or "").strip() and not (until or "").strip():
            yield self._brief_error("请填写主题，或给出日期范围（也可以两者都填）。")
            return
        if not self._has_archive():
            yield self._brief_error("资料库还是空的：请先在“资料库”页上传新闻文件。")
            return
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                result = self.service.brief(
                    topic.strip() or None, since.strip() or None, until.strip() or None,
                    max_articles=int(count or 10),
                    on_progress=lambda fraction, message: events.put(("progress", (fraction, message))),
                    on_section=lambda partial: events.put(("section", partial)),
                )
                events.put(("done", result))
            except RagError as exc:
                events.put(("error", str(exc)))
            except BaseException as exc:  # shown by Gradio as an error, not lost in a thread
                events.put(("crash", exc))

        threading.Thread(target=work, name="rag-brief", daemon=True).start()
        report = _progress_adapter(progress)
        prefix = f"b{time.monotonic_ns()}"
        while True:
            kind, value = events.get()
            if kind == "progress":
                report(*value)
            elif kind == "section":
                views = self._views(value.citations, value.sentences, value.topic or "")
                yield render.render_brief(value, views, prefix=prefix), gr.DownloadButton(visible=False)
            elif kind == "done":
                yield self._brief_outputs(value, "简报", gr, prefix)
                return
            elif kind == "error":
                yield self._brief_error(value)
                return
            else:
                raise value

    def summarize(self, article_id: str, progress: Any = None):  # type: ignore[no-untyped-def]
        import gradio as gr

        if not article_id:
            return self._brief_error("请先选择一篇文章。")
        try:
            result = self.service.summarize(article_id, on_progress=_progress_adapter(progress))
        except RagError as exc:
            return self._brief_error(str(exc))
        return self._brief_outputs(result, "摘要", gr)

    def _brief_outputs(self, result: Any, kind: str, gr: Any, prefix: str | None = None) -> tuple[str, Any]:
        views = self._views(result.citations, result.sentences, result.topic or "")
        html = render.render_brief(result, views, prefix=prefix or f"b{time.monotonic_ns()}")
        if result.empty:
            return html, gr.DownloadButton(visible=False)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = safe_filename(f"{kind}-{(result.topic or '')[:30]}-{stamp}.md")
        path = self.downloads / name
        path.write_text(result.markdown, encoding="utf-8")
        older = sorted(self.downloads.glob("*.md"), key=lambda p: p.stat().st_mtime_ns)
        for old in older[:-KEEP_DOWNLOADS]:
            old.unlink(missing_ok=True)
        return html, gr.DownloadButton(value=str(path), visible=True, label=f"下载 Markdown（{name}）")

    def _brief_error(self, message: str) -> tuple[str, Any]:
        import gradio as gr

        gr.Warning(message)
        return render.render_notice(message, "error"), gr.DownloadButton(visible=False)

    # ---------------------------------------------------------------- library
    def library(self) -> tuple[Any, str, Any, str]:
        """Article table, statistics, summary picker choices and page header, fresh."""
        return self._library()

    def _library(self) -> tuple[Any, str, Any, str]:
        import gradio as gr

        if not self._has_archive():
            empty = {"headers": TABLE_HEADERS, "data": []}
            return empty, render.render_stats(None), gr.Dropdown(choices=[], value=None), header(None)
        infos = self.service.articles()
        rows = [
            [a.title, a.published or "", render.source_label(a.source, a.source_name),
             a.n_passages, a.n_chars, a.id[:ID_CHARS]]
            for a in infos
        ]
        stats = self.service.stats()
        choices = [(f"{(a.published or '')[:10]}  {a.title}", a.id) for a in infos[:MAX_CHOICES]]
        return (
            {"headers": TABLE_HEADERS, "data": rows},
            render.render_stats(stats),
            gr.Dropdown(choices=choices, value=None),
            header(stats),
        )

    def open_article(self, article_id: str) -> tuple[str, str, Any, Any, str]:
        import gradio as gr

        if not article_id:
            return article_placeholder(), "", gr.Button(interactive=False), gr.Button(interactive=False), ""
        try:
            article = self.service.article(article_id)
            passages = self.service.passages(article.id)
        except StoreError as exc:
            gr.Warning(str(exc))
            return render.render_notice(str(exc), "error"), "", gr.Button(interactive=False), gr.Button(interactive=False), ""
        return (
            render.render_article(article, passages), article.id,
            gr.Button(interactive=True), gr.Button(interactive=True), "",
        )

    def delete(self, article_id: str) -> tuple[str, str, Any, Any, str]:
        import gradio as gr

        if not article_id:  # the confirmation was declined
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            with self.writing:
                article = self.service.delete(article_id)
        except RagError as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), render.render_notice(str(exc), "error")
        return (
            article_placeholder(), "", gr.Button(interactive=False), gr.Button(interactive=False),
            render.render_notice(f"已删除《{article.title}》。", "ok"),
        )

    def ingest(self, files: list[str] | None, progress: Any = None) -> dict[str, Any]:
        """Copy each uploaded file into the archive's uploads folder and index it.

        Returns, per file, what happened: added / updated / unchanged / duplicate /
        skipped (with the reason), as JSON-able data.
        """
        files = [f for f in (files or []) if f]
        if not files:
            return {"files": []}
        try:
            with self.writing:
                return {"files": self._ingest(files, _progress_adapter(progress))}
        finally:
            for path in files:
                _drop_upload_copy(Path(path))

    def _ingest(self, files: Sequence[str], report_progress: Callable[[float, str], None]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        if not self._has_archive():
            report_progress(0.0, "正在创建资料库（首次需加载嵌入模型）…")
            self.service.ingest([])
        uploads = Path(self.service.settings.index_dir) / "uploads"
        for i, path in enumerate(files):
            name = Path(path).name
            base = i / len(files)

            def on_embed(done: int, total: int, name: str = name, base: float = base) -> None:
                if total:
                    report_progress(base + done / total / len(files), f"{name}：已处理 {done}/{total} 段")

            report_progress(base, f"正在读取 {name}（{i + 1}/{len(files)}）")
            results.append(ingest_upload(self.service, Path(path), name, uploads, on_embed, self._title))
        report_progress(1.0, "完成")
        return results

    def _title(self, article_id: str) -> str:
        article = self._article_or_none(article_id)
        return article.title if article is not None else article_id[:8]

    def ingest_report(self, report: dict[str, Any] | None) -> str:
        results = (report or {}).get("files") or []
        if results:
            bad = [r["file"] for r in results if r["status"] == "skipped"]
            if bad:
                import gradio as gr

                gr.Warning(f"未能导入：{'、'.join(bad[:5])}")
        return render.render_ingest(results)


def _drop_upload_copy(path: Path) -> None:
    """Remove the copy the web server keeps of an uploaded file once it is ingested
    (the archive has its own copy); files outside the server's upload folder are left."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()).resolve()
    try:
        resolved = path.resolve()
    except OSError:
        return
    if folder not in resolved.parents:
        return
    resolved.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        resolved.parent.rmdir()  # gradio's per-upload folder, once empty


def _progress_adapter(progress: Any) -> Callable[[float, str], None]:
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(max(0.0, min(1.0, fraction)), desc=message)

    return report


def header(stats: dict[str, Any] | None) -> str:
    if stats and stats.get("articles"):
        span = " 至 ".join(x for x in (stats.get("earliest"), stats.get("latest")) if x)
        sub = f"已收录 {stats['articles']:,} 篇文章" + (f"（{span}）" if span else "")
    else:
        sub = "资料库为空：在“资料库”页上传新闻文件"
    return (
        '<div class="rag-header"><div class="rag-title">新闻资料问答</div>'
        f'<div class="rag-sub">{render.esc(sub)} · 回答只依据资料，逐句标注出处</div></div>'
    )


def article_placeholder() -> str:
    return '<div class="rag-article placeholder">在左侧表格中点击一篇文章，查看全文、图片说明和检索段落。</div>'
