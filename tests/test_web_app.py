"""The web app in a real browser (Debian's chromium, driven by playwright) and through
gradio_client. The app runs in this process on a free port over a small archive, with
the fake embedder and the extractive generator (slowed down so streaming is visible);
one slow test runs the real default models on the example archive.

Each browser test leaves a screenshot of its final state in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import playwright.sync_api as playwright_api
import pytest
from conftest import ARTICLES, REPO
from fakes import FakeEmbedder

from rag.config import Settings
from rag.generate.extractive import ExtractiveGenerator
from rag.service import Service
from rag.web.app import build_app, launch

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
TIMEOUT = 60_000  # ms; generous: the machine running the tests may be busy

EVIL = (
    "恶意脚本测试文章\n\n2025-07-01\n\n本报讯（记者 王五）这篇文章的正文里有"
    "<script>window.__pwned=1</script>和**markdown**，还有<img src=x onerror=\"window.__pwned=3\">"
    "以及${window.__pwned=2}，共计3处可疑标记。"
)
BRIDGE = (
    "青川跨江大桥合龙\n\n2025-08-08\n\n本报讯（记者 钱七）8月7日，青川跨江大桥主桥顺利合龙，"
    "大桥全长3.2公里，总投资27亿元，预计明年5月通车。"
)



class SlowExtractive(ExtractiveGenerator):
    """The extractive generator, delivering its answer a few characters at a time, so the
    page has something to stream."""

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None):  # type: ignore[no-untyped-def]
        for delta in super().stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop):
            for i in range(0, len(delta), 4):
                time.sleep(0.03)
                yield delta[i:i + 4]


# An earlier report of the metro story of conftest's metro.txt: 土建工程 60% → 85%.
METRO_MARCH = ("青川地铁2号线土建工程完成60%\n\n2025-03-10\n\n本报讯（记者 张明）截至3月上旬，"
               "青川市地铁2号线土建工程已完成60%，全线18座车站中已有12座主体结构封顶。")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(service: Service, **kwargs):  # type: ignore[no-untyped-def]
    demo = build_app(service)
    url = launch(demo, port=free_port(), block=False, quiet=True, **kwargs)
    return demo, url


@pytest.fixture(scope="module")
def web_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("web")
    old_temp = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(root / "gradio")
    folder = root / "archive"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "evil.txt").write_text(EVIL, encoding="utf-8")
    (folder / "metro_march.txt").write_text(METRO_MARCH, encoding="utf-8")
    # The fake embedder's vectors are not the real model's: one story at a lower cosine.
    settings = Settings.load(env={}, index_dir=root / "index", embedding_model="fake-embedder",
                             generator="extractive", refuse_below=0.0, brief_same_story=0.6)
    service = Service(settings, embedder=FakeEmbedder(), generator=SlowExtractive())
    service.ingest([folder])
    demo, url = serve(service)
    files = root / "files"
    files.mkdir()
    yield {"url": url, "service": service, "files": files, "root": root}
    demo.close()
    service.close()
    if old_temp is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = old_temp


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, web_env, request):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                  accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT)
    pg.goto(web_env["url"])
    pg.wait_for_selector("#rag-header .rag-sub:has-text('已收录')")  # the page has loaded its data
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def ask(page, question: str, answers: int) -> None:  # type: ignore[no-untyped-def]
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .msg.bot').length === n"
        " && !document.querySelector('#chat .streaming')", arg=answers,
    )


def open_tab(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("tab", name=name).click()


def upload(page, paths: Sequence[Path]) -> None:  # type: ignore[no-untyped-def]
    """Upload files and wait for the new per-file report."""
    page.evaluate("() => document.querySelectorAll('#ingest-report .rag-ingest')"
                  ".forEach(e => e.dataset.old = '1')")
    page.set_input_files("#upload input[type=file]", [str(p) for p in paths])
    page.wait_for_selector("#ingest-report .rag-ingest:not([data-old])")


def report_row(page, name: str):  # type: ignore[no-untyped-def]
    row = page.locator("#ingest-report tbody tr", has_text=name)
    row.wait_for()
    return row


# ------------------------------------------------------------------------ chat
def test_chat_streams_cited_answer_and_opens_passage(page) -> None:  # type: ignore[no-untyped-def]
    page.evaluate("""() => {
        window.__partials = [];
        new MutationObserver(() => {
            const s = document.querySelector('#chat .bubble.streaming');
            if (s && s.textContent.trim()) window.__partials.push(s.textContent.length);
        }).observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
    }""")
    ask(page, "青川地铁2号线计划什么时候开通试运营？", 1)
    partials = page.evaluate("window.__partials")
    assert len(set(partials)) >= 3, f"the answer did not stream: {partials}"

    answer = page.locator("#chat .bubble.answer").last
    assert "12月" in answer.inner_text()
    marker = answer.locator("a.cite").first
    assert re.fullmatch(r"\[\d\]", marker.inner_text())  # the passage's number in the prompt
    target = page.locator("#" + marker.get_attribute("data-target"))
    assert not target.evaluate("e => e.open")
    assert "青川地铁2号线完成85%工程量" in target.locator("summary").inner_text()
    assert "2025-06-18" in target.locator("summary").inner_text()

    marker.click()
    page.wait_for_function("id => document.getElementById(id).open", arg=marker.get_attribute("data-target"))
    passage = target.locator("mark.passage")
    assert passage.is_visible()
    assert "12月底开通试运营" in passage.inner_text()
    assert "active" in (target.get_attribute("class") or "")


class Repeating(ExtractiveGenerator):
    """A model that writes a brief's story by stating its first key fact twice over, as
    small models do (and answers questions as the extractive backend does)."""

    name = "repeating"

    def generate(self, messages, *, max_tokens, temperature=0.0, stop=None):  # type: ignore[no-untyped-def]
        found = re.search(r"^\[(\d+)\] 标题：[^\n]*\n([^\n]+)", messages[-1].content, re.M)
        if found is None or "请写这一段简报" not in messages[-1].content:
            return super().generate(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        said = f"{found.group(2).rstrip('。')}。[{found.group(1)}]"
        return said + said


def test_a_brief_never_repeats_a_sentence_and_shows_every_row_of_its_figures(browser, web_env) -> None:  # type: ignore[no-untyped-def]
    root = web_env["root"]
    settings = Settings.load(env={}, index_dir=root / "index-repeating", embedding_model="fake-embedder",
                             generator="extractive", refuse_below=0.0, brief_same_story=0.6)
    service = Service(settings, embedder=FakeEmbedder(), generator=Repeating())
    service.ingest([root / "archive"])
    demo, url = serve(service)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(url)
        open_tab(page, "简报")
        page.fill("#brief-topic textarea", "地铁")
        page.fill("#brief-since textarea", "2025")
        page.click("#make-brief")
        page.wait_for_selector("#brief .rag-brief .figure-table")
        brief = page.locator("#brief .rag-brief")
        for section in brief.locator(".brief-section p").all():
            said = [s for s in re.split(r"(?<=。)", re.sub(r"\[\d+\]", "", section.inner_text())) if s.strip()]
            assert len(said) == len(set(said)), said
        rows = brief.locator(".figure-table tbody tr")
        assert rows.count() >= 2
        for i in range(rows.count()):  # each row on screen, not cut off by a box around it
            row = rows.nth(i)
            row.scroll_into_view_if_needed()
            assert row.evaluate("""r => { const b = r.getBoundingClientRect();
                const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
                return b.height > 0 && r.contains(hit); }"""), f"row {i + 1} of the figures is hidden"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_a_brief_never_repeats_a_sentence.png"))
    finally:
        context.close()
        demo.close()
        service.close()


def test_an_example_question_fills_the_question_box(page, web_env) -> None:  # type: ignore[no-untyped-def]
    from rag.web.handlers import example_questions

    titles = [a.title for a in web_env["service"].articles()]
    first = example_questions(titles)[0]
    page.locator("#examples").get_by_text(first).click()
    page.wait_for_function("q => document.querySelector('#question textarea').value === q", arg=first)


def test_follow_up_shows_rewritten_question(page) -> None:  # type: ignore[no-untyped-def]
    ask(page, "青川马拉松有多少人报名？", 1)
    ask(page, "它什么时候开跑？", 2)
    rewritten = page.locator("#chat .msg.bot").last.locator(".rewritten")
    assert rewritten.is_visible()
    text = rewritten.inner_text()
    assert "理解为" in text and "马拉松" in text and "开跑" in text
    # the side panel lists both answers' sources, newest first
    heads = page.locator("#sources .source-head").all_inner_texts()
    assert heads[0].startswith("第 2 问") and heads[-1].startswith("第 1 问")

    page.click("#new-chat")
    page.wait_for_selector("#chat .chat-empty")
    assert page.locator("#sources .cite-entry").count() == 0


def test_refusal_looks_different(page) -> None:  # type: ignore[no-untyped-def]
    ask(page, "火星探测器的发射窗口在哪一天？", 1)
    refusal = page.locator("#chat .bubble.refusal")
    assert refusal.is_visible()
    assert "资料中没有相关信息" in refusal.inner_text()
    assert page.locator("#chat .bubble.answer").count() == 0


# ---------------------------------------------------------------------- briefs
def test_brief_is_cited_and_downloads_as_markdown(page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "简报")
    page.fill("#brief-topic textarea", "地铁")
    page.fill("#brief-since textarea", "2025")
    page.fill("#brief-until textarea", "2025-12")
    page.click("#make-brief")
    page.wait_for_selector("#brief .rag-brief h2")
    brief = page.locator("#brief .rag-brief")
    assert "地铁" in brief.locator("h2").inner_text()
    assert brief.locator("a.cite").count() >= 1
    # the story's figures over time: a chart and its table, 60% then 85%
    chart = brief.locator(".figure-chart svg").first
    chart.wait_for(state="visible")
    assert chart.locator("circle").count() == 2 and chart.bounding_box()["width"] > 100
    assert brief.locator(".figure-chart figcaption").first.inner_text() == "工程完成"
    rows = brief.locator(".figure-table tbody tr")
    assert [rows.nth(i).locator("td").nth(2).inner_text() for i in range(rows.count())] == ["60%", "85%"]
    ARTIFACTS.mkdir(exist_ok=True)
    brief.locator(".brief-figures").first.screenshot(path=str(ARTIFACTS / "brief_figures.png"))
    brief.locator("a.cite").first.click()
    assert brief.locator("details.cite-entry[open] mark.passage").first.is_visible()

    button = page.locator("#download-brief")
    button.wait_for(state="visible")
    with page.expect_download() as info:
        button.click()
    path = tmp_path / "brief.md"
    info.value.save_as(path)
    markdown = path.read_text(encoding="utf-8")
    assert "地铁" in markdown and "[1]" in markdown
    assert info.value.suggested_filename.endswith(".md")


def test_bad_date_is_a_message_not_a_traceback(page) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "简报")
    page.fill("#brief-topic textarea", "地铁")
    page.fill("#brief-since textarea", "去年春天")
    page.click("#make-brief")
    notice = page.locator("#brief .rag-notice.error")
    notice.wait_for()
    assert "开始日期" in notice.inner_text() and "去年春天" in notice.inner_text()
    assert "Traceback" not in page.content()


def test_summary_of_one_article(page) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "简报")
    page.click("#summary-pick input")
    page.get_by_role("option", name="岭南镇苹果喜获丰收").first.click()
    page.click("#make-summary")
    page.wait_for_selector("#brief .rag-brief h2")
    brief = page.locator("#brief .rag-brief")
    assert "岭南镇苹果喜获丰收" in brief.locator("h2").inner_text()
    assert brief.locator("a.cite").count() >= 1


# --------------------------------------------------------------------- library
def test_upload_shows_in_library_and_delete_removes_it(page, web_env) -> None:  # type: ignore[no-untyped-def]
    path = web_env["files"] / "跨江大桥.txt"
    path.write_text(BRIDGE, encoding="utf-8")
    open_tab(page, "资料库")
    upload(page, [path])
    row = report_row(page, "跨江大桥.txt")
    assert "已新增" in row.inner_text() and "青川跨江大桥合龙" in row.inner_text()
    table = page.locator("#articles")
    table.get_by_text("青川跨江大桥合龙").first.wait_for()
    [stored] = (Path(web_env["service"].settings.index_dir) / "uploads").glob("*/跨江大桥.txt")
    assert stored.read_text(encoding="utf-8") == BRIDGE

    # the same file again: nothing new
    upload(page, [path])
    page.wait_for_function(
        "() => document.querySelector('#ingest-report').innerText.includes('未变')")

    table.get_by_text("青川跨江大桥合龙").first.click()
    page.wait_for_selector("#article h2")
    assert page.locator("#article h2").inner_text() == "青川跨江大桥合龙"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-article")
    page.locator("#library-notice .rag-notice.ok").wait_for()
    page.locator("#article .placeholder").wait_for()
    assert "已删除" in page.locator("#library-notice").inner_text()
    page.wait_for_function(
        "() => !document.querySelector('#articles').innerText.includes('青川跨江大桥合龙')")
    assert all(a.title != "青川跨江大桥合龙" for a in web_env["service"].articles())


def test_bad_files_get_a_message_naming_them(page, web_env) -> None:  # type: ignore[no-untyped-def]
    empty = web_env["files"] / "空白稿件.txt"
    empty.write_text("", encoding="utf-8")
    binary = web_env["files"] / "scan.pdf"
    binary.write_bytes(b"\x00\x01\x02not a pdf at all\xff\xfe" * 50)
    open_tab(page, "资料库")
    upload(page, [empty, binary])
    empty_row = report_row(page, "空白稿件.txt")
    pdf_row = report_row(page, "scan.pdf")
    assert "已跳过" in empty_row.inner_text() and "空文件" in empty_row.inner_text()
    assert "已跳过" in pdf_row.inner_text() and "PDF" in pdf_row.inner_text()
    uploads = Path(web_env["service"].settings.index_dir) / "uploads"
    assert not list(uploads.glob("*/空白稿件.txt")) and not list(uploads.glob("*/scan.pdf"))


def test_library_table_is_searchable_and_sortable(page) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "资料库")
    table = page.locator("#articles")
    table.get_by_text("evil.txt").first.wait_for()

    def titles() -> list[str]:
        rows = table.locator(".virtual-row, tbody tr").all_inner_texts()
        return [r.split("\n")[0] for r in rows if r.strip()]

    assert table.locator("input.search-input").get_attribute("placeholder") == "搜索标题、来源…"
    table.locator("input.search-input").fill("苹果")
    page.wait_for_function("() => !document.querySelector('#articles').innerText.includes('evil.txt')")
    assert titles() == ["岭南镇苹果喜获丰收"]
    table.locator("input.search-input").fill("")
    table.get_by_text("evil.txt").first.wait_for()

    table.locator("[data-testid=header-1]").hover()  # 日期
    table.locator("[data-testid=header-1] button.cell-menu-button").click()
    page.locator(".cell-menu button", has_text="升序排序").click()
    page.wait_for_function("() => document.querySelector('#articles .virtual-row, #articles tbody tr')")
    ordered = titles()
    assert ordered[0] == "青川马拉松报名人数创新高" and ordered[-1] == "岭南镇苹果喜获丰收"
    # the row clicked is the article opened, whatever the order
    table.get_by_text("青川马拉松报名人数创新高").first.click()
    page.wait_for_selector("#article h2")
    assert page.locator("#article h2").inner_text() == "青川马拉松报名人数创新高"


def test_document_markup_is_shown_as_text(page) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "资料库")
    page.locator("#articles").get_by_text("恶意脚本测试文章").first.click()
    page.wait_for_selector("#article h2")
    body = page.locator("#article .article-body").inner_text()
    assert "<script>window.__pwned=1</script>" in body
    assert "**markdown**" in body and "${window.__pwned=2}" in body
    assert page.locator("#article script, #article img, #article strong").count() == 0

    open_tab(page, "问答")
    ask(page, "恶意脚本测试文章里共计几处可疑标记？", 1)
    chat = page.locator("#chat").inner_text()
    assert "<script>window.__pwned=1</script>" in chat and "**markdown**" in chat
    page.locator("#chat a.cite").first.click()
    assert "**markdown**" in page.locator("#sources details[open] .cite-body").first.inner_text()
    assert page.locator("#chat script, #chat strong, #sources script, #sources img").count() == 0
    assert page.evaluate("window.__pwned") is None


# ------------------------------------------------------------------------- API
def test_api_ask_brief_and_ingest(web_env, capfd, caplog) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client, handle_file

    client = Client(web_env["url"], verbose=False)
    answer = client.predict("岭南镇今年苹果总产量预计多少？", api_name="/ask")
    assert not answer["refused"] and "12万吨" in answer["answer"]
    assert answer["citations"][0]["title"] == "岭南镇苹果喜获丰收"
    follow = client.predict("它比去年增长多少？", [["user", "岭南镇今年苹果总产量预计多少？"],
                                              ["assistant", answer["answer"]]], api_name="/ask")
    assert follow["standalone_question"] != follow["question"]

    brief = client.predict("马拉松", "", "", 5, api_name="/brief")
    assert "马拉松" in brief["markdown"] and brief["citations"]
    summary = client.predict(answer["citations"][0]["article_id"], api_name="/summarize")
    assert summary["citations"] and summary["markdown"]

    path = web_env["files"] / "api-note.txt"
    path.write_text("青川新建口袋公园\n\n2025-09-01\n\n本报讯 今年青川新建口袋公园15个，"
                    "总面积4.5万平方米。", encoding="utf-8")
    report = client.predict([handle_file(str(path))], api_name="/ingest")
    assert report["files"][0]["status"] == "added"

    # a caller's mistake comes back as its message, not as an opaque server error
    from gradio_client.exceptions import AppError

    for call, message in ((("", None, None), "the question is empty"),
                          (("   ", None, None), "the question is empty"),
                          (("青川" * 300, None, None), "600 characters long; at most 500"),
                          (("青川", None, "2025-13"), "does not exist")):
        with pytest.raises(AppError, match=message):
            client.predict(*call, api_name="/ask")
    with pytest.raises(AppError, match="no article"):
        client.predict("ffffffffffff", api_name="/summarize")
    client.close()
    # The server logs each user error as one line, not Gradio's traceback.
    assert "Traceback" not in capfd.readouterr().err
    logged = [r.getMessage() for r in caplog.records if r.name == "rag.web.app"]
    assert "InputError: the question is empty" in logged


def test_login_is_required_with_auth(web_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             generator="extractive")
    service = Service(settings, embedder=FakeEmbedder())
    demo, url = serve(service, auth=("editor", "s3cret"))
    try:
        with pytest.raises(Exception, match="(?i)login|auth|credentials|401|403"):
            Client(url, verbose=False)
        client = Client(url, auth=("editor", "s3cret"), verbose=False)
        assert "/ask" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        client.close()
        # guessing: five wrong passwords, then the client is told to wait, even with the right one
        statuses = [httpx.post(f"{url.rstrip('/')}/login", data={"username": "editor", "password": f"guess{i}"}).status_code
                    for i in range(6)]
        assert statuses[:5] == [400] * 5 and statuses[5] == 429
        late = httpx.post(f"{url.rstrip('/')}/login", data={"username": "editor", "password": "s3cret"})
        assert late.status_code == 429 and "秒后再试" in late.json()["detail"]
    finally:
        demo.close()
        service.close()


def test_app_py_serves_an_empty_archive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`python app.py` builds its own service and serves even before anything is indexed."""
    port = free_port()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "RAG_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--index", str(tmp_path / "index"), "--port", str(port),
         "--generator", "extractive"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        config = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2) as r:
                    config = json.loads(r.read().decode("utf-8"))
                break
            except OSError:
                time.sleep(0.5)
        assert config is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert "资料库还是空的" in json.dumps(config, ensure_ascii=False)
        assert not (tmp_path / "index").exists()  # nothing is created until an upload
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_rag_serve_has_the_app_options() -> None:
    from rag.cli import main as rag_main

    with pytest.raises(SystemExit) as exit_info:
        rag_main(["serve", "--help"])
    assert exit_info.value.code == 0


# ------------------------------------------------------------------ real models
@pytest.mark.slow
def test_real_models_answer_a_question_on_the_example_archive(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.load(env={}, index_dir=tmp_path / "index", threads=1)
    service = Service(settings)
    service.ingest([REPO / "examples" / "archive"])
    demo, url = serve(service)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    try:
        page.set_default_timeout(300_000)
        page.goto(url)
        page.wait_for_selector("#question textarea")
        ask(page, "地铁2号线一期工程的总投资是多少钱？", 1)
        answer = page.locator("#chat .bubble.answer")
        assert "198.5亿元" in answer.inner_text()
        answer.locator("a.cite").first.click()
        assert "198.5亿元" in page.locator("#sources details[open] mark.passage").first.inner_text()
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_real_models_answer_a_question_on_the_example_archive.png"))
        context.close()
        demo.close()
        service.close()

