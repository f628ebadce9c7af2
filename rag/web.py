"""The web app: cited chat, briefs and the library, as a thin Gradio adapter over Service.

`build_app(service)` makes the page; `main()` (what `python app.py` and `rag serve` run)
builds the service from settings and serves it on 127.0.0.1:7860. Every handler calls
`rag.service.Service` and renders the result with `web_render`; uploads go through
`web_files`. Gradio is imported only here, inside functions, so importing this module
(as `rag --help` does) stays cheap.

Model work (ask, brief, summarize) shares one queue whose concurrency is 1 by default,
so several users at once wait their turn instead of overloading the model; writes
(ingest, delete) share another.
"""

# No `from __future__ import annotations`: gr.api reads the API functions' type hints.

import argparse
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import web_render as render
from .web_files import (
    UPLOAD_TYPES,
    UploadError,
    file_type,
    safe_filename,
    store_upload,
    unpack_zip,
)
from .web_style import CSS

if TYPE_CHECKING:
    import gradio as gr

    from .service import Service

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
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

TABLE_HEADERS = ["标题", "日期", "来源", "段落", "字数", "ID"]

# Reasons the readers give for skipping a file, in the reader's words, shown in Chinese.
_REASONS = [
    ("empty file (only whitespace)", "空文件（只有空白字符）"),
    ("empty file (no records)", "空文件（没有记录）"),
    ("empty file", "空文件"),
    ("binary file, not text", "二进制文件，不是文本"),
    ("could not detect a text encoding", "无法识别文字编码"),
    ("encrypted PDF", "PDF 已加密（需要密码）"),
    ("no extractable text in PDF", "PDF 中没有可提取的文字（扫描件需先做文字识别）"),
    ("corrupt PDF", "PDF 文件已损坏"),
    ("corrupt DOCX", "DOCX 文件已损坏"),
    ("corrupt HTML", "HTML 文件已损坏"),
    ("corrupt gzip", "gzip 压缩文件已损坏"),
    ("no article text found", "没有找到正文"),
    ("no text in", "文件中没有文字"),
    ("unsupported file type", "不支持的文件类型"),
    ("invalid JSON", "JSON 格式错误"),
    ("record is not a JSON object", "记录不是 JSON 对象"),
    ("record has no text", "记录没有正文"),
    ("cannot read file", "无法读取文件"),
]

CITE_JS = """
element.addEventListener('click', (event) => {
  const link = event.target.closest('a.cite');
  if (!link) return;
  event.preventDefault();
  const entry = document.getElementById(link.dataset.target);
  if (!entry) return;
  document.querySelectorAll('.cite-entry.active').forEach((e) => e.classList.remove('active'));
  entry.open = true;
  entry.classList.add('active');
  entry.scrollIntoView({block: 'nearest', behavior: 'smooth'});
});
"""

CHAT_JS = CITE_JS + """
watch('value', () => {
  const box = element.querySelector('.rag-chat');
  if (box) box.scrollTop = box.scrollHeight;
});
"""

CONFIRM_DELETE_JS = "(id) => (id && confirm('从资料库删除这篇文章？上传的原文件保留，检索中将不再出现。')) ? id : ''"

def reason_zh(reason: str) -> str:
    """A reader's skip reason in Chinese (the original kept for details it carries)."""
    for english, chinese in _REASONS:
        if reason.startswith(english):
            rest = reason[len(english):].strip(" :")
            return f"{chinese}（{rest.strip('()')}）" if rest else chinese
    return reason


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is meant for the user (like the CLI's)."""
    from .config import ConfigError
    from .generate import GenerationError
    from .models import ModelError
    from .store import StoreError

    return (StoreError, ConfigError, ModelError, GenerationError, ValueError, UploadError)


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
class _Handlers:
    """What the page's events do; each method calls the service and renders the result."""

    def __init__(self, service: "Service") -> None:
        self.service = service
        self.downloads = Path(tempfile.mkdtemp(prefix="rag-downloads-"))

    # ---------------------------------------------------------------- helpers
    def has_archive(self) -> bool:
        from .store import StoreError

        try:
            self.service.store()
        except StoreError:
            return False
        return True

    def _article_or_none(self, article_id: str) -> Any:
        from .store import StoreError

        try:
            return self.service.article(article_id)
        except StoreError:
            return None

    def views(self, citations: Sequence[Any], sentences: Sequence[Any] = (),
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
        if not self.has_archive():
            turn.update(status="error", message="资料库还是空的：请先在“资料库”页上传新闻文件。")
            yield gr.skip(), render.render_chat(turns), render.render_sources(turns), turns
            return

        tokens: queue.Queue[str | None] = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["answer"] = self.service.ask(question, history=history, on_token=tokens.put)
            except BaseException as exc:  # handed to the request thread below, not swallowed
                outcome["error"] = exc
            finally:
                tokens.put(None)

        threading.Thread(target=work, name="rag-ask", daemon=True).start()
        done, last = False, 0.0
        while not done:
            pieces = []
            item = tokens.get()
            while True:
                if item is None:
                    done = True
                    break
                pieces.append(item)
                try:
                    item = tokens.get_nowait()
                except queue.Empty:
                    break
            turn["draft"] += "".join(pieces)
            if pieces and time.monotonic() - last >= STREAM_EVERY:
                last = time.monotonic()
                yield gr.skip(), render.render_chat(turns), gr.skip(), gr.skip()
            elif pieces and not done:
                time.sleep(STREAM_EVERY / 2)

        error = outcome.get("error")
        if error is not None:
            if not isinstance(error, user_errors()):
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
            citations=self.views(answer.citations, kept, answer.standalone_question),
            seconds=answer.timings.get("total_s"),
        )
        turn.pop("draft", None)

    def new_chat(self) -> tuple[str, str, str, list[Any]]:
        return "", render.render_chat([], self.hint()), render.render_sources([]), []

    def hint(self) -> str:
        return "" if self.has_archive() else "资料库还是空的：请先在“资料库”页上传新闻文件。"

    # ----------------------------------------------------------------- briefs
    def brief(self, topic: str, since: str, until: str, count: float, progress: Any = None):  # type: ignore[no-untyped-def]
        import gradio as gr

        from .service import parse_date

        for label, value in (("开始日期", since), ("结束日期", until)):
            try:
                parse_date(value)
            except ValueError:
                return self._brief_error(f"{label}“{value}”格式不对：请写成 2025、2025-03 或 2025-03-15。")
        if not (topic or "").strip() and not (since or "").strip() and not (until or "").strip():
            return self._brief_error("请填写主题，或给出日期范围（也可以两者都填）。")
        if not self.has_archive():
            return self._brief_error("资料库还是空的：请先在“资料库”页上传新闻文件。")
        on_progress = _progress_adapter(progress)
        try:
            result = self.service.brief(
                topic.strip() or None, since.strip() or None, until.strip() or None,
                max_articles=int(count or 10), on_progress=on_progress,
            )
        except user_errors() as exc:
            return self._brief_error(str(exc))
        return self._brief_outputs(result, "简报", gr)

    def summarize(self, article_id: str, progress: Any = None):  # type: ignore[no-untyped-def]
        import gradio as gr

        if not article_id:
            return self._brief_error("请先选择一篇文章。")
        try:
            result = self.service.summarize(article_id, on_progress=_progress_adapter(progress))
        except user_errors() as exc:
            return self._brief_error(str(exc))
        return self._brief_outputs(result, "摘要", gr)

    def _brief_outputs(self, result: Any, kind: str, gr: Any) -> tuple[str, Any]:
        views = self.views(result.citations, result.sentences, result.topic or "")
        html = render.render_brief(result, views, prefix=f"b{time.monotonic_ns()}")
        if result.empty:
            return html, gr.DownloadButton(visible=False)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = safe_filename(f"{kind}-{(result.topic or '')[:30]}-{stamp}.md")
        path = self.downloads / name
        path.write_text(result.markdown, encoding="utf-8")
        return html, gr.DownloadButton(value=str(path), visible=True, label=f"下载 Markdown（{name}）")

    def _brief_error(self, message: str) -> tuple[str, Any]:
        import gradio as gr

        gr.Warning(message)
        return render.render_notice(message, "error"), gr.DownloadButton(visible=False)

    # ---------------------------------------------------------------- library
    def library(self, query: str = "") -> tuple[Any, str, Any, str]:
        """Article table, statistics, summary picker choices and page header, fresh."""
        import gradio as gr

        if not self.has_archive():
            empty = {"headers": TABLE_HEADERS, "data": []}
            return empty, render.render_stats(None), gr.Dropdown(choices=[], value=None), _header(None)
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
            _header(stats),
        )

    def open_article(self, article_id: str) -> tuple[str, str, Any, Any, str]:
        import gradio as gr

        from .store import StoreError

        if not article_id:
            return _article_placeholder(), "", gr.Button(interactive=False), gr.Button(interactive=False), ""
        try:
            article = self.service.article(article_id)
            passages = self.service.store().passages_of(article.id)
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
            article = self.service.delete(article_id)
        except user_errors() as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), render.render_notice(str(exc), "error")
        return (
            _article_placeholder(), "", gr.Button(interactive=False), gr.Button(interactive=False),
            render.render_notice(f"已删除《{article.title}》。", "ok"),
        )

    def ingest(self, files: list[str] | None, progress: Any = None) -> dict[str, Any]:
        """Copy each uploaded file into the archive's uploads folder and index it.

        Returns, per file, what happened: added / updated / unchanged / duplicate /
        skipped (with the reason), as JSON-able data.
        """
        files = [f for f in (files or []) if f]
        results: list[dict[str, Any]] = []
        if not files:
            return {"files": results}
        report_progress = _progress_adapter(progress)
        if not self.has_archive():
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
            results.append(self._ingest_one(Path(path), name, uploads, on_embed))
        report_progress(1.0, "完成")
        return {"files": results}

    def _ingest_one(self, path: Path, name: str, uploads: Path, on_embed: Callable[[int, int], None]) -> dict[str, Any]:
        notes: list[str] = []
        try:
            if file_type(name) == ".zip":
                unpacked = unpack_zip(path, name, uploads)
                stored = unpacked.folder
                notes += [f"{member}：{reason}" for member, reason in unpacked.refused[:10]]
                if len(unpacked.refused) > 10:
                    notes.append(f"另有 {len(unpacked.refused) - 10} 个文件未解压")
                if not unpacked.files:
                    stored.restore()
                    return _result(name, "skipped", "zip 中没有可读取的文件", notes)
            else:
                stored = store_upload(path, name, uploads)
        except UploadError as exc:
            return _result(name, "skipped", str(exc))
        report = self.service.ingest([stored.path], progress=on_embed)
        used = report.added or report.updated or report.unchanged or report.duplicates
        if used:
            stored.commit()
        else:
            stored.restore()  # keep the previous version of the file (or none)
        for s in report.skipped[:10]:
            where = _display_source(s.source, stored.path)
            notes.append(f"{where}：{reason_zh(s.reason)}" if where != name else reason_zh(s.reason))
        if len(report.skipped) > 10:
            notes.append(f"另有 {len(report.skipped) - 10} 处未能读取")
        counts = []
        if report.added:
            titles = "、".join(f"《{self._title(a)}》" for a in report.added[:3])
            more = " 等" if len(report.added) > 3 else ""
            counts.append(f"新增 {len(report.added)} 篇：{titles}{more}")
        if report.updated:
            counts.append(f"更新 {len(report.updated)} 篇")
        if report.unchanged:
            counts.append(f"{len(report.unchanged)} 篇已收录，内容未变")
        if report.duplicates:
            counts.append(f"{len(report.duplicates)} 篇与库中已有文章重复，未重复收录")
        if report.removed:
            counts.append(f"移除 {len(report.removed)} 篇（文件中已不再有）")
        status = (
            "added" if report.added else "updated" if report.updated
            else "unchanged" if report.unchanged else "duplicate" if report.duplicates else "skipped"
        )
        if counts:
            result = _result(name, status, "；".join(counts), notes)
        else:
            result = _result(name, status, "；".join(notes) or "没有找到可收录的文章")
        result.update(added=list(report.added), updated=list(report.updated),
                      unchanged=list(report.unchanged), removed=list(report.removed))
        return result

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


_LABELS = {"added": "已新增", "updated": "已更新", "unchanged": "未变", "duplicate": "重复", "skipped": "已跳过"}


def _result(name: str, status: str, detail: str, notes: Sequence[str] = ()) -> dict[str, Any]:
    text = detail if not notes else f"{detail}。{'；'.join(notes)}"
    return {"file": name, "status": status, "label": _LABELS[status], "detail": text}


def _display_source(source: str, stored: Path) -> str:
    """A skipped source named relative to the upload (a zip member, a JSONL line)."""
    base = str(stored)
    if source.startswith(base):
        rest = source[len(base):].lstrip("/\\")
        return rest or stored.name
    return Path(source).name


def _progress_adapter(progress: Any) -> Callable[[float, str], None]:
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(max(0.0, min(1.0, fraction)), desc=message)

    return report


def _header(stats: dict[str, Any] | None) -> str:
    if stats and stats.get("articles"):
        span = " 至 ".join(x for x in (stats.get("earliest"), stats.get("latest")) if x)
        sub = f"已收录 {stats['articles']:,} 篇文章" + (f"（{span}）" if span else "")
    else:
        sub = "资料库为空：在“资料库”页上传新闻文件"
    return (
        '<div class="rag-header"><div class="rag-title">新闻资料问答</div>'
        f'<div class="rag-sub">{render.esc(sub)} · 回答只依据资料，逐句标注出处</div></div>'
    )


def _article_placeholder() -> str:
    return '<div class="rag-article placeholder">在左侧表格中点击一篇文章，查看全文、图片说明和检索段落。</div>'


def build_app(service: "Service", *, model_concurrency: int = 1) -> "gr.Blocks":
    """The whole page: 问答 (chat), 简报 (briefs and summaries), 资料库 (library).

    API endpoints for `gradio_client`: ask, brief, summarize (JSON like the CLI's
    `--json`) and ingest (files in, per-file results out).
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from .cli import answer_to_json

    h = _Handlers(service)
    model = {"concurrency_id": "model", "concurrency_limit": model_concurrency}
    write = {"concurrency_id": "write", "concurrency_limit": 1}
    titles = [a.title for a in service.articles()] if h.has_archive() else []
    examples = example_questions(titles)

    with gr.Blocks(title="新闻资料问答") as demo:
        header = gr.HTML(_header(None), elem_id="rag-header")
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                turns = gr.State([])
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=480):
                        chat_html = gr.HTML(render.render_chat([], h.hint()), js_on_load=CHAT_JS, elem_id="chat")
                        with gr.Row(elem_id="ask-row"):
                            question = gr.Textbox(
                                placeholder="输入问题，按回车发送；可以接着追问，如“它什么时候开通？”",
                                show_label=False, scale=6, lines=1, max_lines=4, elem_id="question",
                                autofocus=True,
                            )
                            send = gr.Button("发送", variant="primary", scale=1, min_width=80, elem_id="send")
                            reset = gr.Button("新对话", scale=1, min_width=80, elem_id="new-chat")
                        if examples:
                            gr.Examples([[q] for q in examples], inputs=[question], label="示例问题",
                                        elem_id="examples")
                    with gr.Column(scale=2, min_width=360):
                        sources_html = gr.HTML(render.render_sources([]), js_on_load=CITE_JS, elem_id="sources")
            with gr.Tab("简报", id="briefs"), gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=300):
                    gr.HTML('<div class="panel-title">按主题或日期写简报</div>')
                    topic = gr.Textbox(label="主题", placeholder="例如：地铁建设、马拉松、经济数据（可留空）",
                                       elem_id="brief-topic")
                    with gr.Row():
                        since = gr.Textbox(label="开始日期", placeholder="2025-01", elem_id="brief-since")
                        until = gr.Textbox(label="结束日期", placeholder="2025-06-30", elem_id="brief-until")
                    count = gr.Slider(1, 30, value=10, step=1, label="最多文章数", elem_id="brief-count")
                    make = gr.Button("生成简报", variant="primary", elem_id="make-brief")
                    gr.HTML('<div class="panel-title second">单篇摘要</div>')
                    picker = gr.Dropdown(label="选择文章", choices=[], filterable=True, elem_id="summary-pick")
                    summarize = gr.Button("生成摘要", elem_id="make-summary")
                with gr.Column(scale=2, min_width=520):
                    brief_html = gr.HTML(
                        '<div class="rag-brief placeholder">简报会按主题分组，每句话标注出处，点击 [n] 查看原文。</div>',
                        js_on_load=CITE_JS, elem_id="brief",
                    )
                    download = gr.DownloadButton("下载 Markdown", visible=False, elem_id="download-brief")
            with gr.Tab("资料库", id="library"):
                stats_html = gr.HTML(render.render_stats(None), elem_id="stats")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=520):
                        upload = gr.File(
                            label="上传新闻文件（可多选）：" + " ".join(UPLOAD_TYPES),
                            file_count="multiple", file_types=list(UPLOAD_TYPES), type="filepath",
                            height=120, elem_id="upload",
                        )
                        report = gr.JSON(visible=False)
                        report_html = gr.HTML("", elem_id="ingest-report")
                        table = gr.Dataframe(
                            headers=TABLE_HEADERS, datatype=["str", "str", "str", "number", "number", "str"],
                            interactive=False, show_search="search", max_height=420, wrap=True,
                            column_widths=["42%", "15%", "17%", "7%", "8%", "11%"], elem_id="articles",
                        )
                    with gr.Column(scale=2, min_width=400):
                        selected = gr.State("")
                        with gr.Row():
                            summarize_open = gr.Button("生成摘要", interactive=False, size="sm", elem_id="summarize-article")
                            delete = gr.Button("删除这篇文章", variant="stop", interactive=False, size="sm",
                                               elem_id="delete-article")
                        notice = gr.HTML("", elem_id="library-notice")
                        article_html = gr.HTML(_article_placeholder(), js_on_load=CITE_JS, elem_id="article")

        # ---- chat
        chat_out = [question, chat_html, sources_html, turns]
        for trigger in (question.submit, send.click):
            trigger(h.chat, [question, turns], chat_out, api_visibility="private",
                    show_progress="hidden", **model)
        reset.click(h.new_chat, None, chat_out, api_visibility="private", queue=False)

        # ---- briefs and summaries (gr.Progress is injected through a default argument)
        def make_brief(topic: str, since: str, until: str, count: float, progress=gr.Progress()):  # noqa: B008
            return h.brief(topic, since, until, count, progress)

        def summarize_picked(article_id: str, progress=gr.Progress()):  # noqa: B008
            return h.summarize(article_id, progress)

        def summarize_opened(article_id: str, progress=gr.Progress()):  # noqa: B008
            return h.summarize(article_id, progress)[0]

        make.click(make_brief, [topic, since, until, count], [brief_html, download],
                   api_visibility="private", **model)
        summarize.click(summarize_picked, [picker], [brief_html, download], api_visibility="private",
                        **model)

        # ---- library
        def ingest(files: list[str] | None, progress=gr.Progress()) -> dict:  # noqa: B008
            return h.ingest(files, progress)

        def select_row(evt: gr.SelectData):  # type: ignore[no-untyped-def]
            row = evt.row_value or []
            return h.open_article(str(row[-1]) if row else "")

        library_out = [table, stats_html, picker, header]
        upload.upload(ingest, [upload], [report], api_name="ingest", show_progress_on=[report_html],
                      **write).then(
            h.ingest_report, [report], [report_html], api_visibility="private", queue=False,
        ).then(
            lambda: None, None, [upload], api_visibility="private", queue=False,  # ready for the next
        ).then(h.library, None, library_out, api_visibility="private", queue=False)
        article_out = [article_html, selected, summarize_open, delete, notice]
        table.select(select_row, None, article_out, api_visibility="private", queue=False)
        delete.click(h.delete, [selected], article_out, js=CONFIRM_DELETE_JS, api_visibility="private",
                     **write).then(h.library, None, library_out, api_visibility="private", queue=False)
        summarize_open.click(summarize_opened, [selected], [notice], api_visibility="private", **model)
        demo.load(h.library, None, library_out, api_visibility="private", queue=False,
                  show_progress="hidden")
        demo.load(h.new_chat, None, chat_out, api_visibility="private", queue=False,
                  show_progress="hidden")

        # ---- API (JSON like `rag ask --json`, `rag brief --json`)
        def ask(question: str, history: list[list[str]] | None = None, as_of: str | None = None) -> dict:
            """Answer a question from the archive, every sentence cited, or refuse.

            `history` is the conversation so far as [role, text] pairs ("user"/"assistant").
            """
            pairs = [(str(r), str(t)) for r, t in (history or [])]
            return answer_to_json(service.ask(question, history=pairs, as_of=as_of or None))

        def brief(topic: str = "", since: str = "", until: str = "", max_articles: int = 10) -> dict:
            """A cited brief on a topic and/or a date range (YYYY[-MM[-DD]])."""
            from .brief import brief_to_json

            return brief_to_json(service.brief(topic or None, since or None, until or None,
                                               max_articles=int(max_articles)))

        def summarize_api(article_id: str) -> dict:
            """A cited summary of one article (an id prefix is enough)."""
            from .brief import brief_to_json

            return brief_to_json(service.summarize(article_id))

        gr.api(ask, api_name="ask", **model)
        gr.api(brief, api_name="brief", **model)
        gr.api(summarize_api, api_name="summarize", **model)
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


def theme() -> Any:
    import gradio as gr

    # Local fonts only: the default theme fetches web fonts, which an offline machine
    # waits for. Chinese faces first, by platform.
    fonts = ["PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC",
             "Source Han Sans SC", "WenQuanYi Micro Hei", "system-ui", "sans-serif"]
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", font=fonts,
                          font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"])


def launch(
    demo: "gr.Blocks", *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
    auth: tuple[str, str] | None = None, block: bool = True, quiet: bool = False,
) -> str:
    """Serve `demo`; returns its local URL (at once when `block` is False)."""
    _, url, _ = demo.launch(
        server_name=host, server_port=port, auth=auth, auth_message="请登录" if auth else None,
        theme=theme(), css=CSS, max_file_size="50mb",
        show_error=False, ssr_mode=False, prevent_thread_lock=not block, quiet=quiet,
        footer_links=["api"],
    )
    return url


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:password` → ("user", "password"); empty → no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must be USER:PASSWORD (or set RAG_AUTH=USER:PASSWORD)")
    return user, password


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The web server's options (shared by `python app.py` and `rag serve`)."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (default $RAG_AUTH)")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="answers, briefs and summaries computed at once (default 1)")
    parser.add_argument("--generator", choices=("llama.cpp", "transformers", "openai", "extractive"),
                        help="answer backend (default: settings, llama.cpp)")


def serve(service: "Service", args: argparse.Namespace) -> int:
    """Build the app for `service` and serve it until interrupted."""
    try:
        auth = parse_auth(args.auth or os.environ.get("RAG_AUTH"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        print(f"warning: serving on {args.host} without --auth: anyone who can reach it can "
              "read and change the archive", file=sys.stderr)
    demo = build_app(service, model_concurrency=args.concurrency)
    try:
        launch(demo, host=args.host, port=args.port, auth=auth)
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser(prog: str = "app.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Web app: cited answers, briefs and the library of a news archive.",
    )
    parser.add_argument("--config", help="settings file (TOML); default $RAG_CONFIG")
    parser.add_argument("--index", metavar="DIR", help="index directory (default $RAG_INDEX or ./index)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "app.py") -> int:
    """Serve the archive's web app (`python app.py --help`, `rag serve --help`)."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    from .config import ConfigError, Settings
    from .service import Service

    try:
        settings = Settings.load(args.config, index_dir=args.index, generator=args.generator)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    service = Service(settings)
    try:
        return serve(service, args)
    except KeyboardInterrupt:
        return 130
    finally:
        service.close()

