"""The web app's helpers: escaping, citation rendering, upload names, zip safety, options."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag.answer.ask import Citation
from rag.answer.brief import Brief, BriefSentence, Section
from rag.types import Article
from rag.web import files as web_files
from rag.web.app import parse_auth
from rag.web.files import UploadError, member_path, safe_filename, store_upload, unpack_zip
from rag.web.handlers import example_questions
from rag.web.render import (
    citation_view,
    cite_entry,
    cited_sentence,
    esc,
    render_article,
    render_brief,
    render_chat,
    render_ingest,
    render_sources,
    source_label,
    supporting_spans,
)
from rag.web.upload import reason_zh

EVIL = '<script>window.__pwned=1</script> **粗体** <img src=x onerror="alert(1)"> ${x} & "引号"'


def test_esc_escapes_markup_and_quotes() -> None:
    out = esc(EVIL)
    assert "<" not in out and ">" not in out and '"' not in out
    assert "&lt;script&gt;" in out and "**粗体**" in out and "&amp;" in out
    assert esc(None) == ""


def test_cited_sentence_puts_links_before_closing_punctuation() -> None:
    html = cited_sentence("2号线将于12月开通。", [1, 3], "q1")
    assert html.startswith("2号线将于12月开通<a class=\"cite\"")
    assert html.endswith("</a>。")
    assert 'data-target="q1-1"' in html and 'data-target="q1-3"' in html
    assert ">[1]</a>" in html and ">[3]</a>" in html
    assert "<script>" not in cited_sentence(EVIL, [2], "q1")


def _citation(text: str = "全长26.8公里", start: int = 10) -> Citation:
    return Citation(2, "a" * 16, "标题<b>", "2025-03-12", "/data/news/metro.txt", "p1", text, start,
                    start + len(text))


def test_citation_view_takes_context_and_highlights_the_passage() -> None:
    article = Article("a" * 16, "k", "标题", "地铁2号线一期工程西起青川西站，全长26.8公里，均为地下线。", "/data/x.txt",
                      source_name="青川日报")
    start = article.text.index("全长")
    view = citation_view(_citation(start=start), article)
    assert view["before"].endswith("青川西站，") and view["after"].startswith("，均为")
    assert view["source"] == "青川日报"
    html = cite_entry(view, "q1-2")
    assert '<mark class="passage">全长26.8公里</mark>' in html
    assert "标题&lt;b&gt;" in html and 'id="q1-2"' in html

    gone = citation_view(_citation(), None)  # the article was deleted since
    assert gone["before"] == gone["after"] == "" and gone["source"] == "metro.txt"


def test_the_sentences_that_support_the_claims_are_emphasized() -> None:
    passage = "3月11日，记者获悉工程已完成60%。全线长26.8公里，总投资198.5亿元。建成后只需45分钟。"
    second = (passage.index("全线"), passage.index("建成"))
    assert supporting_spans(passage, ["总投资198.5亿元。"]) == [second]
    assert supporting_spans(passage, ["总投资198.5亿元。", "工程完成了60%", "火星"]) == [(0, second[0]), second]
    assert supporting_spans(passage, ["火星探测器发射。"]) == [] and supporting_spans(passage, []) == []
    view = citation_view(_citation(text=passage, start=0), None, ["<总投资>198.5亿元"])
    html = cite_entry(view, "q1-2")
    assert '<strong class="support">全线长26.8公里，总投资198.5亿元。</strong>' in html
    assert html.index("工程已完成60%") < html.index('class="support"') < html.index("建成后")


def test_source_label_never_shows_a_path() -> None:
    assert source_label("/srv/archive/uploads/news.jsonl#12") == "news.jsonl"
    assert source_label("/srv/a.txt", "人民日报") == "人民日报"


def test_chat_escapes_document_text_and_marks_refusals_and_rewrites() -> None:
    view = citation_view(_citation(text=EVIL, start=0), None)
    answered = {"question": "它呢？", "standalone": "地铁2号线呢？", "status": "answer",
                "sentences": [{"text": EVIL + "。", "citations": [2]}], "citations": [view], "dropped": 1,
                "seconds": 1.25}
    refused = {"question": "火星？", "standalone": "火星？", "status": "refused", "citations": [view]}
    html = render_chat([answered, refused])
    assert "<script>" not in html and "<img" not in html and "**粗体**" in html
    assert '<div class="rewritten">理解为：地铁2号线呢？</div>' in html
    assert 'class="bubble refusal"' in html and "资料中没有相关信息" in html and "最接近的资料" in html
    assert 'data-target="q1-2"' in html and 'data-target="q2-2"' in html
    assert "1 句无法在资料中核实" in html
    sources = render_sources([answered, refused])
    assert sources.index('id="q2-2"') < sources.index('id="q1-2"')  # newest first
    assert "<script>" not in sources

    pending = render_chat([{"question": "问", "status": "pending", "draft": "<b>半句"}])
    assert "streaming" in pending and "&lt;b&gt;半句" in pending
    error = render_chat([{"question": "问", "status": "error", "message": "<模型> 不可用"}])
    assert "bubble error" in error and "&lt;模型&gt;" in error


def test_render_brief_groups_sections_and_escapes() -> None:
    c = _citation()
    brief = Brief(
        topic="地铁<script>", since="2025-01-01", until="2025-06-30",
        sections=(Section("2号线进展", "2025-03-12", "2025-06-20", ("a", "b"),
                          (BriefSentence("完成85%。", (2,), True), BriefSentence("编的。", (), False))),),
        citations=(c,), articles=("a", "b"), markdown="# x",
    )
    html = render_brief(brief, [citation_view(c, None)], prefix="b1")
    assert "地铁&lt;script&gt;" in html and "<h3>2号线进展</h3>" in html
    assert "2025-01-01 至 2025-06-30" in html and "2 篇报道" in html
    assert 'data-target="b1-2"' in html and 'id="b1-2"' in html
    assert "编的" not in html  # unsupported sentences are not shown
    empty = Brief(topic="无", since=None, until=None, sections=(), citations=(), articles=(), markdown="")
    assert "没有找到相关文章" in render_brief(empty, [])


def test_render_article_escapes_body_captions_and_passages() -> None:
    article = Article("id1", "k", "<i>标题</i>", f"第一段{EVIL}\n第二段", "/x/evil.txt",
                      published="2025-07-01", captions=("图为<b>现场</b>",), reporters=("王五",))
    passages = [SimpleNamespace(start=0, end=5, text="第一段<s>")]
    html = render_article(article, passages)
    assert "<script>" not in html and "<i>" not in html and "<b>" not in html and "<s>" not in html
    assert "&lt;i&gt;标题&lt;/i&gt;" in html and "记者 王五" in html and "检索段落（1）" in html


def test_render_ingest_names_each_file() -> None:
    html = render_ingest([{"file": "<x>.txt", "status": "skipped", "label": "已跳过", "detail": "空文件"}])
    assert "&lt;x&gt;.txt" in html and "st-skipped" in html and "空文件" in html


# -------------------------------------------------------------------- uploads
@pytest.mark.parametrize(("name", "safe"), [
    ("新闻 稿件.txt", "新闻_稿件.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\evil.md", "evil.md"),
    (".bashrc.txt", "bashrc.txt"),
    ("<script>alert(1)</script>.html", "script.html"),
    ("a<b>c:d?|e.html", "a_b_c_d_e.html"),
    ("data.JSONL.GZ", "data.jsonl.gz"),
    ("archive.tar.zip", "archive.tar.zip"),
    ("...txt", "upload.txt"),
])
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_safe_filename_refuses_other_types_and_limits_length() -> None:
    for bad in ("run.exe", "noextension", "page.php", "x.txt.sh"):
        with pytest.raises(UploadError, match="不支持的文件类型"):
            safe_filename(bad)
    long = safe_filename("长" * 500 + ".jsonl.gz")
    assert len(long) == web_files.MAX_NAME_CHARS and long.endswith(".jsonl.gz")


def test_store_upload_keeps_identical_files_and_never_replaces_another(tmp_path: Path) -> None:
    uploads = tmp_path / "index" / "uploads"
    src = tmp_path / "a.txt"
    src.write_text("第一版", encoding="utf-8")
    first = store_upload(src, "../稿件.txt", uploads)
    assert first.path.name == "稿件.txt" and first.path.parent.parent == uploads and first.created
    assert (first.path.parent / ".name").read_text(encoding="utf-8") == "../稿件.txt"
    mtime = first.path.stat().st_mtime_ns
    again = store_upload(src, "稿件.txt", uploads)
    assert again.path == first.path and not again.created
    assert again.path.stat().st_mtime_ns == mtime  # untouched
    again.restore()  # a copy that was there before is not removed
    assert first.path.exists()

    src.write_text("第二版，另一篇稿件", encoding="utf-8")
    other = store_upload(src, "稿件.txt", uploads)  # same name, other bytes: a new file
    assert other.created and other.path != first.path
    assert first.path.read_text(encoding="utf-8") == "第一版"
    other.restore()  # it held nothing usable: gone, digest folder and all
    assert not other.path.parent.exists()
    assert [p.name for p in uploads.iterdir()] == [first.path.parent.name]


def test_store_upload_refuses_oversize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_files, "MAX_FILE_BYTES", 10)
    src = tmp_path / "big.txt"
    src.write_text("x" * 11)
    with pytest.raises(UploadError, match="文件太大"):
        store_upload(src, "big.txt", tmp_path / "uploads")


@pytest.mark.parametrize(("name", "ok"), [
    ("a/b.txt", "a/b.txt"), ("./a.txt", "a.txt"), ("../a.txt", None), ("a/../../b.txt", None),
    ("/etc/x.txt", None), ("C:/x.txt", None), ("C:x.txt", None), ("\\\\server\\x.txt", None), ("", None),
])
def test_member_path(name: str, ok: str | None) -> None:
    result = member_path(name)
    assert (str(result) if result else None) == ok


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


def test_unpack_zip_refuses_traversal_links_and_other_types(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    src = _zip(tmp_path / "in.zip", {
        "good/新闻.txt": "正文".encode(), "../../escape.txt": b"x", "/abs.txt": b"x",
        "tool.exe": b"MZ", "__MACOSX/._x.txt": b"x", "sub/deep/b.md": b"# t\n\nbody",
    }, symlink="link.txt")
    unpacked = unpack_zip(src, "我的 稿件.zip", uploads)
    folder = unpacked.folder.path
    assert folder.name == "我的_稿件.d" and folder.parent.parent == uploads
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == ["good/新闻.txt", "sub/deep/b.md"] and unpacked.files == 2
    refused = dict(unpacked.refused)
    assert "路径不安全" in refused["../../escape.txt"] and "路径不安全" in refused["/abs.txt"]
    assert "符号链接" in refused["link.txt"] and "不支持" in refused["tool.exe"]
    assert not (tmp_path / "escape.txt").exists() and not Path("/abs.txt").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == [".name", "我的_稿件.d"]  # no work folders left


def test_unpack_zip_limits_member_size_even_when_the_header_lies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_files, "MAX_MEMBER_BYTES", 1000)
    src = _zip(tmp_path / "in.zip", {"big.txt": b"a" * 5000, "ok.txt": b"b" * 10})
    unpacked = unpack_zip(src, "in.zip", tmp_path / "uploads")
    assert [m for m, _ in unpacked.refused] == ["big.txt"] and unpacked.files == 1

    # a damaged member (its checksum does not match) is refused, not a crash
    bad = _zip(tmp_path / "bad.zip", {"a.txt": b"x" * 200, "b.txt": b"y" * 10})
    with zipfile.ZipFile(bad) as z:
        offset = z.getinfo("a.txt").header_offset + 30 + len("a.txt") + 2  # into its data
    data = bytearray(bad.read_bytes())
    data[offset] ^= 0xFF
    bad.write_bytes(bytes(data))
    unpacked = unpack_zip(bad, "bad.zip", tmp_path / "uploads2")
    assert "损坏" in dict(unpacked.refused)["a.txt"] and unpacked.files == 1


def test_unpack_zip_refuses_bombs_and_junk(tmp_path: Path) -> None:
    src = _zip(tmp_path / "bomb.zip", {"zeros.txt": b"\0" * 5_000_000})
    assert "压缩炸弹" in dict(unpack_zip(src, "bomb.zip", tmp_path / "u").refused)["zeros.txt"]
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(UploadError, match="不是有效的 zip"):
        unpack_zip(junk, "junk.zip", tmp_path / "u")


def test_unpack_zip_reads_gbk_member_names(tmp_path: Path) -> None:
    # What zip tools on Chinese Windows write: GBK bytes, without the UTF-8 flag.
    gbk = "新闻.txt".encode("gbk")
    placeholder = b"X" * (len(gbk) - 4) + b".txt"
    path = _zip(tmp_path / "gbk.zip", {placeholder.decode(): "正文".encode()})
    path.write_bytes(path.read_bytes().replace(placeholder, gbk))
    assert zipfile.ZipFile(path).infolist()[0].flag_bits & 0x800 == 0
    unpacked = unpack_zip(path, "gbk.zip", tmp_path / "u")
    assert (unpacked.folder.path / "新闻.txt").read_text(encoding="utf-8") == "正文"


# -------------------------------------------------------------------- options
def test_parse_auth() -> None:
    assert parse_auth("editor:pa:ss") == ("editor", "pa:ss")
    assert parse_auth(None) is None and parse_auth("") is None
    for bad in ("editor", ":x", "editor:"):
        with pytest.raises(ValueError, match="USER:PASSWORD"):
            parse_auth(bad)


def test_reason_zh_translates_reader_reasons() -> None:
    assert reason_zh("empty file") == "空文件"
    assert reason_zh("corrupt PDF: Stream has ended") == "PDF 文件已损坏（Stream has ended）"
    assert reason_zh("something new") == "something new"


def test_example_questions() -> None:
    titles = ["青川跨江大桥合龙", "地铁2号线一期工程完成总工程量60%"]
    assert example_questions(titles) == ["地铁2号线一期工程的总投资是多少钱？"]
    made = example_questions(["青川跨江大桥合龙", "短", "岭南镇苹果喜获丰收"])
    assert made == ["青川跨江大桥合龙是怎么回事？", "岭南镇苹果喜获丰收是怎么回事？"]
    assert example_questions([]) == []


def test_model_work_shares_one_queue(service) -> None:  # type: ignore[no-untyped-def]

    from rag.web.app import build_app

    demo = build_app(service, model_concurrency=2)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name in ("ask", "brief", "summarize"):
        assert by_name[name].concurrency_id == "model" and by_name[name].concurrency_limit == 2
    assert by_name["ingest"].concurrency_id == "write" and by_name["ingest"].concurrency_limit == 1
    chat = [fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "chat"]
    assert chat and all(fn.concurrency_id == "model" for fn in chat)


def test_ingest_handler_reports_each_upload_into_a_new_archive(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rag.web.handlers import Handlers

    h = Handlers(service)
    assert h.titles() == [] and h.examples().visible is False
    good = tmp_path / "gradio-cache" / "大桥.txt"
    good.parent.mkdir()
    good.write_text("青川跨江大桥合龙\n\n2025-08-08\n\n本报讯 大桥全长3.2公里，总投资27亿元。", encoding="utf-8")
    bundle = _zip(tmp_path / "gradio-cache" / "稿件.zip", {
        "a/苹果.txt": "岭南镇苹果丰收\n\n2025-09-20\n\n总产量预计12万吨。".encode(),
        "../evil.txt": b"x", "empty.md": b"",
    })
    bad = tmp_path / "gradio-cache" / "tool.exe"
    bad.write_bytes(b"MZ")
    report = h.ingest([str(good), str(bundle), str(bad)])
    by_file = {r["file"]: r for r in report["files"]}
    assert by_file["大桥.txt"]["status"] == "added" and "青川跨江大桥合龙" in by_file["大桥.txt"]["detail"]
    assert by_file["稿件.zip"]["status"] == "added"
    assert "../evil.txt" in by_file["稿件.zip"]["detail"] and "empty.md：空文件" in by_file["稿件.zip"]["detail"]
    assert by_file["tool.exe"]["status"] == "skipped" and "不支持的文件类型" in by_file["tool.exe"]["detail"]
    uploads = Path(service.settings.index_dir) / "uploads"
    assert sorted(p.name for p in uploads.glob("*/*")) == [".name", ".name", "大桥.txt", "稿件.d"]
    assert {a.title for a in service.articles()} == {"青川跨江大桥合龙", "岭南镇苹果丰收"}
    examples = h.examples()  # the example questions now come from the new archive
    assert examples.visible is True
    assert sorted(q for (q,) in examples.raw_samples) == ["岭南镇苹果丰收是怎么回事？", "青川跨江大桥合龙是怎么回事？"]

    again = h.ingest([str(good)])["files"][0]
    assert again["status"] == "unchanged" and again["label"] == "未变"


def test_brief_downloads_keep_only_the_newest_files(service) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    from rag.web.handlers import KEEP_DOWNLOADS, Handlers

    h = Handlers(service)
    c = _citation()
    for n in range(KEEP_DOWNLOADS + 5):
        brief = Brief(topic=f"主题{n}", since=None, until=None,
                      sections=(Section("进展", None, None, ("a",), (BriefSentence("完成85%。", (1,), True),)),),
                      citations=(c,), articles=("a",), markdown=f"# 主题{n}\n")
        _, button = h._brief_outputs(brief, "简报", gr)
    files = sorted(p.name for p in h.downloads.glob("*.md"))
    assert len(files) == KEEP_DOWNLOADS
    newest = next(h.downloads.glob(f"简报-主题{KEEP_DOWNLOADS + 4}-*.md"))
    assert newest.read_text(encoding="utf-8") == f"# 主题{KEEP_DOWNLOADS + 4}\n" and button.visible
    assert not any(name.startswith("简报-主题0-") for name in files)
    folder = h.downloads
    del h
    import gc

    gc.collect()
    assert not folder.exists()  # nothing left behind once the app is gone


def test_chat_shows_the_evidence_before_the_model_writes(archive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fakes import FakeEmbedder

    from rag.config import Settings
    from rag.service import Service
    from rag.web.handlers import Handlers

    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             generator="extractive", refuse_below=0)
    service = Service(settings, embedder=FakeEmbedder())
    service.ingest([archive])
    frames = [html for _, html, _, _ in Handlers(service).chat("青川马拉松有多少人报名？", [])]
    with_evidence = [i for i, html in enumerate(frames) if 'class="evidence"' in html]
    with_draft = [i for i, html in enumerate(frames) if "4.2万" in html and 'class="evidence"' not in html]
    assert with_evidence and with_draft
    first = frames[with_evidence[0]]
    assert "已找到依据" in first and "4.2万" in first  # the sentence that answers, before any draft
    assert with_evidence[0] < with_draft[-1]
    assert 'class="evidence"' not in frames[-1] and "cite" in frames[-1]  # the answer replaced it
    service.close()


def test_warm_up_opens_the_index_and_computes_the_fixed_prompt_start(archive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fakes import FakeEmbedder, ScriptedGenerator

    from rag.answer.prompts import ANSWER_SYSTEM
    from rag.config import Settings
    from rag.service import Service

    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder")
    embedder, generator = FakeEmbedder(), ScriptedGenerator("")
    Service(settings, embedder=embedder).ingest([archive])
    service = Service(settings, embedder=embedder, generator=generator)
    queries = embedder.queries_embedded
    assert service.warm_up() >= 0
    assert service._store is not None and embedder.queries_embedded == queries + 1
    # the local model read the system prompt every answer starts with, once
    assert len(generator.prompts) == 1 and generator.prompts[0][0].content == ANSWER_SYSTEM
    service.close()


def test_serve_warms_the_service_while_the_page_is_served(archive, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import argparse
    import threading

    from fakes import FakeEmbedder

    from rag.config import Settings
    from rag.service import Service
    from rag.web import app

    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             generator="extractive")
    service = Service(settings, embedder=FakeEmbedder())
    service.ingest([archive])
    warmed, served = threading.Event(), []
    monkeypatch.setattr(service, "warm_up", lambda: warmed.set() or 0.0)
    monkeypatch.setattr(app, "launch", lambda demo, **kw: served.append(kw))

    args = argparse.Namespace(auth=None, api_key=None, concurrency=1, host="127.0.0.1", port=0, warm_up=True)
    assert app.serve(service, args) == 0 and served
    assert warmed.wait(5)  # loaded in the background, the page already served
    warmed.clear()
    assert app.serve(service, argparse.Namespace(**{**vars(args), "warm_up": False})) == 0
    assert not warmed.wait(0.5)  # --no-warm-up: the first question loads the models
    service.close()


def test_uploads_whose_names_coincide_never_replace_each_other(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rag.web.handlers import Handlers

    h = Handlers(service)
    cache = tmp_path / "gradio-cache"

    def upload(name: str, text: str) -> dict:  # type: ignore[type-arg]
        folder = cache / str(len(list(cache.glob("*"))) if cache.exists() else 0)
        folder.mkdir(parents=True)
        (folder / name).write_text(text, encoding="utf-8")
        [result] = h.ingest([str(folder / name)])["files"]
        return result

    first = upload("报告 1.txt", "东湖大桥通车\n\n2025-01-02\n\n本报讯 东湖大桥全长1.8公里，今天通车。")
    second = upload("报告_1.txt", "西山隧道贯通\n\n2025-02-03\n\n本报讯 西山隧道全长4.2公里，今天贯通。")
    assert first["status"] == second["status"] == "added"
    third = upload("report.txt", "南岸公园开园\n\n2025-03-04\n\n本报讯 南岸公园占地300亩，今天开园。")
    fourth = upload("report.txt", "北站改造完工\n\n2025-04-05\n\n本报讯 北站改造投资5亿元，今天完工。")
    assert third["status"] == fourth["status"] == "added"
    assert {a.title for a in service.articles()} == {"东湖大桥通车", "西山隧道贯通", "南岸公园开园", "北站改造完工"}
    again = upload("report.txt", "北站改造完工\n\n2025-04-05\n\n本报讯 北站改造投资5亿元，今天完工。")
    assert again["status"] == "unchanged" and again["label"] == "未变"
    renamed = upload("copy.txt", "北站改造完工\n\n2025-04-05\n\n本报讯 北站改造投资5亿元，今天完工。")
    assert renamed["status"] == "duplicate"
    uploads = Path(service.settings.index_dir) / "uploads"
    assert not list(uploads.glob("*/copy.txt"))  # a duplicate keeps no copy
    assert len(service.articles()) == 4


def test_the_servers_copy_of_an_upload_is_removed_after_ingest(service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from rag.web.handlers import Handlers

    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    sent = cache / "3f2a" / "大桥.txt"
    sent.parent.mkdir(parents=True)
    sent.write_text("青川跨江大桥合龙\n\n2025-08-08\n\n本报讯 大桥全长3.2公里，总投资27亿元。", encoding="utf-8")
    elsewhere = tmp_path / "mine" / "隧道.txt"  # not the server's copy: left alone
    elsewhere.parent.mkdir()
    elsewhere.write_text("西山隧道贯通\n\n2025-02-03\n\n本报讯 西山隧道全长4.2公里。", encoding="utf-8")
    report = Handlers(service).ingest([str(sent), str(elsewhere)])
    assert [r["status"] for r in report["files"]] == ["added", "added"]
    assert not sent.exists() and not sent.parent.exists() and elsewhere.exists()


def _guarded(guard_keys: tuple[str, ...] = (), attempts: int = 3):  # type: ignore[no-untyped-def]
    """A Guard over a fake app whose login takes the password "right"; `call` returns
    (status, headers, body) of one request and the clock can be moved."""
    import asyncio

    from rag.web.limits import Guard

    now = [0.0]

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        ok = scope["path"] != "/login" or scope.get("password") == "right"
        await send({"type": "http.response.start", "status": 200 if ok else 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = Guard(app, keys=guard_keys, attempts=attempts, window=60.0, clock=lambda: now[0])

    def call(client: str, path: str = "/login", password: str = "wrong", key: str | None = None,
             method: str = "POST") -> tuple[int, dict, bytes]:
        sent = []

        async def send(message):  # type: ignore[no-untyped-def]
            sent.append(message)

        headers = [(b"authorization", f"Bearer {key}".encode())] if key is not None else []
        scope = {"type": "http", "method": method, "path": path, "client": (client, 1),
                 "password": password, "headers": headers}
        asyncio.run(guard(scope, None, send))  # type: ignore[arg-type]
        return (sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]},
                b"".join(m.get("body", b"") for m in sent[1:]))

    return call, now


def test_login_limit_counts_failures_per_client_within_the_window() -> None:
    post, now = _guarded()
    assert [post("1.2.3.4")[0] for _ in range(4)] == [400, 400, 400, 429]
    assert post("5.6.7.8", password="right")[0] == 200  # another client is not held up
    assert post("1.2.3.4", password="right")[0] == 429
    assert post("1.2.3.4", path="/config")[0] == 200  # only logins are limited
    assert post("1.2.3.4", path="/v1/models")[0] == 200  # no key set: the API is open
    now[0] = 61.0  # the failures have left the window
    assert post("1.2.3.4", password="right")[0] == 200


def test_the_api_key_guards_the_chat_api_and_mcp_and_wrong_keys_are_limited() -> None:
    import json

    call, now = _guarded(("k-right",))
    status, headers, body = call("1.1.1.1", "/v1/chat/completions")
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_api_key" and "no API key" in error["message"]
    assert call("1.1.1.1", "/v1/models", key="k-right", method="GET")[0] == 200
    assert call("1.1.1.1", "/gradio_api/mcp/", key="k-right")[0] == 200
    assert call("1.1.1.1", "/gradio_api/mcp/", key="k-wrong")[0] == 401
    assert call("1.1.1.1", "/gradio_api/mcp/")[0] == 401
    assert call("1.1.1.1", "/config", method="GET")[0] == 200  # the page's routes: Gradio's login
    status, headers, body = call("1.1.1.1", "/v1/models", key="k-right", method="GET")
    assert status == 429 and int(headers["retry-after"]) > 0  # three failures: even the right key waits
    assert json.loads(body)["error"]["type"] == "rate_limit_error"
    assert call("1.1.1.1", "/login", password="right")[0] == 429  # one count for logins and keys
    assert call("2.2.2.2", "/v1/models", key="k-right", method="GET")[0] == 200
    now[0] = 61.0
    assert call("1.1.1.1", "/v1/models", key="k-right", method="GET")[0] == 200


def test_the_brief_page_shows_each_story_as_it_is_written(tmp_path: Path) -> None:
    from fakes import FakeEmbedder

    from rag.config import Settings
    from rag.generate import ExtractiveGenerator
    from rag.service import Service
    from rag.web.handlers import Handlers

    folder = tmp_path / "docs"
    folder.mkdir()
    stories = {"bridge": ("青川跨江大桥合龙", "2025-08-08", "大桥全长3.2公里，总投资27亿元。"),
               "apple": ("岭南镇苹果丰收", "2025-09-20", "总产量预计12万吨，比去年增长15%。"),
               "race": ("青川马拉松开跑", "2025-04-13", "共有2.5万名选手参赛，完赛率96%。")}
    for name, (title, date, text) in stories.items():
        (folder / f"{name}.txt").write_text(f"{title}\n\n{date}\n\n本报讯 {text}", encoding="utf-8")
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             refuse_below=0.0, generator="extractive")
    service = Service(settings, embedder=FakeEmbedder(), generator=ExtractiveGenerator())
    service.ingest([folder])
    frames = list(Handlers(service).brief("", "2025", "", 10))
    assert len(frames) == 4  # one frame per story as it is done, then the finished brief
    shown = [html.count('class="brief-section"') for html, _ in frames]
    assert shown == [1, 2, 3, 3]
    assert frames[-1][1].visible is True and all(d.visible is False for _, d in frames[:-1])
    service.close()
