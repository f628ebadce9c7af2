"""Summaries and briefs: cited, verified, grouped by story, key figures kept."""

import json

import numpy as np
import pytest
from conftest import STORES, store_setting
from fakes import FakeEmbedder, ScriptedGenerator
from markdown_it import MarkdownIt

from rag.answer import brief as briefs
from rag.answer import prompts
from rag.answer.ask import rewrite
from rag.config import Settings
from rag.generate import ExtractiveGenerator
from rag.results import brief_to_json
from rag.service import Service
from rag.text.chunking import chunk_article
from rag.types import Article

COAL = Article(
    id="coal", key="coal", title="柳川县智能化煤矿建设提速", published="2025-01-08", source="page.txt",
    text=(
        "本报讯 柳川县是全省重要的焦煤生产基地。全县共有27座煤矿，原煤产能4235万吨。"
        "截至目前，柳川县建成9座智能化煤矿、54个智能化采掘工作面，4座煤矿实现5G入井。"
        "县委书记在接受采访时说，智能化改造让井下工人的工作环境明显改善。"
        "通过智能化改造，全县煤矿主要系统实现无人值守，每班平均减人1660人。"
    ),
)
COAL_FOLLOW_UP = Article(
    id="coal2", key="coal2", title="柳川县智能化煤矿增至12座", published="2025-06-20", source="page2.txt",
    text="本报讯 柳川县智能化煤矿建设又有新进展。截至6月，柳川县建成智能化煤矿12座，比年初增加3座。",
)
APPLE = Article(
    id="apple", key="apple", title="岭南镇苹果喜获丰收", published="2025-09-20", source="apple.txt",
    text="岭南镇今年苹果种植面积达3.6万亩，总产量预计12万吨，比去年增长15%。果农说今年雨水充足，果子个头大。",
)


def passages(article, size=60):
    return chunk_article(article, size, 0)


def test_key_facts_are_the_figure_dense_sentences_in_article_order():
    ps = passages(COAL)
    facts = briefs.key_facts(COAL, ps, "煤矿智能化", limit=2)
    assert [f.text for f in facts] == [
        "截至目前，柳川县建成9座智能化煤矿、54个智能化采掘工作面，4座煤矿实现5G入井。",
        "通过智能化改造，全县煤矿主要系统实现无人值守，每班平均减人1660人。",
    ]
    for f in facts:  # each fact points at a passage that holds it
        assert f.text in f.passage.text


def test_summary_keeps_supported_sentences_drops_invented_ones_and_cites_the_article():
    ps = passages(COAL)
    n_mines = next(i for i, p in enumerate(ps, 1) if "27座" in p.text)
    gen = ScriptedGenerator(
        f"柳川县共有27座煤矿，原煤产能4235万吨。[{n_mines}]"
        f"柳川县计划明年建成30座智能化煤矿。[{n_mines}]"  # invented: no passage says 30座
    )
    summary = briefs.summarize(COAL, ps, gen)
    texts = [s.text for s in summary.sentences]
    assert texts[0] == "柳川县共有27座煤矿，原煤产能4235万吨。"
    assert not any("30座" in t for t in texts)
    assert 2 <= len(texts) <= 5  # topped up from the key facts, quoted and marked so
    assert any(s.extracted and "54个" in s.text for s in summary.sentences)
    for s in summary.sentences:
        assert s.citations and s.supported
        for n in s.citations:
            c = summary.citations[n - 1]
            assert c.n == n and COAL.text[c.start:c.end] == c.text
    assert "# 摘要：柳川县智能化煤矿建设提速" in summary.markdown
    assert "[1]" in summary.markdown and "## 引用" in summary.markdown
    # the article went to the model fenced as numbered passages
    assert "<passages>" in gen.prompts[0][-1].content


def test_a_long_article_is_summarized_in_one_call_from_its_key_sentences():
    long = Article(
        id="long", key="long", title="沙溪河治理工程", published="2025-01-01", source="long.txt",
        text="".join(f"第{i}段说明沙溪河沿岸情况，群众反映良好，各方积极参与。" for i in range(1, 40))
        + "沙溪河治理工程总投资12.6亿元，已完成投资8.3亿元。"
        + "".join(f"第{i}段继续介绍沙溪河沿岸情况，周边环境逐步改善。" for i in range(40, 80)),
    )
    ps = passages(long, size=120)
    n_money = next(n for n, p in enumerate(ps, 1) if "12.6亿元" in p.text)
    gen = ScriptedGenerator(f"沙溪河治理工程总投资12.6亿元。[{n_money}]")
    summary = briefs.summarize(long, ps, gen, budget=200)
    assert len(gen.prompts) == 1  # one call, however long the article
    prompt = gen.prompts[0][-1].content
    assert f"[{n_money}] " in prompt and "总投资12.6亿元，已完成投资8.3亿元。" in prompt
    shown = prompt.split("<passages>")[1].split("</passages>")[0]
    assert len(shown) < 300 < len(long.text)  # the key sentences, not the article
    assert prompt.count("标题：沙溪河治理工程") == 1
    assert summary.sentences[0].text == "沙溪河治理工程总投资12.6亿元。"
    assert summary.citations[summary.sentences[0].citations[0] - 1].passage_id == ps[n_money - 1].id


def test_a_sentence_the_model_repeats_is_written_once():
    articles = [(COAL, passages(COAL)), (COAL_FOLLOW_UP, passages(COAL_FOLLOW_UP))]
    vectors = {"coal": np.array([1.0, 0.0]), "coal2": np.array([0.97, 0.243])}
    said = "截至6月，柳川县建成智能化煤矿12座，比年初增加3座。"
    facts = [f for a, ps in articles for f in briefs.key_facts(a, ps, "煤矿", 4)]
    n = next(i for i, f in enumerate(facts, 1) if "12座" in f.text)
    # word for word, then again with other punctuation
    gen = ScriptedGenerator(f"{said}[{n}]{said}[{n}]截至6月 柳川县建成智能化煤矿12座, 比年初增加3座。[{n}]")
    b = briefs.brief("煤矿", articles, gen, vectors=vectors, same_story=0.95)
    texts = [s.text for s in b.sentences]
    assert sum("12座" in t for t in texts) == 1, texts
    summary = briefs.summarize(COAL_FOLLOW_UP, passages(COAL_FOLLOW_UP),
                               ScriptedGenerator(f"{said}[1]{said}[1]"))
    assert [s.text for s in summary.sentences].count(said) == 1
    assert sum("12座" in s.text for s in summary.sentences) == 1


def test_extractive_summary_quotes_the_article_in_order():
    ps = passages(COAL)
    summary = briefs.summarize(COAL, ps, ExtractiveGenerator())
    assert 2 <= len(summary.sentences) <= 5
    starts = [COAL.text.index(s.text) for s in summary.sentences]
    assert starts == sorted(starts)
    assert all(s.extracted for s in summary.sentences)


def test_reports_of_one_story_are_grouped_by_vector_similarity():
    vectors = {"coal": np.array([1.0, 0.0]), "coal2": np.array([0.96, 0.28]),
               "apple": np.array([0.0, 1.0])}
    groups = briefs.group_stories([COAL_FOLLOW_UP, APPLE, COAL], vectors, threshold=0.95)
    assert [[a.id for a in g] for g in groups] == [["coal", "coal2"], ["apple"]]  # oldest first
    # without vectors, titles decide
    groups = briefs.group_stories([COAL, APPLE, COAL_FOLLOW_UP], None, threshold=0.5)
    assert [[a.id for a in g] for g in groups] == [["coal", "coal2"], ["apple"]]


def test_brief_sections_by_story_with_key_figures_each_cited():
    articles = [(COAL, passages(COAL)), (COAL_FOLLOW_UP, passages(COAL_FOLLOW_UP)),
                (APPLE, passages(APPLE))]
    gen = ScriptedGenerator(
        # story 1: one good sentence citing fact 2, one invented
        "2025年6月，柳川县智能化煤矿增至12座。[4]柳川县煤矿工人减少到500人。[1]",
        "岭南镇今年苹果总产量预计12万吨。[1]",
    )
    vectors = {"coal": np.array([1.0, 0.0]), "coal2": np.array([0.97, 0.243]),
               "apple": np.array([0.0, 1.0])}
    b = briefs.brief("煤矿和苹果", articles, gen, vectors=vectors, same_story=0.95)
    assert [s.article_ids for s in b.sections] == [("coal", "coal2"), ("apple",)]
    assert b.sections[0].since == "2025-01-08" and b.sections[0].until == "2025-06-20"
    coal_text = "".join(s.text for s in b.sections[0].sentences)
    for figure in ("12座", "9座", "54个", "1660人"):  # the model's sentence plus the key facts
        assert figure in coal_text
    assert "500人" not in coal_text
    for s in b.sentences:
        assert s.citations
        for n in s.citations:
            c = b.citations[n - 1]
            source = {"coal": COAL, "coal2": COAL_FOLLOW_UP, "apple": APPLE}[c.article_id]
            assert source.text[c.start:c.end] == c.text
    md = b.markdown
    assert md.startswith("# 简报：煤矿和苹果")
    assert "## 1. 柳川县智能化煤矿增至12座" in md and "2025-01-08 至 2025-06-20" in md
    assert "## 2. 岭南镇苹果喜获丰收" in md and "## 引用" in md
    data = brief_to_json(b)
    assert set(data) >= {"topic", "since", "until", "markdown", "sentences", "citations", "articles"}
    assert data["articles"] == ["coal", "coal2", "apple"]
    assert set(data["citations"][0]) == {"n", "article_id", "title", "published", "source", "passage_id",
                                         "text", "start", "end"}


def test_document_text_cannot_inject_markup_into_the_markdown():
    evil = Article(id="evil", key="evil", title="<script>alert(1)</script>标题", published="2025-01-01",
                   source="e.txt", text="全市共有12座**公园**，详见[链接](http://x)。另有3座在建，预计年底完工。")
    b = briefs.brief("公园", [(evil, passages(evil))], None)
    html = MarkdownIt("commonmark").render(b.markdown)
    assert "<script" not in html and "<strong>" not in html and "<a " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;标题" in html  # shown as text
    assert "**公园**" in html and "[链接](http://x)" in html


# ---------------------------------------------------------------- through the service


@pytest.fixture
def filled(service, archive):
    service.ingest([archive])
    return service


def test_service_brief_on_a_topic_and_on_a_date_range(filled):
    filled.settings = Settings.load(env={}, index_dir=filled.settings.index_dir,
                                    embedding_model="fake-embedder", refuse_below=0.0,
                                    generator="extractive")
    b = filled.brief("苹果丰收", max_articles=1)
    assert len(b.articles) == 1 and "苹果" in b.sections[0].heading
    assert any("12万吨" in s.text for s in b.sentences)

    b = filled.brief(since="2025-05", until="2025-06", max_articles=10)
    titles = {filled.article(a).title for a in b.articles}
    assert titles == {"青川地铁2号线完成85%工程量", "青川数据中心投运"}
    assert b.since == "2025-05-01" and b.until == "2025-06-30"

    with pytest.raises(ValueError, match="topic, a date range"):
        filled.brief()


def test_service_brief_on_an_unknown_topic_says_so(filled):
    filled.settings = Settings.load(env={}, index_dir=filled.settings.index_dir,
                                    embedding_model="fake-embedder", refuse_below=0.99,
                                    generator="extractive")
    b = filled.brief("火星探测器着陆")
    assert b.empty and prompts.REFUSAL in b.markdown


def test_service_summarize_by_id_prefix(filled):
    filled._generator = ExtractiveGenerator()
    article = next(a for a in filled.articles() if "马拉松" in a.title)
    s = filled.summarize(article.id[:6])
    assert s.articles == (article.id,) and any("4.2万人" in x.text for x in s.sentences)


# ---------------------------------------------------------------- command line


def test_cli_summarize_and_brief(rag, archive, tmp_path):
    rag("ingest", str(archive), "--quiet")
    _, out, _ = rag("articles", "--json")
    apple = next(a for a in json.loads(out) if "苹果" in a["title"])

    code, out, err = rag("summarize", apple["id"][:8], "--generator", "extractive", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["articles"] == [apple["id"]] and data["sentences"]
    assert all(s["citations"] and s["supported"] for s in data["sentences"])

    md = tmp_path / "brief.md"
    code, out, err = rag("brief", "苹果", "--generator", "extractive", "--max-articles", "2",
                         "--out", str(md))
    assert code == 0, err
    assert out.startswith("# 简报：苹果") and md.read_text(encoding="utf-8") == out.rstrip("\n") + "\n"

    code, _, err = rag("brief", "--generator", "extractive")
    assert code == 2 and "topic, a date range" in err


def test_service_refuses_bad_max_articles(tmp_path):
    svc = Service(Settings.load(env={}, index_dir=tmp_path / "i"), embedder=FakeEmbedder())
    with pytest.raises(ValueError, match="max_articles"):
        svc.brief("x", max_articles=0)


def _report(aid: str, date: str, text: str) -> Article:
    return Article(id=aid, key=aid, title="地铁2号线一期工程进展", published=date, source=f"{aid}.txt",
                   text=text)


METRO = [
    _report("m3", "2025-06-20", "地铁2号线一期工程已完成总工程量的85%，已完成投资152亿元。全线21座车站全部封顶。"),
    _report("m1", "2025-03-12", "地铁2号线一期工程已完成总工程量的60%，全线21座车站中已有17座封顶。总投资198.5亿元。"),
    _report("m2", "2025-04-30", "截至4月底，地铁2号线一期工程完成总工程量的70%，已完成投资120亿元。"),
]


def test_a_storys_figures_over_time_list_one_measure_in_date_order_with_citations():
    story = sorted(METRO, key=lambda a: a.published)
    result = briefs.brief("地铁2号线", [(a, passages(a, 200)) for a in METRO], None,
                          vectors={a.id: np.ones(4) / 2 for a in METRO})
    (section,) = result.sections
    figures = section.figures
    assert [(f.measure, f.date, f.text) for f in figures] == [
        ("总工程量", "2025-03-12", "60%"), ("总工程量", "2025-04-30", "70%"),
        ("总工程量", "2025-06-20", "85%"),
        ("完成投资", "2025-04-30", "120亿元"), ("完成投资", "2025-06-20", "152亿元"),
    ]
    # never mixed: 总投资 (one date) is not a point of 完成投资, and 21座 never moved
    assert all(f.text != "198.5亿元" and f.text != "21座" for f in figures)
    for f in figures:  # each point cites a passage of its own report that states it
        c = result.citations[f.citation - 1]
        article = next(a for a in story if a.id == c.article_id)
        assert article.published == f.date and f.text in c.text
    table = result.markdown.split("| 日期 | 指标 | 数值 | 出处 |")[1]
    assert "| 2025-03-12 | 总工程量 | 60% | [" in table and "| 2025-06-20 | 完成投资 | 152亿元 | [" in table
    assert brief_to_json(result)["sections"][0]["figures"][0]["value"] == 60.0


def test_a_report_stating_two_values_of_one_measure_leaves_it_out():
    unclear = _report("m4", "2025-05-15", "已完成总工程量的75%，其中主体结构已完成总工程量的90%。")
    result = briefs.brief("地铁2号线", [(a, passages(a, 200)) for a in [*METRO, unclear]], None,
                          vectors={a.id: np.ones(4) / 2 for a in [*METRO, unclear]})
    assert {f.measure for f in result.sections[0].figures} == {"完成投资"}


def test_a_single_report_has_no_figures_over_time():
    result = briefs.brief("地铁", [(METRO[0], passages(METRO[0], 200))], None)
    assert result.sections[0].figures == () and "| 日期 |" not in result.markdown


def test_only_a_story_of_several_reports_is_written_by_the_model_and_each_section_is_streamed():
    articles = [(COAL, passages(COAL)), (COAL_FOLLOW_UP, passages(COAL_FOLLOW_UP)),
                (APPLE, passages(APPLE))]
    gen = ScriptedGenerator("2025年6月，柳川县智能化煤矿增至12座。[4]")
    vectors = {"coal": np.array([1.0, 0.0]), "coal2": np.array([0.97, 0.243]),
               "apple": np.array([0.0, 1.0])}
    seen: list[tuple[int, int]] = []
    b = briefs.brief("煤矿和苹果", articles, gen, vectors=vectors, same_story=0.95,
                     on_section=lambda partial: seen.append((len(partial.sections), len(partial.citations))))
    assert len(gen.prompts) == 1  # the coal story (2 reports); the apple story is quoted
    apple = b.sections[1]
    assert all(s.extracted for s in apple.sentences) and any("12万吨" in s.text for s in apple.sentences)
    assert seen[0][0] == 1 and seen[-1] == (2, len(b.citations))  # the brief so far, section by section
    assert b.timings["first_section_s"] <= b.timings["total_s"]

    every = ScriptedGenerator("2025年6月，柳川县智能化煤矿增至12座。[4]", "岭南镇今年苹果总产量预计12万吨。[1]")
    briefs.brief("煤矿和苹果", articles, every, vectors=vectors, same_story=0.95, write_from=1)
    assert len(every.prompts) == 2


class CountingGenerator(ScriptedGenerator):
    name = "scripted:counting"

    def generate(self, messages, *, max_tokens, temperature=0.0, stop=None):  # type: ignore[no-untyped-def]
        reply = super().generate(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        self.replies.append(reply)  # never runs dry: the same reply again
        return reply


@pytest.mark.parametrize("store", STORES)
def test_a_repeated_brief_or_summary_asks_the_model_nothing_until_its_articles_change(tmp_path, store):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "coal.txt").write_text(f"{COAL.title}\n\n{COAL.published}\n\n{COAL.text}", encoding="utf-8")
    (folder / "coal2.txt").write_text(
        f"{COAL_FOLLOW_UP.title}\n\n{COAL_FOLLOW_UP.published}\n\n{COAL_FOLLOW_UP.text}", encoding="utf-8")
    gen = CountingGenerator("截至目前，柳川县建成9座智能化煤矿。[1]")
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             refuse_below=0.0, brief_same_story=0.01, store=store_setting(store, tmp_path))
    service = Service(settings, embedder=FakeEmbedder(), generator=gen)
    service.ingest([folder])
    first = service.brief(since="2025", max_articles=10)
    calls = len(gen.prompts)
    assert calls == 1 and len(first.sections) == 1
    again = service.brief(since="2025", max_articles=10)
    assert len(gen.prompts) == calls and again.markdown == first.markdown  # from the kept reply

    article_id = next(a.id for a in service.articles() if "建设提速" in a.title)
    service.summarize(article_id)
    service.summarize(article_id)
    assert len(gen.prompts) == calls + 1  # the second summary reused the first reply

    # the article changes: its replies are dropped, and the next brief asks again
    (folder / "coal.txt").write_text(
        f"{COAL.title}\n\n{COAL.published}\n\n{COAL.text}截至年底，柳川县建成11座智能化煤矿。",
        encoding="utf-8")
    report = service.ingest([folder])
    assert report.updated
    assert len(service.store().replies) == 0
    service.brief(since="2025", max_articles=10)
    assert len(gen.prompts) == calls + 2
    service.close()


def test_a_backend_that_only_quotes_is_known_by_what_it_can_do_not_its_name():
    class Quoting(ScriptedGenerator):
        name = "my-quoting-backend"
        writes = False

    gen = Quoting("不应被调用。[1]")
    summary = briefs.summarize(COAL, passages(COAL), gen)
    assert gen.prompts == [] and summary.sentences and all(s.extracted for s in summary.sentences)
    assert rewrite("它有多少座？", [("user", "柳川县煤矿"), ("assistant", "12座。[1]")], gen) == "柳川县煤矿，它有多少座？"
    assert gen.prompts == []
