import time

import pytest

from rag.answer.citations import Sentence, is_refusal, parse_citations
from rag.answer.verify import Support, check_support, verify

METRO = "本报讯（记者 张明）截至6月中旬，青川市地铁2号线土建工程已完成85%，全线18座车站主体结构全部封顶。"
APPLE = (
    "岭南镇今年苹果种植面积达3.6万亩，总产量预计12万吨，比去年增长15%。果农王建国说，今年雨水充足。"
)
MARATHON = "2025青川马拉松报名通道昨日关闭，共有4.2万人报名，创历史新高。赛事将于4月13日鸣枪开跑。"


# ---------------------------------------------------------------- markers


@pytest.mark.parametrize(
    ("answer", "citations"),
    [
        ("地铁工程已完成85%[1]。", (1,)),
        ("地铁工程已完成85%[1,2]。", (1, 2)),
        ("地铁工程已完成85%[1, 2]。", (1, 2)),
        ("地铁工程已完成85%[1][2]。", (1, 2)),
        ("地铁工程已完成85%[1]、[3]。", (1, 3)),
        ("地铁工程已完成85%［1］。", (1,)),
        ("地铁工程已完成85%【2】。", (2,)),
        ("地铁工程已完成85%［１］。", (1,)),
        ("地铁工程已完成85%[1-3]。", (1, 2, 3)),
        ("地铁工程已完成85%[资料2]。", (2,)),
        ("地铁工程已完成85%[2][2][1]。", (2, 1)),
    ],
)
def test_marker_forms(answer, citations):
    (sentence,) = parse_citations(answer, 3)
    assert sentence == Sentence("地铁工程已完成85%。", citations, (), (0, len(answer)))


def test_marker_positions_attach_to_the_right_sentence():
    answer = "地铁已完成85%。[1]苹果产量12万吨[2]。报名4.2万人。\n[3]"
    sentences = parse_citations(answer, 3)
    assert [(s.text, s.citations) for s in sentences] == [
        ("地铁已完成85%。", (1,)),
        ("苹果产量12万吨。", (2,)),
        ("报名4.2万人。", (3,)),
    ]
    assert [answer[s.span[0] : s.span[1]] for s in sentences][:2] == [
        "地铁已完成85%。[1]",
        "苹果产量12万吨[2]。",
    ]


def test_sentence_ends_and_newlines():
    answer = "第一句[1]！第二句[2]？第三句；第四句\n第五句 [1]"
    assert [s.text for s in parse_citations(answer, 2)] == [
        "第一句！",
        "第二句？",
        "第三句；",
        "第四句",
        "第五句",
    ]


def test_unresolvable_markers_are_dropped():
    (s,) = parse_citations("地铁已完成85%[0][2][5,1]。", 3)
    assert s.citations == (2, 1)
    assert s.dropped == ("0", "5")
    (s,) = parse_citations("地铁已完成85%[2-9]。", 3)
    assert s.citations == (2, 3)
    assert s.dropped == ("4", "5", "6", "7", "8", "9")
    (s,) = parse_citations("地铁已完成85%[1]。", 0)
    assert (s.citations, s.dropped) == ((), ("1",))


def test_bracketed_words_are_not_markers():
    (s,) = parse_citations("据【新华社】报道，地铁已完成85%[1]。", 2)
    assert s.text == "据【新华社】报道，地铁已完成85%。"
    assert s.citations == (1,)


# ---------------------------------------------------------------- support


def test_support_numbers_in_other_notation():
    passage = "市里举行纪念活动，三十余万名群众参加，项目投资3.04亿元，完成百分之八十五。"
    assert check_support("活动吸引了30余万名群众参加。", passage).supported
    assert check_support("项目完成了85%。", passage).supported
    assert check_support("项目投资30400万元。", passage).supported
    result = check_support("项目投资3.4亿元。", passage)
    assert not result.supported
    assert result.missing == ("3.4亿元",)


def test_support_full_width_digits():
    passage = "该县共有１２３个行政村，全部通了５Ｇ网络。"
    result = check_support("该县共有123个行政村，全部通了5G网络。", passage)
    assert result == Support(True, (), result.score, ("123个", "5G"))
    assert result.score > 0.9


def test_support_date_without_year():
    passage = "据新华社北京2024年12月27日电，青川大桥当天正式通车。"
    assert check_support("青川大桥于12月27日正式通车。", passage).supported
    assert not check_support("青川大桥于12月28日正式通车。", passage).supported


def test_name_missing_from_passage_is_unsupported():
    result = check_support("果农李四海说，今年雨水充足。", APPLE)
    assert not result.supported
    assert "李四海" in result.missing
    assert check_support("果农王建国说，今年雨水充足。", APPLE).supported
    assert not check_support("该项目由COTODAMA公司设计。", METRO).supported
    assert "《青川日报》" not in METRO
    assert not check_support(
        "《青川日报》报道，青川市地铁2号线全线18座车站主体结构全部封顶。", METRO
    ).supported


def test_fact_free_sentence_needs_overlap():
    assert check_support("今年雨水充足。", APPLE).supported
    low = check_support("专家认为这将带动周边经济发展。", APPLE)
    assert not low.supported and low.missing == () and low.score < 0.3
    assert check_support("专家认为这将带动周边经济发展。", APPLE, min_overlap=0.0).supported


# ---------------------------------------------------------------- verify


def test_correct_citation_is_kept():
    v = verify("青川市地铁2号线土建工程已完成85%[1]。", [METRO, APPLE])
    (s,) = v.sentences
    assert (s.citations, s.supported, s.reattached) == ((1,), True, False)
    assert v.kept_text == "青川市地铁2号线土建工程已完成85%[1]。"
    assert v.any_supported


def test_wrong_number_for_cited_passage_is_reattached():
    v = verify("苹果总产量预计12万吨[1]。", [METRO, APPLE, MARATHON])
    (s,) = v.sentences
    assert (s.citations, s.supported, s.reattached, s.cited) == ((2,), True, True, (1,))
    assert v.kept_text == "苹果总产量预计12万吨[2]。"


def test_unsupported_citations_are_pruned():
    v = verify("全线18座车站主体结构全部封顶[1][2]。", [METRO, APPLE])
    assert v.sentences[0].citations == (1,)
    assert not v.sentences[0].reattached


def test_invented_number_is_dropped():
    answer = "马拉松共有4.2万人报名[3]。其中外国选手有3500人[3]。"
    v = verify(answer, [METRO, APPLE, MARATHON])
    first, second = v.sentences
    assert first.supported
    assert not second.supported and second.citations == () and "3500人" in second.missing
    assert v.kept_text == "马拉松共有4.2万人报名[3]。"


def test_uncited_sentence_is_attached():
    v = verify("赛事将于4月13日鸣枪开跑。", [METRO, APPLE, MARATHON])
    (s,) = v.sentences
    assert (s.citations, s.supported, s.reattached, s.cited) == ((3,), True, True, ())


def test_facts_from_two_cited_passages():
    v = verify("地铁完成85%，苹果产量预计12万吨[1][2]。", [METRO, APPLE, MARATHON])
    (s,) = v.sentences
    assert (s.citations, s.supported, s.reattached) == ((1, 2), True, False)


def test_no_passages_nothing_supported():
    v = verify("地铁工程已完成85%[1]。", [])
    assert not v.any_supported and v.kept_text == ""
    assert v.sentences[0].citations == ()


def test_refusal_is_never_attached():
    v = verify("资料中没有相关信息[1]。", [METRO])
    (s,) = v.sentences
    assert s.refusal and not s.supported and s.citations == () and s.cited == (1,)
    assert v.kept_text == "资料中没有相关信息。"
    assert not v.any_supported


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("资料中没有相关信息。", True),
        ("根据提供的资料，无法回答这个问题。", True),
        ("抱歉，所给材料并未提及该项目的投资额。", True),
        ("参考资料中未提到开通时间。", True),
        ("没有找到相关信息。", True),
        ("根据提供的资料，没有关于青川地铁票价的信息。", True),
        ("文中未提及票价。", True),
        ("The passages do not mention the fare.", True),
        ("地铁2号线计划于今年12月底开通试运营。", False),
        ("资料显示，全线18座车站主体结构全部封顶。", False),
        ("事故原因正在调查中。", False),
        ("资料显示，该项目不包含住宅部分。", False),
        ("文章指出，青川市没有出现新的病例。", False),
    ],
)
def test_is_refusal(text, expected):
    assert is_refusal(text) is expected


def test_partial_answer_keeps_refusal_and_supported_sentences():
    answer = "全线18座车站主体结构全部封顶[1]。\n资料中没有提到票价。"
    v = verify(answer, [METRO])
    assert v.kept_text == "全线18座车站主体结构全部封顶[1]。\n资料中没有提到票价。"


# A model answer over three retrieved passages: it cites the economy passage for a
# transport fact, writes Arabic numerals for the tourism passage's Chinese ones, and
# rounds an investment figure into a number no passage states.
ECONOMY = (
    "青川市统计局1月20日发布，2024年全市地区生产总值达到3285.6亿元，同比增长5.8%。"
    "其中，第三产业增加值1876亿元，占比57.1%。全市常住人口达到426万人，比上年末增加3.2万人。"
)
TRANSPORT = (
    "青川市交通运输局介绍，2024年全市新建和改建农村公路1260公里，新开通公交线路18条。"
    "市区至东港新区的快速路将于今年10月建成通车，总投资46.8亿元。"
)
TOURISM = (
    "据青川市文化和旅游局统计，今年春节假期全市共接待游客三百二十万人次，"
    "实现旅游收入二十一亿元，同比分别增长百分之十二和百分之十五。"
)


def test_realistic_answer_with_a_wrong_citation():
    answer = (
        "2024年青川市地区生产总值达到3285.6亿元，同比增长5.8%[1]。"
        "全市新建和改建农村公路1260公里[1]。"
        "春节假期全市接待游客320万人次，旅游收入21亿元，同比增长15%[3]。"
        "东港快速路总投资约50亿元[2]。"
    )
    v = verify(answer, [ECONOMY, TRANSPORT, TOURISM])
    gdp, roads, tourism, invented = v.sentences
    assert (gdp.citations, gdp.supported, gdp.reattached) == ((1,), True, False)
    assert (roads.citations, roads.supported, roads.reattached, roads.cited) == (
        (2,),
        True,
        True,
        (1,),
    )
    assert (tourism.citations, tourism.supported) == ((3,), True)
    assert (invented.supported, invented.missing) == (False, ("50亿元",))
    assert v.kept_text == (
        "2024年青川市地区生产总值达到3285.6亿元，同比增长5.8%[1]。"
        "全市新建和改建农村公路1260公里[2]。"
        "春节假期全市接待游客320万人次，旅游收入21亿元，同比增长15%[3]。"
    )


def test_verify_is_deterministic():
    answer = "苹果总产量预计12万吨[1]。地铁已完成85%。资料中没有相关信息。"
    passages = [METRO, APPLE, MARATHON]
    assert verify(answer, passages) == verify(answer, list(passages))


def test_verify_is_fast():
    verify("预热。", [METRO])
    passages = [METRO + APPLE + MARATHON + f"第{i}段。" for i in range(5)]
    answer = "".join(
        f"第{i}条：青川市地铁2号线土建工程已完成85%，苹果产量{i}万吨[{i % 5 + 1}]。"
        for i in range(50)
    )
    start = time.perf_counter()
    v = verify(answer, passages)
    assert len(v.sentences) == 50
    assert time.perf_counter() - start < 2.0


def test_refusal_carrying_a_number_is_not_kept():
    v = verify("资料中没有提到票价，但单程票价为5元。", [METRO])
    assert v.sentences[0].refusal
    assert v.kept_text == ""


def test_place_name_with_or_without_its_admin_suffix_is_the_same_place():
    passage = "地处黄河东岸的柳林，矿产资源丰富，现探明储量达61.7亿吨。"
    assert check_support("柳林县现探明煤炭储量达61.7亿吨。", passage).supported
    assert not check_support("中阳县现探明煤炭储量达61.7亿吨。", passage).supported


def test_markers_go_before_closing_punctuation_but_not_inside_brackets():
    from rag.answer.citations import with_markers

    assert with_markers("共27座。", [1, 2]) == "共27座[1][2]。"
    assert with_markers("他说：“产量增长了。”", [1]) == "他说：“产量增长了[1]。”"
    assert with_markers("见（附件）。", [3]) == "见（附件）[3]。"
    assert with_markers("DTIME（f（n））", [2]) == "DTIME（f（n））[2]"


def test_question_anchors_are_the_numbers_and_identifiers_an_answer_must_be_about() -> None:
    from rag.answer.question import question_anchors
    from rag.answer.verify import states_anchors

    meeting = question_anchors("县人大五届二次会议哪一天开幕？")
    assert [q.text for q in meeting.quantities] == ["五届", "二次"]
    assert states_anchors(meeting, "会议要求认真筹备五届二次会议。")
    assert not states_anchors(meeting, "县人大常委会召开五届二十一次主任会议。")  # 二次 is not 二十一次
    assert question_anchors("几座煤矿实现了5G入井？").names == ("5g",)
    assert states_anchors(question_anchors("60岁以上老人有多少？"), "全市60周岁及以上老年人口近57万人")
    # years and letters-only abbreviations pin nothing down; a day matches its date
    assert not question_anchors("2025青川马拉松2024年GDP是多少？")
    day = question_anchors("3月5日开幕的会议由谁主持？")
    assert states_anchors(day, "5日上午，会议开幕。") and not states_anchors(day, "4日，会议开幕。")


def test_a_count_with_ge_matches_the_same_count_with_another_classifier() -> None:
    assert check_support("中心设有18张床位。", "中心有休息床位18个，配套建设了厨房。").supported
    assert not check_support("中心设有19张床位。", "中心有休息床位18个，配套建设了厨房。").supported
    # only 个 stands in: 18座 is not 18张, and 18个 is not 18人 or 18吨
    assert not check_support("村里有18座床位。", "村里有18张床位。").supported
    assert not check_support("仓库有18个。", "仓库有18吨。").supported


def test_a_date_is_supported_only_by_a_source_that_states_its_month_and_day() -> None:
    march = "按照计划，地铁2号线一期工程将于2025年底开通试运营。"
    june = "“按照目前的进度，我们有信心在12月28日开通试运营。”"
    # the year-end plan does not say which day: a day from another report is not its
    assert not check_support("2号线将于2025年12月28日开通试运营。", march).supported
    assert not check_support("2号线将于12月28日开通试运营。", march).supported
    assert check_support("将于2025年12月28日开通试运营。", june).supported  # the year from context
    assert check_support("2号线将于2025年底开通试运营。", march).supported
    # a day of the month the report's context gives states the full date; another day does not
    assert check_support("会议于3月5日开幕。", "5日上午，会议开幕。").supported
    assert not check_support("会议于3月6日开幕。", "5日上午，会议开幕。").supported


def test_a_number_the_question_states_needs_no_passage_but_a_name_does():
    passage = "阿恰克扎指出，“一带一路”倡议借助“五通”为沿线国家创造了机遇。"
    answer = "阿恰克扎提到了“一带一路”倡议的五个方面。[1]"
    assert not verify(answer, [passage]).any_supported  # 五个 is in no passage
    assert verify(answer, [passage], given="谁提到了“一带一路”倡议的五个方面？").any_supported
    # a name from the question must still be in the passage: here it is about someone else
    other = "纳西姆指出，“一带一路”倡议借助“五通”为沿线国家创造了机遇。"
    assert not verify(answer, [other], given="阿恰克扎提到了“一带一路”倡议的几个方面？").any_supported
