"""Dates and reporters: finding them in record fields, date lines, bylines and file names."""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

_Y = r"(?P<y>(?:19|20)\d{2})"
_TIME = r"(?:\s*[T ]?\s*(?P<hh>\d{1,2})[:：](?P<mm>\d{2})(?:[:：]\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
# 2023-07-28, 2023/7/28, 2023.7.28, 2023年7月28日, each optionally with a time of day.
DATE = (
    rf"{_Y}\s*(?:[-/.]\s*(?P<m>\d{{1,2}})\s*[-/.]\s*(?P<d>\d{{1,2}})"
    rf"|年\s*(?P<m2>\d{{1,2}})\s*月\s*(?P<d2>\d{{1,2}})\s*日?){_TIME}"
)
_DATE_RE = re.compile(DATE)
_WEEKDAY = r"(?:星期|周|礼拜)[一二三四五六日天]"
_EDITION = r"(?:第\s*)?[A-Za-z]?\d{1,3}\s*版?"

# A line that is only a date, maybe with weekday and page number: "2025年1月8日 星期三 A03".
DATE_LINE = re.compile(
    rf"^\s*{DATE}\s*(?:{_WEEKDAY})?\s*(?:农历\S{{2,8}})?\s*(?:{_EDITION})?\s*(?:[，,]\s*正文\s*[：:])?\s*$"
)
# The header of scraped records: "2023-07-28 16:40，正文：", "来源：某报，正文：", "，正文：".
_BODY_MARKER = re.compile(r"^\s*(?P<head>[^\n]{0,120}?)\s*[，,]?\s*正文\s*[：:]\s*")
_LEADING_DATE_LINE = re.compile(rf"^\s*{DATE}\s*(?:{_WEEKDAY})?\s*\n")

_FILENAME_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})[-_.年]?(?P<m>0[1-9]|1[0-2])[-_.月]?(?P<d>0[1-9]|[12]\d|3[01])日?(?!\d)"
)
_HEXLIKE = re.compile(r"[0-9a-f]{12,}", re.IGNORECASE)

ROLE = r"(?:本报|本刊|新华社|中新社|人民日报)?(?:特约|见习|实习|摄影|首席)?(?:记者|通讯员|实习生)"
_ROLE_RE = re.compile(ROLE)
_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$|^[\u4e00-\u9fff]{1,6}·[\u4e00-\u9fff]{1,8}$")
# Words next to names in a byline that are not names themselves.
_NOT_NAMES = {"报道", "报导", "采写", "整理", "撰文", "摄影", "通讯员", "记者", "综合", "编辑", "本报", "文图"}
_ORG_SUFFIX = re.compile(r"(?:报|网|社|台|站|端|刊|部|中心|新闻)$")


def normalize_date(text: str | None) -> str | None:
    """`YYYY-MM-DD` (plus ` HH:MM` when a time is given) from a date in common formats.

    Returns None for anything that is not a real calendar date with a year.
    """
    if not text:
        return None
    m = _DATE_RE.search(text)
    return _from_match(m) if m else None


def _from_match(m: re.Match[str]) -> str | None:
    g = m.groupdict()
    try:
        day = _dt.date(int(g["y"]), int(g["m"] or g["m2"]), int(g["d"] or g["d2"]))
    except ValueError:
        return None
    hh, mm = g.get("hh"), g.get("mm")
    if hh is not None and mm is not None and int(hh) < 24 and int(mm) < 60:
        return f"{day.isoformat()} {int(hh):02d}:{mm}"
    return day.isoformat()


def split_leading_date(text: str) -> tuple[str | None, str]:
    """Split a leading date header off a record's text: (date or None, rest of the text).

    Handles scraped headers ending in "正文：" (with or without a date in them) and a
    first line that is only a date. A text that merely starts with a date inside its
    first sentence ("2023年7月28日，市政府…") is left alone.
    """
    m = _BODY_MARKER.match(text)
    if m:
        return normalize_date(m["head"]), text[m.end():]
    m = _LEADING_DATE_LINE.match(text)
    if m:
        return _from_match(m), text[m.end():]
    return None, text


def date_from_filename(path: str | Path) -> str | None:
    """A date written in a file name ("2024-12-28_page3.txt", "rmrb20241228.txt").

    Long hexadecimal tokens (content hashes) are ignored so that they do not yield
    accidental dates.
    """
    stem = Path(path).name.split(".")[0]
    kept = "_".join(t for t in re.split(r"[\s_]+", stem) if not (_HEXLIKE.fullmatch(t) and not t.isdigit()))
    found = normalize_date(kept)
    if found:
        return found
    m = _FILENAME_DATE.search(kept)
    return _from_match(m) if m else None


def names_in(text: str) -> tuple[str, ...]:
    """Person names in a byline fragment: "记者 付永文 高茜", "记者苑立立 通讯员杨立业".

    Role words separate names; organisations ("中青报·中青网") and words such as 报道
    are dropped.
    """
    spaced = _ROLE_RE.sub(" ", text)
    names: list[str] = []
    for token in re.split(r"[\s、，,;；/／:：|()（）【】\[\]]+", spaced):
        token = token.strip("□■◇◆●○★☆·")
        if not token or token in _NOT_NAMES or _ORG_SUFFIX.search(token):
            continue
        if token.endswith(("报道", "摄影")) and len(token) > 2:
            token = token[:-2]
        elif token.endswith("摄") and len(token) > 2:
            token = token[:-1]
        if _NAME.match(token) and token not in names:
            names.append(token)
    return tuple(names)


def has_role(text: str) -> bool:
    """True if the text names a reporter or correspondent role."""
    return bool(_ROLE_RE.search(text))
