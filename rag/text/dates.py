"""Relative dates in questions (昨天, 上个月, 今年, 最近 …) resolved to a date range.

They resolve against an "as of" date: the one the user gives, or else the newest date in
the archive — an archive of 2023 news asked about 今年 means 2023, not the wall clock.
"""

from __future__ import annotations

import datetime as dt
import re

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"前天"), "day-2"),
    (re.compile(r"昨天|昨日"), "day-1"),
    (re.compile(r"今天|今日"), "day0"),
    (re.compile(r"上周|上星期|上个星期"), "week-1"),
    (re.compile(r"本周|这周|这个星期|本星期"), "week0"),
    (re.compile(r"上个?月"), "month-1"),
    (re.compile(r"本月|这个月"), "month0"),
    (re.compile(r"前年"), "year-2"),
    (re.compile(r"去年"), "year-1"),
    (re.compile(r"今年|本年"), "year0"),
    (re.compile(r"最近|近期|近来|近日"), "recent"),
]

RECENT_DAYS = 30


def _month_start(day: dt.date, back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def resolve_range(question: str, as_of: dt.date) -> tuple[str, str] | None:
    """The (since, until) ISO dates a relative expression in `question` means, or None."""
    for pattern, rule in _RULES:
        if not pattern.search(question):
            continue
        if rule.startswith("day"):
            day = as_of + dt.timedelta(days=int(rule[3:]))
            return day.isoformat(), day.isoformat()
        if rule.startswith("week"):
            monday = as_of - dt.timedelta(days=as_of.weekday()) + dt.timedelta(weeks=int(rule[4:]))
            return monday.isoformat(), (monday + dt.timedelta(days=6)).isoformat()
        if rule.startswith("month"):
            start = _month_start(as_of, -int(rule[5:]))
            end = _month_start(start, -1) - dt.timedelta(days=1)
            return start.isoformat(), end.isoformat()
        if rule.startswith("year"):
            year = as_of.year + int(rule[4:])
            return f"{year}-01-01", f"{year}-12-31"
        return (as_of - dt.timedelta(days=RECENT_DAYS)).isoformat(), as_of.isoformat()
    return None
