import pytest

from rag.text.normalize import normalize
from rag.text.quantities import Quantity, find_quantities, parse_number, same_quantity


def one(text: str) -> Quantity:
    found = find_quantities(text)
    assert len(found) == 1, found
    return found[0]


def test_normalize_folds_width_case_and_spaces():
    assert normalize("ＡＢＣ１２３！") == "abc123!"
    assert normalize("青川　市\n地铁  2号线") == "青川市地铁2号线"
    assert normalize("COTODAMA  and   AI") == "cotodama and ai"
    assert normalize("  ５Ｇ 网络 ") == "5g网络"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,200", 1200.0),
        ("1 200", 1200.0),
        ("12,345.6", 12345.6),
        ("０.５", 0.5),
        ("１２３", 123.0),
        ("85%", 85.0),
        ("百分之八十五", 85.0),
        ("百分之三点五", 3.5),
        ("千分之五", 0.5),
        ("三十余万", 300000.0),
        ("一千万元", 10_000_000.0),
        ("两百", 200.0),
        ("十二", 12.0),
        ("一百零五", 105.0),
        ("一万二", 12000.0),
        ("三千五", 3500.0),
        ("一亿二千万", 120_000_000.0),
        ("二十五万", 250_000.0),
        ("三点五", 3.5),
        ("零下9度", -9.0),
        ("负3", -3.0),
        ("3.04亿元", 304_000_000.0),
        ("4235万吨", 42_350_000.0),
        ("1.2万个", 12000.0),
        ("12万亿", 12e12),
        ("5公斤", 0.005),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "青川", "十四五", "万一", "1.2.3", "三四"])
def test_parse_number_rejects_non_numbers(text):
    assert parse_number(text) is None


def test_money_is_normalized_to_yuan():
    q = one("项目总投资3.04亿元")
    assert (q.kind, q.value, q.unit, q.text) == ("money", 304_000_000.0, "元", "3.04亿元")
    assert one("计划投资30400万元").value == 304_000_000.0
    assert one("合计304,000,000元").value == 304_000_000.0
    assert one("出口额达5亿美元").unit == "美元"


def test_units_and_magnitudes():
    q = one("全年货运量4235万吨")
    assert (q.value, q.unit) == (42_350_000.0, "吨")
    q = one("新增充电桩1.2万个")
    assert (q.value, q.unit, q.kind) == (12000.0, "个", "number")
    q = one("三十余万名群众参加")
    assert (q.value, q.unit, q.approx) == (300000.0, "人", True)
    assert one("共有30余万人参加").value == 300000.0
    assert one("线路全长12公里").value == one("线路全长12km").value == 12000.0
    assert one("最低气温零下9度").value == -9.0
    assert one("最低气温-9℃").value == -9.0
    # 周岁 is the same unit as 岁: a question's 60岁以上 is the report's 60周岁及以上
    assert (one("60周岁及以上老年人").value, one("60周岁及以上老年人").unit) == (60.0, "岁")
    assert same_quantity(one("60周岁"), one("60岁"))


def test_spans_point_into_the_original_text():
    text = "截至６月中旬，工程已完成８５％，投资３．０４亿元。"
    for q in find_quantities(text):
        assert text[q.start : q.end] == q.text
    assert [q.text for q in find_quantities(text)] == ["６月", "８５％", "３．０４亿元"]
    assert find_quantities(text)[1].value == 85.0


def test_percent_forms():
    a, b = one("完成了85%的工程量"), one("完成了百分之八十五的工程量")
    assert a.kind == b.kind == "percent"
    assert same_quantity(a, b)
    assert not same_quantity(one("完成了85%"), one("完成了85项"))


def test_ranges_keep_two_numbers_with_the_shared_unit():
    low, high = find_quantities("气温将下降10到12摄氏度")
    assert (low.value, low.unit) == (10.0, "度")
    assert (high.value, high.unit) == (12.0, "度")
    low, high = find_quantities("预计投资5至8万元")
    assert (low.value, low.kind, high.value) == (50000.0, "money", 80000.0)
    low, high = find_quantities("增长10%-15%")
    assert (low.value, high.value, low.kind) == (10.0, 15.0, "percent")
    low, high = find_quantities("三到五年内建成")
    assert (low.value, low.unit, high.value) == (3.0, "年", 5.0)


def test_dates():
    assert one("2024年12月27日").date == (2024, 12, 27)
    assert one("12月27日").date == (None, 12, 27)
    assert one("2025-03-12").date == (2025, 3, 12)
    assert one("2025年").date == (2025, None, None)
    assert one("10月开通").date == (None, 10, None)
    assert one("二〇二四年十二月").date == (2024, 12, None)
    assert one("27日电").date == (None, None, 27)
    assert one("12月27号").date == (None, 12, 27)
    first, second = find_quantities("12月27日至29日")
    assert second.date == (None, 12, 29)
    first, second = find_quantities("1至3月")
    assert (first.date, second.date) == ((None, 1, None), (None, 3, None))
    assert one("3个月").kind == "number"


def test_ordinals():
    q = one("第10期")
    assert (q.kind, q.value, q.unit) == ("ordinal", 10.0, "期")
    assert same_quantity(q, one("第十期"))
    a, b = find_quantities("市十四届人大四届三十四次会议"[6:])
    assert (a.kind, a.value, b.kind, b.value) == ("ordinal", 4.0, "ordinal", 34.0)


@pytest.mark.parametrize(
    "text",
    [
        "一些人一直十分关注",
        "千万不要大意",
        "万一出现问题",
        "这是一个重要项目",
        "5G网络和G20峰会",
        "COVID-19疫情",
        "搜索引擎百度",
        "“十四五”规划",
        "三亚和九寨沟",
    ],
)
def test_words_with_numerals_are_not_quantities(text):
    assert find_quantities(text) == []


def test_full_width_comma_is_not_a_thousands_separator():
    assert [q.value for q in find_quantities("分别为1，200")] == [1.0, 200.0]
    assert [q.value for q in find_quantities("共1,200人")] == [1200.0]


def test_same_quantity_money_across_forms():
    forms = ["3.04亿元", "30400万元", "304000000元", "三亿零四百万元", "3.04亿"]
    qs = [one(f) for f in forms]
    assert all(same_quantity(qs[0], q) for q in qs[1:])
    assert not same_quantity(one("3.04亿元"), one("3.04亿吨"))
    assert not same_quantity(one("3.04亿元"), one("3.4亿元"))


def test_same_quantity_chinese_and_arabic():
    assert same_quantity(one("三十余万名"), one("30余万名"))
    assert same_quantity(one("两百人"), one("200人"))
    assert same_quantity(one("１２３个"), one("123个"))
    assert same_quantity(one("4.2万人"), one("42000名"))


def test_same_quantity_dates():
    assert same_quantity(one("12月27日"), one("2024年12月27日"))
    assert not same_quantity(one("12月28日"), one("2024年12月27日"))
    assert not same_quantity(one("2023年12月27日"), one("2024年12月27日"))
    assert same_quantity(one("2025-03-12"), one("2025年3月12日"))
    assert same_quantity(one("2025年"), one("2025"))
    assert not same_quantity(one("3月"), one("3日"))
    assert not same_quantity(one("12月"), one("12个"))


@pytest.mark.parametrize("text", ["汽车零部件", "基层队伍", "大陆台胞", "千斤顶"])
def test_single_formal_or_zero_numerals_are_words(text):
    assert find_quantities(text) == []
