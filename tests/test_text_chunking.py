from rag.text.chunking import chunk_article, split_sentences, windows
from rag.types import Article


def spans_text(text, spans):
    return [text[s:e] for s, e in spans]


def test_sentences_end_at_chinese_terminators_and_keep_closing_quotes():
    text = "他说：“今年产量增长了。”记者问道？答案是肯定的！第二段；还有……\n最后一句"
    assert spans_text(text, split_sentences(text)) == [
        "他说：“今年产量增长了。”",
        "记者问道？",
        "答案是肯定的！",
        "第二段；",
        "还有……",
        "最后一句",
    ]


def test_sentence_spans_skip_surrounding_whitespace():
    text = "  第一句。 \n\n 第二句。  "
    assert spans_text(text, split_sentences(text)) == ["第一句。", "第二句。"]


def test_windows_respect_size_and_overlap_one_sentence():
    text = "".join(f"第{i}句话有十个字。" for i in range(10))  # each sentence 9-10 chars
    wins = list(windows(text, size=30, overlap=1))
    assert all(e - s <= 30 for s, e in wins)
    # neighbours share exactly their boundary sentence
    for (_s1, e1), (s2, _e2) in zip(wins, wins[1:], strict=False):
        assert s2 < e1
        assert text[s2:e1].endswith("。")
    # every sentence is covered
    covered = set()
    for s, e in wins:
        covered.update(range(s, e))
    for s, e in split_sentences(text):
        assert set(range(s, e)) <= covered


def test_long_sentence_is_cut_not_dropped():
    text = "短句。" + "长" * 250 + "。尾句。"
    wins = list(windows(text, size=100, overlap=0))
    joined = "".join(text[s:e] for s, e in wins)
    assert joined.count("长") == 250
    assert all(e - s <= 100 for s, e in wins)


def test_passages_point_into_article_text():
    body = "本报讯（记者 张明）青川市地铁2号线进展顺利。\n截至6月底，工程完成85%。预计年底通车。"
    article = Article(id="a1", key="k", title="地铁", text=body, source="x.txt")
    passages = chunk_article(article, size=60, overlap=1)
    assert passages
    for n, p in enumerate(passages):
        assert p.ordinal == n
        assert body[p.start:p.end] == p.text
    assert len({p.id for p in passages}) == len(passages)


def test_empty_text_gives_no_passages():
    article = Article(id="a1", key="k", title="t", text="  \n ", source="x")
    assert chunk_article(article, size=100) == []
