"""Reading a question: the kind of fact asked for, and whether an answer has it."""

from rag.answer import question as q


def test_an_answer_fits_when_it_has_the_measure_date_or_title_asked_for():
    assert q.fits("柳林县有几座煤矿？", "柳林县共有27座煤矿。")
    assert q.fits("村里有多少名老人？", "70岁以上老年人有70余人。")
    assert not q.fits("井下一共有多少名职工？", "井下共有104套有线、无线摄像头。")
    assert not q.fits("老年大学有多少名学员？", "迎新年文艺演出正式拉开帷幕。")
    assert q.fits("照料中心是哪一年成立的？", "中心于2017年正式成立。")
    assert not q.fits("会议定在哪一天开幕？", "会议将科学谋划明年工作。")
    assert q.fits("这份合同有什么意义？", "有助于保障货车司机的合法权益。")
    assert q.fits("入选案例的标题是什么？", "案例《一份集体合同造福三十余万个家庭》入选。")
    assert not q.fits("入选案例的标题是什么？", "吕梁市货运行业集体合同签订。")
    assert not q.fits("地铁2号线起步票价是多少钱？", "地铁2号线全长26.8公里。")
    assert q.fits("地铁2号线起步票价是多少钱？", "起步票价为2元。")


def test_handing_the_question_back_is_no_answer():
    assert q.restates("关于自由贸易区的最初不是什么理论？", "最初不是理论。")
    assert not q.restates("自由贸易区最初是一种理论吗？", "是，最初是一种理论。")
    assert not q.restates("柳林县有几座煤矿？", "27座。")


def test_the_kind_of_fact_asked_for():
    assert q.kind("柳林县有几座煤矿？") == "figure"
    assert q.kind("会议哪一天开幕？") == "date"
    assert q.kind("入选案例的标题是什么？") == "title"
    assert q.kind("合同是否已经签订？") == "yes_no"
    assert q.kind("谁主持了会议？") == "other"


def test_follow_ups_are_short_or_point_back():
    assert q.looks_like_follow_up("那它的储量呢？")
    assert q.looks_like_follow_up("为什么？")
    assert not q.looks_like_follow_up("柳林县有多少座煤矿？")
