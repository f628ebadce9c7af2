"""load_articles: RawDoc to Article (keys, ids, dates, cleaning), and the metadata helpers."""

import json

import pytest

from rag.ingest import articles_from_raw, load_articles
from rag.ingest.clean import clean_paragraph, ends_sentence, join_fragments
from rag.ingest.metadata import date_from_filename, names_in, normalize_date, split_leading_date
from rag.types import Article, RawDoc, Skipped

PAGE = """青川新闻·民生

市第一人民医院东院区正式启用

本报讯(记者 陈晓岚)1月6日,青川市第一人民医院东院区正式启用,开放床位1200张。

北原苹果去年总产量67.3万吨

□ 本报记者 刘思琪

记者近日从北原县农业农村局获悉,2024年全县苹果总产量达到67.3万吨。
"""


def test_page_file_gives_one_article_per_story(tmp_path):
    path = tmp_path / "page_2025-01-08_A03.txt"
    path.write_text(PAGE, encoding="utf-8")
    articles = list(load_articles([path]))
    assert all(isinstance(a, Article) for a in articles)
    hospital, apples = articles
    assert hospital.key == f"{path}#0" and apples.key == f"{path}#1"
    assert hospital.source == apples.source == str(path)
    assert hospital.title == "市第一人民医院东院区正式启用"
    assert hospital.text == "1月6日,青川市第一人民医院东院区正式启用,开放床位1200张。"
    assert hospital.id == Article.make_id(hospital.title, hospital.text)
    assert hospital.published == "2025-01-08"  # from the file name
    assert hospital.section == "青川新闻·民生" and apples.section == "青川新闻·民生"
    assert apples.reporters == ("刘思琪",)


def test_structured_records_are_not_split_and_lose_their_date_line(tmp_path):
    path = tmp_path / "news.jsonl"
    text = "2023-07-28 16:40，正文：第一段新闻。\n\n市政协召开会议\n\n本报讯（记者 张三）第二段新闻。"
    records = [
        {"id": "x1", "title": "一条消息", "source": "云溪日报", "text": text},
        {"text": "山东建立政策吹风会机制本报济南8月9日电（记者 李四）日前，山东省政府办公厅印发通知。"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    first, second = load_articles([path])
    assert first.key == "x1" and first.source == str(path) and first.source_name == "云溪日报"
    assert first.title == "一条消息" and first.published == "2023-07-28 16:40"
    assert first.text == "第一段新闻。\n市政协召开会议\n本报讯（记者 张三）第二段新闻。"
    assert second.key == f"{path}#2"
    assert second.title == "山东建立政策吹风会机制"  # a headline glued to the lead by a scraper
    assert second.text.startswith("本报济南8月9日电") and second.reporters == ("李四",)


def test_title_from_the_document_wins_for_a_single_article():
    raw = RawDoc(source="a.md", text="同比增长5.6%\n\n全年全市地区生产总值增长5.6%。", title="全市经济稳中有进")
    (article,) = articles_from_raw(raw)
    assert article.title == "全市经济稳中有进" and article.subtitle == "同比增长5.6%"
    assert article.text == "全年全市地区生产总值增长5.6%。"


def test_files_without_article_text_are_reported(tmp_path):
    path = tmp_path / "title_only.txt"
    path.write_text("只有一个标题", encoding="utf-8")
    assert list(load_articles([path])) == [Skipped(str(path), "no article text found")]


def test_same_text_gets_the_same_id_anywhere(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("短讯标题\n\n青川新建了一座桥梁。", encoding="utf-8")
    a, b = load_articles([tmp_path])
    assert a.id == b.id and a.key != b.key


@pytest.mark.parametrize(("raw", "clean"), [
    ("这 是 一 段 被 排 版 拉 开 字 距 的 文 字 。", "这是一段被排版拉开字距的文字。"),
    ("《中共中央 国务院关于深化改革的意见》 发布 。", "《中共中央 国务院关于深化改革的意见》发布。"),
    ("IT之家 8 月 16 日消息，Intel Arc  GPU   driver 更新", "IT之家 8 月 16 日消息，Intel Arc GPU driver 更新"),
    ("  前后空白\t ", "前后空白"),
])
def test_clean_paragraph(raw, clean):
    assert clean_paragraph(raw) == clean


def test_join_fragments_and_sentence_ends():
    assert join_fragments("54个智能化采掘", "工作面,4座煤矿") == "54个智能化采掘工作面,4座煤矿"
    assert join_fragments("the new", "line opened") == "the new line opened"
    assert ends_sentence("他说：“好。”") and ends_sentence("（完）") and ends_sentence("真的吗？")
    assert not ends_sentence("了解货运行业内部真实") and not ends_sentence("全力加强普惠性、")


@pytest.mark.parametrize(("text", "date"), [
    ("2023-08-16T18:24", "2023-08-16 18:24"),
    ("2023-08-16 18:22:06", "2023-08-16 18:22"),
    ("2025年1月8日 星期三", "2025-01-08"),
    ("2024/3/5", "2024-03-05"),
    ("2024-02-30", None),
    ("08-01 11:33", None),
    ("", None),
])
def test_normalize_date(text, date):
    assert normalize_date(text) == date


def test_split_leading_date():
    assert split_leading_date("2023-07-28 16:40，正文：正文内容。") == ("2023-07-28 16:40", "正文内容。")
    assert split_leading_date("2023年7月28日\n市政府召开会议。") == ("2023-07-28", "市政府召开会议。")
    assert split_leading_date("，正文：没有日期。") == (None, "没有日期。")
    same = "2023年7月28日，市政府召开会议。"
    assert split_leading_date(same) == (None, same)


def test_date_from_filename():
    assert date_from_filename("archive/2024-12-28_page3.txt") == "2024-12-28"
    assert date_from_filename("rmrb20241228.txt") == "2024-12-28"
    assert date_from_filename("page_2025年1月8日.txt") == "2025-01-08"
    assert date_from_filename("000_de833d265e01a158.txt") is None
    assert date_from_filename("notes.txt") is None


def test_names_in_bylines():
    assert names_in("记者 付永文 高茜") == ("付永文", "高茜")
    assert names_in("记者苑立立\xa0通讯员杨立业") == ("苑立立", "杨立业")
    assert names_in("黄贞 中青报·中青网记者王林") == ("黄贞", "王林")
    assert names_in("新华社记者 黄立新 摄") == ("黄立新",)
