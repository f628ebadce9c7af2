"""Readers: every format, every encoding, and a clear reason for every unusable file."""

import gzip
import json

import docx
import pytest
from pypdf import PdfWriter

from rag.ingest import iter_raw
from rag.types import RawDoc, Skipped

ARTICLE = "青川河滨江步道全线贯通\n\n本报讯（记者 唐欣怡）青川河滨江步道日前实现全线贯通，步道全长18.5公里。"
TRADITIONAL = "臺北市今年新建了三座橋樑，交通更加便利。市民表示很滿意，希望繼續改善鐵路與公車服務。"


def read_all(*paths):
    return list(iter_raw(paths))


def only_doc(items) -> RawDoc:
    assert len(items) == 1 and isinstance(items[0], RawDoc), items
    return items[0]


def only_skip(items) -> Skipped:
    assert len(items) == 1 and isinstance(items[0], Skipped), items
    return items[0]


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text is `lines`, built by hand.

    The font is a CID font with an identity encoding and a ToUnicode map, which is all
    a text extractor needs; no font program is embedded, so no font package is required.
    """
    chars = list(dict.fromkeys("".join(lines)))
    code = {c: i + 1 for i, c in enumerate(chars)}
    ops = ["BT", "/F1 12 Tf", "72 720 Td"]
    for k, line in enumerate(lines):
        if k:
            ops.append("0 -24 Td")
        ops.append("<" + "".join(f"{code[c]:04X}" for c in line) + "> Tj")
    ops.append("ET")
    cmap = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        f"{len(chars)} beginbfchar\n"
        + "".join(f"<{code[c]:04X}> <{ord(c):04X}>\n" for c in chars)
        + "endbfchar\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )

    def stream(data: str) -> str:
        return f"<< /Length {len(data)} >>\nstream\n{data}\nendstream"

    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
        "/DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        stream("\n".join(ops)),
        "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        stream(cmap),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{obj}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{off:010d} 00000 n \n".encode("ascii") for off in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return bytes(out)


# -- text and encodings


def test_utf8_with_and_without_bom(tmp_path):
    plain, bom = tmp_path / "plain.txt", tmp_path / "bom.txt"
    plain.write_text(ARTICLE, encoding="utf-8")
    bom.write_bytes(b"\xef\xbb\xbf" + ARTICLE.encode("utf-8"))
    assert only_doc(read_all(plain)).text == ARTICLE
    doc = only_doc(read_all(bom))
    assert doc.text == ARTICLE and not doc.structured and doc.source == str(bom)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_simplified_chinese_in_gbk_and_gb18030(tmp_path, encoding):
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(ARTICLE.encode(encoding))
    assert only_doc(read_all(path)).text == ARTICLE


def test_gb18030_only_characters(tmp_path):
    text = "𠮷野家在青川开出第一家门店，市民排队品尝。"  # 𠮷 exists in GB18030, not in GBK
    path = tmp_path / "rare.txt"
    path.write_bytes(text.encode("gb18030"))
    assert only_doc(read_all(path)).text == text


@pytest.mark.parametrize("text", [TRADITIONAL, "臺灣鐵路"])
def test_big5_stays_traditional(tmp_path, text):
    path = tmp_path / "big5.txt"
    path.write_bytes(text.encode("big5"))
    assert only_doc(read_all(path)).text == text  # not mistaken for GBK, not converted


def test_newlines_invisible_characters_and_indentation_are_normalized(tmp_path):
    path = tmp_path / "messy.txt"
    path.write_bytes("标题\r\n\r\n\u3000\u3000第一段\u200b正文\xa0内容。\r第二段。".encode())
    assert only_doc(read_all(path)).text == "标题\n\n第一段正文 内容。\n第二段。"


# -- other formats


def test_markdown_headings_become_title_lines(tmp_path):
    path = tmp_path / "2025-01-21_report.md"
    path.write_text(
        "# 全市经济稳中有进\n\n## 增速居全省第三\n\n**初步核算**，全年增长*5.6%*，详见[统计公报](http://example.com)。\n\n"
        "- 工业增长7.4%\n- 投资增长6.9%\n",
        encoding="utf-8",
    )
    doc = only_doc(read_all(path))
    assert doc.title == "全市经济稳中有进"
    assert doc.published == "2025-01-21"
    assert "增速居全省第三" in doc.text.split("\n")
    assert "初步核算，全年增长5.6%，详见统计公报。" in doc.text
    assert "• 工业增长7.4%" in doc.text
    assert "#" not in doc.text and "*" not in doc.text and "http" not in doc.text


HTML_PAGE = """<!DOCTYPE html><html><head><meta charset="{charset}">
<title>云溪港二期码头开工 - 云溪日报网</title>
<meta property="article:published_time" content="2024-03-05T09:30:00+08:00">
</head><body>
<header><a href="/">云溪日报网</a> 登录 注册</header>
<nav><ul><li>首页</li><li>要闻</li><li>经济</li><li>社会</li></ul></nav>
<article><h1>云溪港二期码头开工</h1>
<p>3月5日，投资32亿元的云溪港二期码头工程开工建设，将新建5个万吨级泊位。</p>
<p>工程建成后，云溪港年吞吐能力将提升至4500万吨，可满足周边产业园区的运输需求。</p>
<p>港口集团负责人表示，二期工程计划于2026年底建成投用，届时将新增就业岗位约2000个。</p>
</article>
<aside>相关阅读：云溪港一期工程回顾</aside>
<footer>版权所有 云溪日报社 举报电话</footer>
</body></html>"""


@pytest.mark.parametrize("charset", ["utf-8", "gbk"])
def test_html_main_text_title_and_date(tmp_path, charset):
    path = tmp_path / "port.html"
    path.write_bytes(HTML_PAGE.format(charset=charset).encode(charset))
    doc = only_doc(read_all(path))
    assert doc.title == "云溪港二期码头开工"
    assert doc.published == "2024-03-05 09:30"
    assert "年吞吐能力将提升至4500万吨" in doc.text
    for furniture in ("首页", "登录", "版权所有", "相关阅读"):
        assert furniture not in doc.text


def test_short_html_falls_back_to_article_text(tmp_path):
    path = tmp_path / "short.htm"
    path.write_text(
        "<html><head><meta property='og:title' content='云溪今日降雨'></head><body><nav>首页 新闻</nav>"
        "<main><p>云溪市今天全天有雨。</p></main><footer>版权所有</footer></body></html>",
        encoding="utf-8",
    )
    doc = only_doc(read_all(path))
    assert doc.title == "云溪今日降雨"
    assert "云溪市今天全天有雨。" in doc.text and "首页" not in doc.text and "版权" not in doc.text


def test_pdf_text_is_extracted(tmp_path):
    path = tmp_path / "20240306_page2.pdf"
    path.write_bytes(minimal_pdf(["云溪湿地迎来越冬候鸟", "今年共有四十三种候鸟在湿地越冬。"]))
    doc = only_doc(read_all(path))
    assert doc.text == "云溪湿地迎来越冬候鸟\n今年共有四十三种候鸟在湿地越冬。"
    assert doc.published == "2024-03-06"


def test_pdf_without_text_and_corrupt_pdf_are_skipped(tmp_path):
    scanned = tmp_path / "scanned.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with scanned.open("wb") as f:
        writer.write(f)
    assert "no extractable text" in only_skip(read_all(scanned)).reason
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    assert only_skip(read_all(broken)).reason.startswith("corrupt PDF")


def test_docx_paragraphs_and_tables(tmp_path):
    path = tmp_path / "report.docx"
    document = docx.Document()
    document.add_paragraph("云溪港二期码头开工")
    document.add_paragraph("本报讯（记者 韩冬梅）云溪港二期码头工程3月5日开工。")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "泊位"
    table.rows[0].cells[1].text = "5个"
    document.add_paragraph("工程计划2026年底建成。")
    document.save(str(path))
    doc = only_doc(read_all(path))
    assert doc.text.split("\n\n") == [
        "云溪港二期码头开工", "本报讯（记者 韩冬梅）云溪港二期码头工程3月5日开工。", "泊位  5个", "工程计划2026年底建成。",
    ]


def test_corrupt_docx_is_skipped(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    assert only_skip(read_all(path)).reason.startswith("corrupt DOCX")


# -- JSONL


def test_jsonl_gz_records_and_one_bad_line(tmp_path):
    path = tmp_path / "news.jsonl.gz"
    lines = [
        json.dumps({"id": "a1", "published": "2023-07-28T16:40", "source": "云溪日报",
                    "text": "2023-07-28 16:40:12，正文：云溪港一期码头今日通过验收。"}, ensure_ascii=False),
        '{"id": "a2", "text": "缺少结尾',
        "",
        json.dumps({"title": "暴雨预警", "text": "2023年7月29日\n市气象台发布暴雨蓝色预警。"}, ensure_ascii=False),
        json.dumps({"id": 7, "text": "，正文：没有日期的一条消息。"}, ensure_ascii=False),
    ]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    items = read_all(path)
    docs = [i for i in items if isinstance(i, RawDoc)]
    skips = [i for i in items if isinstance(i, Skipped)]
    assert len(docs) == 3 and len(skips) == 1
    assert skips[0].source == f"{path}:2" and "invalid JSON" in skips[0].reason
    first, second, third = docs
    assert first.text == "云溪港一期码头今日通过验收。"
    assert first.published == "2023-07-28 16:40"
    assert (first.external_id, first.source_name, first.source) == ("a1", "云溪日报", f"{path}#1")
    assert all(d.structured for d in docs)
    assert second.text == "市气象台发布暴雨蓝色预警。"  # a leading date line becomes the date
    assert second.published == "2023-07-29" and second.title == "暴雨预警" and second.external_id is None
    assert third.text == "没有日期的一条消息。" and third.published is None and third.external_id == "7"


def test_jsonl_records_without_text_or_not_objects(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('[1, 2]\n{"id": "x", "title": "只有标题"}\n{"text": "   "}\n{"text": "好的记录。"}\n', encoding="utf-8")
    items = read_all(path)
    reasons = {i.source: i.reason for i in items if isinstance(i, Skipped)}
    assert reasons == {
        f"{path}:1": "record is not a JSON object",
        f"{path}:2": "record has no text",
        f"{path}:3": "record has no text",
    }
    assert [i.text for i in items if isinstance(i, RawDoc)] == ["好的记录。"]


def test_corrupt_gzip_is_skipped_with_cause(tmp_path):
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b"this was never gzipped")
    assert only_skip(read_all(fake)).reason.startswith("corrupt gzip:")
    truncated = tmp_path / "truncated.jsonl.gz"
    data = gzip.compress(("\n".join(json.dumps({"text": f"第{i}条新闻。"}, ensure_ascii=False) for i in range(500))).encode())
    truncated.write_bytes(data[: len(data) // 2])
    items = read_all(truncated)
    assert isinstance(items[-1], Skipped) and items[-1].reason.startswith("corrupt gzip:")
    assert any(isinstance(i, RawDoc) for i in items)  # what came before the damage is kept


# -- unusable files


def test_unusable_files_say_why(tmp_path):
    cases = {
        "empty.txt": (b"", "empty file"),
        "blank.txt": (" \n\u3000\n".encode(), "empty file"),
        "photo.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file, not text"),
        "nul.txt": (b"abc\x00\x00def", "binary file, not text"),
        "noise.txt": (bytes(range(0x80, 0x100)) * 8, "could not detect a text encoding"),
        "data.xyz": (b"whatever", "unsupported file type .xyz"),
        "empty.jsonl": (b"\n\n", "empty file"),
    }
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    for name, (_, reason) in cases.items():
        skipped = only_skip(read_all(tmp_path / name))
        assert skipped.source == str(tmp_path / name)
        assert skipped.reason.startswith(reason), (name, skipped.reason)


def test_missing_path(tmp_path):
    missing = tmp_path / "nope" / "gone.txt"
    assert only_skip(read_all(missing)) == Skipped(str(missing), "file not found")


def test_directories_are_read_recursively_in_sorted_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "2.txt").write_text("二号文件的正文。", encoding="utf-8")
    (tmp_path / "a" / "deep" / "1.txt").write_text("一号文件的正文。", encoding="utf-8")
    (tmp_path / "a" / "0.md").write_text("零号文件的正文。", encoding="utf-8")
    (tmp_path / ".hidden" / "x.txt").write_text("不应读取。", encoding="utf-8")
    (tmp_path / ".secret.txt").write_text("不应读取。", encoding="utf-8")
    (tmp_path / "c.bin").write_bytes(b"\x00")
    items = read_all(tmp_path)
    assert [i.source for i in items] == [
        str(tmp_path / "a" / "0.md"), str(tmp_path / "a" / "deep" / "1.txt"),
        str(tmp_path / "b" / "2.txt"), str(tmp_path / "c.bin"),
    ]
    assert items[-1] == Skipped(str(tmp_path / "c.bin"), "unsupported file type .bin")
    assert read_all(tmp_path) == items  # deterministic
