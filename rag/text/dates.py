"""Relative dates in questions (昨天, 上个月, 今年, 最近 …) resolved to a date range.

They resolve against an "as of" date: the one the user gives, or else the newest date in
the archive — an archive of 2023 news asked about 今年 means 2023, not the wall clock.
A date the user types (`--since 2024-03`) is read by `parse_date`.
"""

from __future__ import annotations

import datetime as dt
import re

from rag.errors import InputError

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


_USER_DATE = re.compile(r"^(\d{4})(?:[-/.](\d{1,2}))?(?:[-/.](\d{1,2}))?$")


def parse_date(value: str | None, *, end: bool = False) -> str | None:
    """Normalize a user date (`2024`, `2024-03`, `2024-03-05`) to `YYYY-MM-DD`.

    A year or month means its first day, or with `end=True` its last day, so that
    `--until 2024-03` includes all of March.
    """
    if value is None or not value.strip():
        return None
    m = _USER_DATE.match(value.strip())
    if not m:
        raise InputError(f"date {value!r} is not of the form YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(m[1]), m[2], m[3]
    try:
        if month is None:
            d = dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        elif day is None:
            first = dt.date(year, int(month), 1)
            nxt = dt.date(year + (first.month == 12), first.month % 12 + 1, 1)
            d = nxt - dt.timedelta(days=1) if end else first
        else:
            d = dt.date(year, int(month), int(day))
    except ValueError:
        raise InputError(f"date {value!r} does not exist") from None
    return d.isoformat()
