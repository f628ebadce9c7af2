"""Evaluation metrics on small cases computed by hand."""

import math

import pytest

from eval import metrics as m
from eval import textmetrics as tm

# ---------------------------------------------------------------- retrieval

RANKED = [["a", "b", "c"], ["x", "g", "y"]]
GOLD = [{"c"}, {"g", "y"}]


def test_recall_at_k():
    assert m.recall_at_k(RANKED, GOLD, 1) == (0.0, [0.0, 0.0])
    assert m.recall_at_k(RANKED, GOLD, 2) == (0.5, [0.0, 1.0])
    assert m.recall_at_k(RANKED, GOLD, 5) == (1.0, [1.0, 1.0])
    assert m.recall_at_k([["a"]], [set()], 5) == (0.0, [0.0])  # nothing to find


def test_mrr_at_k():
    mean, per = m.mrr_at_k(RANKED, GOLD, 10)
    assert per == [1 / 3, 1 / 2]
    assert mean == pytest.approx(5 / 12)
    assert m.mrr_at_k(RANKED, GOLD, 2)[1] == [0.0, 0.5]


def test_ndcg_at_k():
    mean, per = m.ndcg_at_k(RANKED, GOLD, 10)
    # Item 1: one gold at rank 3 -> (1/log2 4) / 1 = 0.5.
    # Item 2: gold at ranks 2 and 3 -> (1/log2 3 + 1/log2 4) / (1 + 1/log2 3).
    second = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert per == pytest.approx([0.5, second])
    assert second == pytest.approx(0.69343, abs=1e-5)
    assert mean == pytest.approx((0.5 + second) / 2)
    # A gold id ranked twice counts once.
    assert m.ndcg_at_k([["g", "g"]], [{"g"}], 10)[1] == [1.0]


def test_percentile_and_latency():
    assert m.percentile([], 50) == 0.0
    assert m.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert m.latency([1.0, 2.0, 3.0, 4.0, 5.0]) == {"p50": 3.0, "p95": pytest.approx(4.8)}


def test_mean_defined_skips_items_the_metric_does_not_apply_to():
    assert m.mean_defined([1.0, None, 0.0]) == 0.5
    assert m.mean_defined([None]) == 0.0


# ---------------------------------------------------------------- citations and refusals


def test_citation_precision_uses_the_support_check():
    passage = "柳林县共有27座煤矿，原煤产能4235万吨。"
    pairs = [("柳林县共有27座煤矿。", passage), ("柳林县共有35座煤矿。", passage)]
    assert m.citation_precision_one(pairs) == 0.5
    assert m.citation_precision_one([]) is None
    mean, per = m.citation_precision([pairs, [], [pairs[0]]])
    assert per == [0.5, None, 1.0]
    assert mean == 0.75


def test_citation_recall_counts_answers_citing_a_gold_passage():
    mean, per = m.citation_recall([{"a", "x"}, None, {"b"}, {"c"}], [{"a"}, {"a"}, {"c"}, set()])
    assert per == [1.0, None, 0.0, None]
    assert mean == 0.5


def test_refusal_rates():
    rates = m.refusal_rates([True, False, True, False, False], [False, False, True, True, True])
    assert rates == {
        "n_unanswerable": 2, "refusal_rate": 0.5, "n_answerable": 3, "false_refusal_rate": 1 / 3,
    }
    assert m.refusal_rates([], []) == {
        "n_unanswerable": 0, "refusal_rate": 0.0, "n_answerable": 0, "false_refusal_rate": 0.0,
    }


# ---------------------------------------------------------------- answer accuracy


@pytest.mark.parametrize(("prediction", "gold"), [
    ("全长１２公里[1]。", "12公里"),            # full-width digits
    ("ＡＢＣ公司发布新品", "abc"),               # full-width letters, case
    ("青川 市地铁", "青川市"),                   # a stray space from a broken line
    ("项目总投资30400万元。", "3.04亿元"),        # 万 / 亿
    ("共有４２０００人报名", "4.2万人"),
    ("全线共有十八座车站", "18座"),              # Chinese numerals
    ("共3座煤矿", "三"),
    ("二〇二四年建成", "2024年"),
    ("2号线", "二号线"),
    ("于1082年陷落", "1082"),
    ("计划于2025年12月28日开通", "12月28日"),
])
def test_contains_answer_normalizes_width_case_spaces_and_numbers(prediction, gold):
    assert tm.contains_answer(prediction, gold)


@pytest.mark.parametrize(("prediction", "gold"), [
    ("完成了85个", "85%"),          # a percent is not a count
    ("总投资304亿", "3.04亿"),       # the decimal point matters
    ("共有18座车站", "18个"),        # another unit
    ("12月27日", "12月28日"),
    ("资料中没有相关信息。", "地铁"),
    ("", "12"),
])
def test_contains_answer_rejects_other_values(prediction, gold):
    assert not tm.contains_answer(prediction, gold)


def test_accuracy_any_and_all():
    assert tm.is_correct("总投资18亿元，可容纳机柜6000个", ["18亿元", "6000个"], "all")
    assert not tm.is_correct("总投资18亿元", ["18亿元", "6000个"], "all")
    assert tm.is_correct("总投资18亿元", ["18亿元", "6000个"], "any")
    assert not tm.is_correct("总投资18亿元", [], "any")
    mean, per = tm.answer_accuracy(
        ["全长１２公里", "共有十八座车站", "资料中没有相关信息"], [["12公里"], ["18座"], ["3座"]]
    )
    assert per == [1.0, 1.0, 0.0]
    assert mean == pytest.approx(2 / 3)


# ---------------------------------------------------------------- overlap scores


def test_char_f1():
    # 北京 shared: precision 2/4, recall 2/2 -> F1 = 2/3.
    assert tm.char_f1_one("北京大学", "北京") == pytest.approx(2 / 3)
    assert tm.char_f1_one("ＡＢ。", "ab") == 1.0  # width, case and punctuation ignored
    assert tm.char_f1_one("上海", "北京") == 0.0
    mean, per = tm.char_f1(["北京大学", "北京大学"], [["上海", "北京"], ["北京", "大学城"]], ["any", "all"])
    # "all": mean of F1 against 北京 (2/3) and 大学城 (2 shared: P 2/4, R 2/3 -> 4/7).
    assert per == pytest.approx([2 / 3, (2 / 3 + 4 / 7) / 2])
    assert mean == pytest.approx(sum(per) / 2)


def test_rouge_l_is_the_lcs_f1_over_characters():
    assert tm.lcs_length(list("我爱北京天安门"), list("我在北京")) == 3
    # LCS 我北京 = 3: precision 3/7, recall 3/4 -> F1 = 18/33.
    assert tm.rouge_l_one("我爱北京天安门", "我在北京") == pytest.approx(18 / 33)
    assert tm.rouge_l_one("北京，天安门！[1]", "北京天安门") == 1.0
    assert tm.rouge_l_one("", "北京") == 0.0
    mean, per = tm.rouge_l(["我爱北京天安门", "北京"], ["我在北京", ["上海", "北京"]])
    assert per == pytest.approx([18 / 33, 1.0])
    assert mean == pytest.approx((18 / 33 + 1) / 2)


# ---------------------------------------------------------------- key facts


def test_key_facts_are_numbers_dates_and_names():
    facts = tm.key_facts("2024年3月5日，青川市投资3.04亿元建设18座车站，比去年多了3座。")
    texts = [f.text for f in facts]
    assert texts[:3] == ["2024年3月5日", "3.04亿元", "18座"]
    assert "青川" in texts  # jieba tags the place name without 市
    assert "3座" in texts  # a count with its unit is a fact; a bare small number is not


def test_key_fact_recall_finds_facts_written_another_way():
    facts = tm.key_facts("2024年3月5日，青川市投资3.04亿元建设18座车站。")
    output = "3月5日，青川投资30400万元建设车站。"
    found = [tm.fact_found(f, output) for f in facts]
    assert dict(zip([f.text for f in facts], found, strict=True)) == {
        "2024年3月5日": True, "3.04亿元": True, "18座": False, "青川": True,
    }
    assert tm.key_fact_recall_one(output, facts) == 0.75
    assert tm.key_fact_recall_one(output, []) is None
    mean, per = tm.key_fact_recall([output, "无关"], [["３．０４亿元", "青川"], []])
    assert per == [1.0, None]
    assert mean == 1.0


def test_figures_in_cited_passages_are_checked_as_plain_strings():
    from eval.textmetrics import figures_in_cited_one

    passage = "截至目前，柳川县建成9座智能化煤矿，每班平均减人1,660人。"
    assert figures_in_cited_one([("柳川县建成9座智能化煤矿。[1]", [passage])]) == 1.0
    assert figures_in_cited_one([("每班减人1660人。", [passage])]) == 1.0  # separators dropped
    assert figures_in_cited_one([("柳川县建成12座智能化煤矿。", [passage])]) == 0.0
    assert figures_in_cited_one([("建成９座。", [passage]), ("减人1660人，建成30座。", [passage])]) == 0.5
    assert figures_in_cited_one([("智能化改造改善了工作环境。", [passage])]) is None  # no figure to check


def test_risk_coverage_answers_the_most_confident_first():
    points = m.risk_coverage([0.9, 0.2, 0.7, 0.4], [True, False, True, False])
    assert [(c, round(r, 3)) for c, r, _ in points] == [(0.25, 0.0), (0.5, 0.0), (0.75, 0.333), (1.0, 0.5)]
    assert m.aurc([0.9, 0.2, 0.7, 0.4], [True, False, True, False]) == pytest.approx((0 + 0 + 1 / 3 + 0.5) / 4)
    # The same answers ranked the other way round are worse.
    assert m.aurc([0.1, 0.9, 0.2, 0.8], [True, False, True, False]) > 0.5


def test_at_precision_finds_the_widest_threshold_that_keeps_the_precision():
    confidence = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    correct = [True, True, True, True, False, True, True, True, True, False]
    wide = m.at_precision(confidence, correct, 0.85)
    assert wide["threshold"] == 0.2 and wide["coverage"] == 0.9
    assert wide["precision"] == pytest.approx(8 / 9) and wide["accuracy"] == pytest.approx(0.8)
    narrow = m.at_precision(confidence, correct, 0.95)
    assert narrow["threshold"] == 0.7 and narrow["coverage"] == 0.4 and narrow["accuracy"] == 0.4
    assert m.at_precision([0.5, 0.5], [True, False], 0.9)["coverage"] == 0.0  # a tie is answered whole


@pytest.mark.parametrize("prediction, gold", [
    ("1.1", "低于1.1"), ("里特", "斯科特·里特"), ("共有2人[1]。", "至少2人"),
    ("北京、上海、广州", "北京市、上海市、广州市"), ("总产量67.3万吨[2]。", "约67.3万吨"),
])
def test_lenient_labels_forgive_wording_around_the_fact(prediction, gold):
    assert not tm.contains_answer(prediction, gold)
    assert tm.lenient_contains(prediction, gold)


@pytest.mark.parametrize("prediction, gold", [
    ("3.2", "低于1.1"), ("斯科特", "斯科特·里特"), ("5人", "至少2人"), ("北京", "北京市、上海市、广州市"),
    ("资料中没有相关信息。", "无"), ("第五代移动通信", "5G"),
])
def test_lenient_labels_still_tell_another_fact(prediction, gold):
    assert not tm.lenient_contains(prediction, gold)


def test_lenient_accuracy():
    mean, per = tm.lenient_accuracy(["1.1", "3.2"], [["低于1.1"], ["低于1.1"]])
    assert per == [1.0, 0.0] and mean == 0.5


def test_auroc_and_the_selective_table():
    assert m.auroc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
    assert m.auroc([0.1, 0.9], [True, False]) == 0.0
    assert m.auroc([0.5, 0.5], [True, False]) == 0.5 and m.auroc([0.5], [True]) is None
    table = m.selective([0.9, None, 0.8, 0.2], [True, False, True, False])
    assert table["aurc"] == pytest.approx((0 + 0 + 1 / 3 + 0.5) / 4) and table["auroc"] == 1.0
    assert table["coverage_at_90"] == 0.5 and table["accuracy_at_90"] == 0.5 and table["threshold_at_90"] == 0.8
