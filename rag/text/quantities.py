"""Quantity recognition for Chinese news.

`find_quantities` recognises the numbers, amounts, percents, dates and ordinals a news
sentence states, in Arabic or Chinese numerals, with their units normalized, so that
`same_quantity` can tell `3.04亿元` and `30400万元` are one fact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from rag.text.normalize import fold

__all__ = ["CN_NUMERALS", "Quantity", "find_quantities", "parse_number", "same_quantity"]

DateTuple = tuple[int | None, int | None, int | None]


# ---------------------------------------------------------------- Chinese numerals

_CN_DIGIT = (
    {c: i for i, c in enumerate("零一二三四五六七八九")}
    | {c: i + 1 for i, c in enumerate("壹贰叁肆伍陆柒捌玖")}
    | {"〇": 0, "两": 2}
)
_CN_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_MAGNITUDE = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}


def _cn_int(s: str) -> int | None:
    """Value of a positional Chinese numeral (`三十`, `一千零五`, `一万二`), or None."""
    if not s:
        return None
    if all(ch in _CN_DIGIT for ch in s):
        # `三四` means "three or four", not 34; digit-by-digit years are parsed elsewhere.
        return _CN_DIGIT[s] if len(s) == 1 else None
    if s[0] in _CN_BIG:
        return None  # `万一`, `亿万`: words, not numbers
    total = wan = section = 0
    digit: int | None = None
    last_unit = 0
    tail_unit = 0  # the unit right before a trailing digit: 一万二 = 12000, 三千五 = 3500
    prev_unit = False
    for ch in s:
        if ch in _CN_DIGIT:
            d = _CN_DIGIT[ch]
            if digit not in (None, 0):
                return None  # two digits in a row: `十四五`
            digit = d
            tail_unit = last_unit if prev_unit and d else 0
            prev_unit = False
        elif ch in _CN_SMALL:
            if digit == 0:
                return None
            section += (1 if digit is None else digit) * _CN_SMALL[ch]
            digit, last_unit, prev_unit = None, _CN_SMALL[ch], True
        else:
            section += digit or 0
            if ch == "万":
                wan = (wan + section) * 10_000
            else:
                total = (total + wan + section) * 100_000_000
                wan = 0
            section, digit, last_unit, prev_unit = 0, None, _CN_BIG[ch], True
    value = total + wan + section
    if digit:
        value += digit * tail_unit // 10 if tail_unit >= 100 else digit
    return value


def _cn_number(s: str) -> Decimal | None:
    """Value of a Chinese numeral with an optional `点` fraction (`三点五` = 3.5)."""
    whole, _, frac = s.partition("点")
    if not whole:
        return None
    n = _CN_DIGIT[whole] if len(whole) == 1 and whole in _CN_DIGIT else _cn_int(whole)
    if n is None:
        return None
    if not frac:
        return Decimal(n)
    return Decimal(f"{n}." + "".join(str(_CN_DIGIT[c]) for c in frac))


def _cn_digits(s: str) -> int | None:
    """Digit-by-digit numerals, as in years: 二〇二四 = 2024."""
    if s.isdigit() and s.isascii():
        return int(s)
    if all(ch in _CN_DIGIT for ch in s):
        return int("".join(str(_CN_DIGIT[ch]) for ch in s))
    return _cn_int(s)


def _number(s: str) -> Decimal | None:
    if s[0].isdigit():
        return Decimal(re.sub(r"[, ]", "", s))
    return _cn_number(s)


# ---------------------------------------------------------------- units

_CURRENCIES = {
    "元",
    "美元",
    "欧元",
    "日元",
    "英镑",
    "港元",
    "韩元",
    "卢布",
    "澳元",
    "加元",
    "新台币",
}
# One line a unit: normalized name, factor to it, surface forms. Scaled forms share a
# name so that 12公里 == 12000米 and 5公斤 == 0.005吨.
_UNIT_TABLE = """
元 1 元 元人民币 人民币 块钱
美元 1 美元
欧元 1 欧元
日元 1 日元
英镑 1 英镑
港元 1 港元 港币
韩元 1 韩元
卢布 1 卢布
澳元 1 澳元
加元 1 加元
新台币 1 新台币
% 1 %
% 0.1 ‰
百分点 1 个百分点 百分点
吨 1 吨 t
吨 0.001 公斤 千克 kg
吨 0.0005 斤
吨 0.000001 克
米 1000 公里 千米 km
米 1 米 m
米 0.01 厘米 cm
米 0.001 毫米 mm
平方米 1 平方米 ㎡
平方米 1000000 平方公里 平方千米
平方米 10000 公顷
瓦 1 瓦 w
瓦 1000 千瓦 kw
瓦 1000000 兆瓦 mw
瓦 1000000000 吉瓦 gw
千瓦时 1 千瓦时 kwh
升 1 升
升 0.001 毫升
度 1 度 摄氏度 ℃ °c
月 1 个月
小时 1 小时 个小时
人 1 人 名 位
岁 1 岁 周岁
"""
_COUNTERS = (
    "亩 立方米 人次 户 个 座 家 台 辆 架 艘 件 套 项 条 所 栋 幢 只 头 棵 株 场 次 届 期 批 轮 篇 部 "
    "本 张 份 例 起 处 支 颗 枚 块 层 号 倍 种 类 款 趟 列 班 站 间 根 床 片 幅 首 章 节 集 级 票 "
    "段 组 门 道 代 环 股 箱 袋 包 双 对 副 把 辆次 架次 艘次 标准箱 年 周年 天 周 分钟 秒 季度 世纪 海里 "
    "元/吨 元/平方米"
)
# surface form → (normalized unit, factor to that unit)
_UNITS: dict[str, tuple[str, str]] = {c: (c, "1") for c in _COUNTERS.split()}
for _line in _UNIT_TABLE.strip().splitlines():
    _base, _factor, *_forms = _line.split()
    _UNITS.update((form, (_base, _factor)) for form in _forms)

_UNIT_RE = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))

# ---------------------------------------------------------------- the scanner

# Every character a Chinese numeral is written with.
CN_NUMERALS = "零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖十拾百佰千仟万亿"
_CN = rf"[{CN_NUMERALS}]+(?:点[零〇一二三四五六七八九]+)?"
_AR = r"[0-9]{1,3}(?:[, ][0-9]{3})+(?![0-9])(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?"
# A magnitude unless it starts a unit (5千米 is 5 km, not 5000 米 by a different road).
_MAG = r"(?:[十百千万亿](?![米克瓦卡焦伏帕]))+"
_Y = r"[0-9]{4}|[零〇一二三四五六七八九]{4}"
_M = r"1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九]"
_D = r"3[01]|[12][0-9]|0?[1-9]|三十一?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?|[一二三四五六七八九]"
_NOT_AFTER_NUM = r"(?<![0-9零〇一二两三四五六七八九十])"

_SCAN = re.compile(
    rf"(?<![0-9])(?P<iy>[0-9]{{4}})[-/.](?P<im>1[0-2]|0?[1-9])[-/.](?P<id>3[01]|[12][0-9]|0?[1-9])(?![0-9])"
    rf"|{_NOT_AFTER_NUM}(?P<y>{_Y})年(?:(?P<m>{_M})月份?(?:(?P<d>{_D})[日号])?)?"
    rf"|{_NOT_AFTER_NUM}(?P<m2>{_M})月份?(?:(?P<d2>{_D})[日号])?"
    rf"|{_NOT_AFTER_NUM}(?P<d3>3[01]|[12][0-9]|0?[1-9]|三十一?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?)日(?!元)"
    rf"|(?P<pneg>负|零下)?(?P<pk>百分之|千分之)(?P<pnum>{_AR}|{_CN})"
    rf"|(?P<neg>零下|负|-(?=[0-9]))?(?P<num>{_AR}|{_CN})(?P<ap1>[余多几])?(?P<mag>{_MAG})?"
    rf"(?P<ap2>[余多])?(?P<unit>{_UNIT_RE})?"
)
# Words that begin with a numeral and a unit-like character but are not quantities.
_NOT_QUANTITY = ("百度", "千年", "百年", "千斤", "万人空巷", "一度", "十足", "百分百")
_RANGE_JOIN = re.compile(r"\s*(?:到|至|~|-|—|–)\s*")
_RANGE_AHEAD = re.compile(rf"{_RANGE_JOIN.pattern}[0-9{CN_NUMERALS}]")


@dataclass(frozen=True)
class Quantity:
    """A quantity stated in text.

    `value` is in the normalized `unit` (money in 元 or the named currency, mass in 吨,
    length in 米, percents as 85.0 for 85%); it is None for dates, whose `date` is
    (year, month, day) with None for a part the text does not give. `kind` is one of
    "number", "percent", "money", "date", "ordinal". `start`/`end` index the original text.
    """

    text: str
    start: int
    end: int
    kind: str
    value: float | None
    unit: str | None = None
    date: DateTuple | None = None
    approx: bool = False  # 余/多/几: "more than"

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


@dataclass
class _Raw:
    start: int
    end: int
    kind: str
    value: Decimal | None = None
    unit: str | None = None
    factor: Decimal = Decimal(1)
    mag: Decimal | None = None
    date: list[int | None] | None = None
    approx: bool = False


def find_quantities(text: str) -> list[Quantity]:
    """Every number, amount, percent, date and ordinal in `text`, in order.

    Ranges (`10到12摄氏度`, `5至8万元`, `1至3月`) give two quantities; the first borrows the
    second's unit and magnitude. Chinese numerals that are more likely words than counts
    (`一些`, `十分`, `万一`, a bare `一个`) are not reported.
    """
    folded = fold(text)
    raws: list[_Raw] = []
    for m in _SCAN.finditer(folded):
        raw = _read_match(m, folded)
        if raw is None:
            continue
        if raws and m.group("neg") == "-" and raws[-1].end == m.start():
            # `10-12`: a range dash, not a minus sign.
            raw.start += 1
            raw.value = -raw.value if raw.value is not None else None
        raws.append(raw)
    _join_ranges(raws, folded)
    _mark_sessions(raws)
    return [_finish(r, text) for r in raws]


def _read_match(m: re.Match[str], folded: str) -> _Raw | None:
    start, end = m.span()
    if m.group("iy"):
        return _Raw(start, end, "date", date=[int(m["iy"]), int(m["im"]), int(m["id"])])
    if m.group("y"):
        return _Raw(
            start, end, "date", date=[_cn_digits(m["y"]), _month_day(m["m"]), _month_day(m["d"])]
        )
    if m.group("m2"):
        return _Raw(start, end, "date", date=[None, _month_day(m["m2"]), _month_day(m["d2"])])
    if m.group("d3"):
        return _Raw(start, end, "date", date=[None, None, _month_day(m["d3"])])
    if m.group("pk"):
        value = _number(m["pnum"])
        if value is None:
            return None
        if m["pk"] == "千分之":
            value /= 10
        if m["pneg"]:
            value = -value
        return _Raw(start, end, "percent", value=value, unit="%")
    return _read_number(m, folded)


def _month_day(s: str | None) -> int | None:
    return None if s is None else _cn_digits(s)


def _read_number(m: re.Match[str], folded: str) -> _Raw | None:
    start, end = m.span()
    num, unit, mag = m["num"], m["unit"], m["mag"]
    before = folded[max(0, start - 2) : start]
    if re.search(r"[a-z]-?$", before) or re.match(r"[a-z]", folded[end : end + 1]):
        return None  # part of a code or name: 5G, G20, COVID-19, Mate60
    if unit and unit.isascii() and re.match(r"[a-z0-9]", folded[end : end + 1]):
        return None
    ordinal = before.endswith("第")
    if not num[0].isdigit() and not _plausible_cn(num, mag, unit, ordinal, folded, start, end):
        return None
    value = _number(num)
    if value is None:
        return None
    if m["neg"]:
        value = -value
    magnitude = None
    if mag:
        magnitude = Decimal(1)
        for ch in mag:
            magnitude *= _MAGNITUDE[ch]
    base, factor = _UNITS[unit] if unit else (None, "1")
    if base == "%":
        kind = "percent"
    elif base in _CURRENCIES:
        kind = "money"
    else:
        kind = "ordinal" if ordinal else "number"
    return _Raw(
        start,
        end,
        kind,
        value=value,
        unit=base,
        factor=Decimal(factor),
        mag=magnitude,
        approx=bool(m["ap1"] or m["ap2"]),
    )


def _plausible_cn(
    num: str, mag: str | None, unit: str | None, ordinal: bool, folded: str, start: int, end: int
) -> bool:
    """Whether a Chinese-numeral match is a quantity rather than part of a word."""
    if folded.startswith(_NOT_QUANTITY, start):
        return False
    if len(num) == 1 and num in "零〇壹贰叁肆伍陆柒捌玖拾佰仟":
        return False  # 零部件, 队伍, 大陆台胞, 收拾: alone these are words, not numbers
    if ordinal or _RANGE_AHEAD.match(folded, end):
        return True
    if unit is None and (len(num) < 2 and not mag or num[0] in "百佰千仟"):
        return False  # `十分`, `千万不要`: a lone numeral character is rarely a count
    # `一个`, `一项`: the indefinite article, not a count worth checking.
    return not (num in ("一", "壹") and not mag)


def _join_ranges(raws: list[_Raw], folded: str) -> None:
    for left, right in zip(raws, raws[1:], strict=False):
        if not _RANGE_JOIN.fullmatch(folded[left.end : right.start]):
            continue
        if right.kind == "date" and right.date is not None:
            if left.kind == "date" and left.date is not None:
                # `12月27日至29日`: the right end inherits the parts it leaves out.
                first = next(i for i, v in enumerate(right.date) if v is not None)
                for i in range(first):
                    right.date[i] = left.date[i]
            elif _bare(left) and left.value is not None and left.value == int(left.value):
                last = max(i for i, v in enumerate(right.date) if v is not None)
                left.kind, left.date = "date", [None, None, None]
                left.date[last] = int(left.value)
            continue
        if not _bare(left) or right.kind == "date":
            continue
        if left.mag is None and right.mag is not None:
            left.mag = right.mag
        if left.unit is None and right.unit is not None:
            left.unit, left.factor = right.unit, right.factor
            if left.kind == "number":
                left.kind = right.kind


def _bare(raw: _Raw) -> bool:
    return raw.kind in ("number", "ordinal") and raw.unit is None and raw.mag is None


def _mark_sessions(raws: list[_Raw]) -> None:
    # `四届三十四次` (4th congress, 34th session) counts sessions, it does not measure.
    for left, right in zip(raws, raws[1:], strict=False):
        if left.unit == "届" and right.unit == "次" and left.end == right.start:
            left.kind = right.kind = "ordinal"


def _finish(raw: _Raw, text: str) -> Quantity:
    surface = text[raw.start : raw.end]
    if raw.kind == "date":
        y, mo, d = raw.date or [None, None, None]
        return Quantity(surface, raw.start, raw.end, "date", None, None, (y, mo, d))
    assert raw.value is not None
    value = raw.value * (raw.mag or 1) * raw.factor
    return Quantity(surface, raw.start, raw.end, raw.kind, float(value), raw.unit, None, raw.approx)


# ---------------------------------------------------------------- public helpers

_NUMBER_ONLY = re.compile(
    rf"(?P<neg>零下|负|-)?(?:(?P<pk>百分之|千分之)(?P<pnum>{_AR}|{_CN})|(?P<num>{_AR}|{_CN})"
    rf"(?:[余多几])?(?P<mag>{_MAG})?(?:[余多])?(?P<unit>{_UNIT_RE})?)"
)


def parse_number(s: str) -> float | None:
    """The value of a string that is one number, or None.

    Accepts Arabic numerals with separators and decimals (`1,200`, `1 200`, `3.04`),
    Chinese numerals (`三十余万`, `两百`, `一万二`, `三点五`), magnitudes (`3.04亿` →
    304000000), a sign (`零下9`, `负3`, `-3`), percents (`85%`, `百分之八十五` → 85.0) and a
    trailing unit, whose scale is applied (`4235万吨` → 42350000, `5公斤` → 0.005 吨).
    """
    m = _NUMBER_ONLY.fullmatch(fold(s.strip()))
    if m is None:
        return None
    if m["pk"]:
        value = _number(m["pnum"])
        if value is not None and m["pk"] == "千分之":
            value /= 10
    else:
        value = _number(m["num"])
        if value is not None:
            for ch in m["mag"] or "":
                value *= _MAGNITUDE[ch]
            if m["unit"]:
                value *= Decimal(_UNITS[m["unit"]][1])
    if value is None:
        return None
    return float(-value if m["neg"] else value)


def same_quantity(a: Quantity, b: Quantity) -> bool:
    """Whether two quantities state the same fact.

    Values are compared in normalized units (3.04亿元 == 30400万元 == 304000000元); a unit
    given on one side only is not a conflict (18亿 == 18亿元), different units are. A
    percent equals only a percent. Dates agree when every part both give is equal and
    they share at least one part (12月27日 == 2024年12月27日); a year alone also equals the
    bare number (2025年 == 2025).
    """
    if a.kind == "date" or b.kind == "date":
        if a.kind == b.kind:
            assert a.date is not None and b.date is not None
            shared = [
                (x, y)
                for x, y in zip(a.date, b.date, strict=True)
                if x is not None and y is not None
            ]
            return bool(shared) and all(x == y for x, y in shared)
        date, other = (a, b) if a.kind == "date" else (b, a)
        assert date.date is not None
        year, month, day = date.date
        return (
            year is not None
            and month is None
            and day is None
            and other.kind == "number"
            and other.unit is None
            and other.value == year
        )
    if (a.kind == "percent") != (b.kind == "percent"):
        return False
    if a.unit and b.unit and a.unit != b.unit:
        return False
    assert a.value is not None and b.value is not None
    return math.isclose(a.value, b.value, rel_tol=1e-9, abs_tol=1e-12)
