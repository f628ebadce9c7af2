"""The web app: cited chat, briefs and the library, as a thin Gradio adapter over Service.

`build_app(service)` makes the page; `main()` (what `python app.py` and `rag serve` run)
builds the service from settings and serves it on 127.0.0.1:7860. The handlers
(`handlers`) call `rag.service.Service` and render with `render`. Gradio is
imported inside functions, so importing this module (as `rag --help` does) stays cheap.

Model work (ask, brief, summarize) shares one queue whose concurrency is 1 by default,
so several users at once wait their turn instead of overloading the model; writes
(ingest, delete) share another.
"""

# No `from __future__ import annotations`: gr.api reads the API functions' type hints.

import argparse
import hmac
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rag.adapter import add_archive_flags, add_config_flag, fail, settings_from
from rag.config import GENERATORS, api_key_from_env, auth_from_env
from rag.errors import ConfigError, ModelUnavailableError, RagError
from rag.web import render
from rag.web.files import UPLOAD_TYPES
from rag.web.handlers import TABLE_HEADERS, Handlers, article_placeholder, example_questions, header
from rag.web.style import CSS
from rag.web.tools import tools

if TYPE_CHECKING:
    import gradio as gr

    from rag.service import Service

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

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

log = logging.getLogger(__name__)

# Gradio's table search box has an English placeholder and no option to change it.
LOCALIZE_HEAD = """<script>
new MutationObserver(() => {
  for (const box of document.querySelectorAll("input.search-input")) {
    if (box.placeholder !== "搜索标题、来源…") box.placeholder = "搜索标题、来源…";
  }
}).observe(document.documentElement, {childList: true, subtree: true});
</script>"""

CONFIRM_DELETE_JS = "(id) => (id && confirm('从资料库删除这篇文章？上传的原文件保留，检索中将不再出现。')) ? id : ''"


@contextmanager
def _said_to_caller(gr: Any) -> Iterator[None]:
    """An API call's user error reaches its caller as the message (gr.Error is always
    shown); anything else stays a server error."""
    try:
        yield
    except RagError as exc:
        # One line in the server's log, not Gradio's traceback: the caller did nothing wrong
        # the server needs to debug.
        log.warning("%s: %s", type(exc).__name__, exc)
        raise gr.Error(str(exc), print_exception=False) from None


def _not_a_tool(fn: Any) -> Any:
    """Mark an API function that Gradio's MCP server should not list as a tool (it lists
    functions whose MCP type is "tool", the default): the tools are `tools`' own."""
    fn._mcp_type = "gradio_client"
    return fn


def build_app(service: "Service", *, model_concurrency: int = 1) -> "gr.Blocks":
    """The whole page: 问答 (chat), 简报 (briefs and summaries), 资料库 (library).

    API endpoints for `gradio_client`: ask, brief, summarize (JSON like the CLI's
    `--json`) and ingest (files in, per-file results out). MCP tools (`tools`): search,
    ask, brief, summarize, article, also callable as mcp_search ... by gradio_client.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from rag.results import answer_to_json

    h = Handlers(service)
    model: dict[str, Any] = {"concurrency_id": "model", "concurrency_limit": model_concurrency}
    write: dict[str, Any] = {"concurrency_id": "write", "concurrency_limit": 1}
    examples = example_questions(h.titles())

    with gr.Blocks(title="新闻资料问答") as demo:
        page_header = gr.HTML(header(None), elem_id="rag-header")
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
                        # Follows the archive: uploads and deletions refresh it.
                        examples_list = gr.Dataset(
                            components=[question], samples=[[q] for q in examples] or [[""]],
                            label="示例问题", elem_id="examples", visible=bool(examples),
                        )
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
                        article_html = gr.HTML(article_placeholder(), js_on_load=CITE_JS, elem_id="article")

        # ---- chat
        chat_out = [question, chat_html, sources_html, turns]
        for trigger in (question.submit, send.click):
            trigger(h.chat, [question, turns], chat_out, api_visibility="private",
                    show_progress="hidden", **model)
        reset.click(h.new_chat, None, chat_out, api_visibility="private", queue=False)
        examples_list.click(lambda sample: sample[0], examples_list, question,
                            api_visibility="private", queue=False)

        # ---- briefs and summaries (gr.Progress is injected through a default argument)
        def make_brief(topic: str, since: str, until: str, count: float, progress=gr.Progress()):  # noqa: B008
            yield from h.brief(topic, since, until, count, progress)

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

        library_out = [table, stats_html, picker, page_header]
        upload.upload(_not_a_tool(ingest), [upload], [report], api_name="ingest", show_progress_on=[upload],
                      **write).then(
            h.ingest_report, [report], [report_html], api_visibility="private", queue=False,
        ).then(
            lambda: None, None, [upload], api_visibility="private", queue=False,  # ready for the next
        ).then(h.library, None, library_out, api_visibility="private", queue=False).then(
            h.examples, None, examples_list, api_visibility="private", queue=False,
        )
        article_out = [article_html, selected, summarize_open, delete, notice]
        table.select(select_row, None, article_out, api_visibility="private", queue=False)
        delete.click(h.delete, [selected], article_out, js=CONFIRM_DELETE_JS, api_visibility="private",
                     **write).then(h.library, None, library_out, api_visibility="private", queue=False,
                     ).then(h.examples, None, examples_list, api_visibility="private", queue=False)
        summarize_open.click(summarize_opened, [selected], [notice], api_visibility="private", **model)
        demo.load(h.library, None, library_out, api_visibility="private", queue=False,
                  show_progress="hidden")
        demo.load(h.refresh_chat, [turns], [chat_html, sources_html], api_visibility="private",
                  queue=False, show_progress="hidden")

        # ---- API for gradio_client (dicts like `rag ask --json`, queued with the page)
        def ask_api(question: str, history: list[list[str]] | None = None, as_of: str | None = None) -> dict:
            """Answer a question from the archive, every sentence cited, or refuse.

            `history` is the conversation so far as [role, text] pairs ("user"/"assistant").
            """
            pairs = [(str(r), str(t)) for r, t in (history or [])]
            with _said_to_caller(gr):
                return answer_to_json(service.ask(question, history=pairs, as_of=as_of or None))

        def brief_api(topic: str = "", since: str = "", until: str = "", max_articles: int = 10) -> dict:
            """A cited brief on a topic and/or a date range (YYYY[-MM[-DD]])."""
            from rag.results import brief_to_json

            with _said_to_caller(gr):
                return brief_to_json(service.brief(topic or None, since or None, until or None,
                                                   max_articles=int(max_articles)))

        def summarize_api(article_id: str) -> dict:
            """A cited summary of one article (an id prefix is enough)."""
            from rag.results import brief_to_json

            with _said_to_caller(gr):
                return brief_to_json(service.summarize(article_id))

        gr.api(_not_a_tool(ask_api), api_name="ask", **model)
        gr.api(_not_a_tool(brief_api), api_name="brief", **model)
        gr.api(_not_a_tool(summarize_api), api_name="summarize", **model)

        # ---- MCP tools (JSON text; see `tools`)
        for tool in tools(service, lambda: _said_to_caller(gr)):
            gr.api(tool, api_name=f"mcp_{tool.__name__}", queue=False)
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
    auth: tuple[str, str] | None = None, api_key: str | None = None,
    service: "Service | None" = None, block: bool = True, quiet: bool = False,
) -> str:
    """Serve `demo`, its MCP tools at /gradio_api/mcp/ and, given `service`, the
    OpenAI-compatible chat API at /v1; returns the local URL (at once when `block` is
    False).

    With `auth` (user, password) or `api_key`, nothing is left open: the page asks for the
    login (the user and password, or any user name with the API key as password), and
    the chat API and the MCP tools for ``Authorization: Bearer`` with the API key (or,
    without one, the login's password). Failed logins and keys are limited per client
    (see `limits`)."""
    from starlette.middleware import Middleware

    from rag.web.limits import Guard
    from rag.web.openai_api import OpenAIRoutes

    keys = [api_key] if api_key else [auth[1]] if auth else []
    middleware = [Middleware(Guard, keys=keys)]
    if service is not None:
        middleware.append(Middleware(OpenAIRoutes, service=service))
    _, url, _ = demo.launch(
        server_name=host, server_port=port, auth=_login(auth, api_key),
        auth_message="请登录" if auth or api_key else None,
        theme=theme(), css=CSS, head=LOCALIZE_HEAD, max_file_size="50mb",
        show_error=False, ssr_mode=False, prevent_thread_lock=not block, quiet=quiet,
        footer_links=["api"], app_kwargs={"middleware": middleware}, mcp_server=True,
    )
    return url


def _login(auth: tuple[str, str] | None, api_key: str | None) -> Any:
    """Gradio's login check: the user and password, or the API key under any name."""
    if auth is None and not api_key:
        return None

    def check(user: str, password: str) -> bool:
        given = f"{user}\0{password}".encode()
        ok = auth is not None and hmac.compare_digest(given, f"{auth[0]}\0{auth[1]}".encode())
        return ok or bool(api_key) and hmac.compare_digest(password.encode(), str(api_key).encode())

    return check


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:password` → ("user", "password"); empty → no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must be USER:PASSWORD (or set RAG_AUTH=USER:PASSWORD)")
    return user, password


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The web server's options (shared by `python app.py` and `rag serve`)."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (default $RAG_AUTH)")
    parser.add_argument("--api-key", metavar="KEY",
                        help="require this key of the chat API and MCP tools, as 'Authorization: Bearer KEY' "
                             "(default $RAG_API_KEY; without one, the --auth password)")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="answers, briefs and summaries computed at once (default 1)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="load the models on the first question, not at start")
    parser.add_argument("--generator", choices=GENERATORS,
                        help="answer backend (default: settings, llama.cpp)")


def _warm_up(service: "Service") -> None:
    # While the page is already served: the first question then waits for nothing, or
    # only for the rest of this.
    # "ready" is printed only once the model has read a real prompt.
    print("loading the models and the index …", file=sys.stderr, flush=True)
    try:
        seconds = service.warm_up()
    except ModelUnavailableError as exc:
        print(f"error: the model crashed in warm-up and cannot run on this machine; answers "
              f"quote the evidence without it. {exc}", file=sys.stderr, flush=True)
        return
    except RagError as exc:
        print(f"warning: could not load everything ahead: {exc}", file=sys.stderr, flush=True)
        return
    info = service.model_system_info
    print(f"ready: models and index loaded in {seconds:.1f} s" + (f" (model on {info})" if info else ""),
          file=sys.stderr, flush=True)


def serve(service: "Service", args: argparse.Namespace) -> int:
    """Build the app for `service` and serve it until interrupted."""
    try:
        auth = parse_auth(args.auth or auth_from_env())
    except ConfigError as exc:
        return fail(exc)
    if args.concurrency < 1:
        return fail("--concurrency must be at least 1")
    api_key = args.api_key or api_key_from_env()
    if args.host not in ("127.0.0.1", "localhost", "::1") and auth is None and not api_key:
        print(f"warning: serving on {args.host} without --auth or --api-key: anyone who can reach it can "
              "read and change the archive", file=sys.stderr)
    demo = build_app(service, model_concurrency=args.concurrency)
    if args.warm_up:
        threading.Thread(target=_warm_up, args=(service,), name="rag-warm-up", daemon=True).start()
    try:
        launch(demo, host=args.host, port=args.port, auth=auth, api_key=api_key, service=service)
    except OSError as exc:
        return fail(f"cannot serve on {args.host}:{args.port}: {exc}")
    return 0


def build_parser(prog: str = "app.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Web app: cited answers, briefs and the library of a news archive.",
    )
    add_config_flag(parser)
    add_archive_flags(parser)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "app.py") -> int:
    """Serve the archive's web app (`python app.py --help`, `rag serve --help`)."""
    args = build_parser(prog).parse_args(argv)
    try:
        settings = settings_from(args, generator=args.generator)
    except ConfigError as exc:
        return fail(exc)
    from rag.service import Service

    service = Service(settings)
    try:
        return serve(service, args)
    except KeyboardInterrupt:
        return 130
    finally:
        service.close()

