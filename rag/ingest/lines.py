"""Classify the paragraphs of a newspaper page by their form alone.

Each paragraph (a non-empty line of extracted text) gets one kind: headline-like,
subtitle, byline, lead (dateline), caption, credit, banner, date line, noise or body.
The segmenter then resolves what the form leaves open (is this short line a headline,
a banner or half of a broken sentence?) from the paragraphs around it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from rag.ingest.clean import CJK_CHAR, SENTENCE_END, ends_sentence, strip_closers, visible_length
from rag.ingest.metadata import DATE_LINE, ROLE, has_role, names_in, normalize_date


class Kind(Enum):
    """What a paragraph is on the page."""

    BODY = "body"
    HEADLINE = "headline"  # short, unpunctuated: a headline, banner, intertitle or fragment
    SUBTITLE = "subtitle"  # "——访…": always part of a headline block
    BYLINE = "byline"  # "□ 本报记者 王涛": a whole line naming the authors
    LEAD = "lead"  # "本报讯(记者 …)…", "新华社北京7月1日电…": body that opens an article
    CAPTION = "caption"
    CREDIT = "credit"  # "付永文 高茜 摄"
    BANNER = "banner"  # page or section banner, kept as metadata
    DATE = "date"  # a line that is only a date
    NOISE = "noise"  # jump lines, editor lines: dropped
    INTERTITLE = "intertitle"  # a headline-like line inside an article, kept as its own paragraph
    LIST = "list"  # a list item: kept as its own paragraph


@dataclass(eq=False)
class Para:
    """One paragraph of a page with what its form says about it."""

    text: str
    kind: Kind
    index: int
    reporters: tuple[str, ...] = ()
    date: str | None = None
    lead_body: str = ""  # for a LEAD: the text with the agency/reporter marker removed
    credit: str = ""  # for a CAPTION: the photo credit that was printed at its end
    credit_names: tuple[str, ...] = field(default=())


_BOX = "□■◇◆●○★☆"
# Longer paragraphs are article text even when they start like a caption ("图为…"):
# scraped pages often glue a caption to the body that follows it.
CAPTION_MAX = 200
_AGENCY = (
    r"(?:本报|本刊|新华社|中新社|中新网|人民网|新华网|央视网|央广网|光明网|澎湃新闻"
    r"|[\u4e00-\u9fff]{2,10}?(?:日报|晚报|时报|报|网|社|电视台|客户端|新闻))"
)
_LEAD = re.compile(
    rf"^[{_BOX}]?\s*(?P<head>(?P<agency>{_AGENCY})(?P<where>[\u4e00-\u9fff]{{0,8}}?)"
    r"(?P<when>(?:\d{4}年)?\d{1,2}月\d{1,2}日)?\s*(?P<verb>讯|电|消息))"
    r"(?:\s*(?P<paren>[（(【\[][^（()）【】\[\]\n]{1,60}[）)】\]]))?"
    r"(?:\s*(?P<byline>记者(?:\s*[\u4e00-\u9fff·]{2,5}){1,4}\s*报道))?"
)
_PAREN_LEAD = re.compile(rf"^[（(【\[]\s*{ROLE}[^（()）【】\[\]\n]{{1,60}}[）)】\]]")
_CAPTION_START = re.compile(r"^(?:图为|图[①-⑳]|图\d{1,2}[：:、\s]|[上下左右中]图[：:为]|[▲△↑↓]|【图】|图片说明|图注)")
_INLINE_CREDIT = re.compile(r"[（(][^（()）]{2,30}(?:摄|摄影|供图|新华社发|中新社发)[)）]\s*$")
_CREDIT_TAIL = re.compile(r"^[（(]?(?P<who>.{2,40}?)\s*[/／]?\s*(?:摄影|摄|供图)[)）]?$")
_CREDIT_HEAD = re.compile(r"^(?:图|图片|摄影|摄)\s*[/／：:]\s*(?P<who>.{2,40})$")
# A credit run into the end of its caption: "图为华裔青年参观茶园。黄兴鸿 摄", "赛事现场 温州台办 供图".
_TRAILING_CREDIT = re.compile(r"(?<=[。！？!?\s])\s*(?P<who>[^。！？!?\s][^。！？!?]{1,30}?)\s*[/／]?\s*(?:摄影|摄|供图)\s*$")
_CREDIT_FIXED = re.compile(r"^[（(]?(?:新华社发|中新社发|资料图片?|网络图片)[)）]?$")
_SUBTITLE = re.compile(r"^(?:——|—|－－|--|―)\s*\S")
_NOISE = re.compile(
    r"^(?:[（(]?(?:下转|上接|转|接)第?\s*[A-Za-z]?\d{1,3}\s*版[)）]?"
    r"|(?:责任编辑|编辑|责编|校对|审核|审校|美编|值班编辑|终审|初审|复审)\s*[：:|｜].{0,20}"
    r"|[（(]完[)）]|【纠错】.*"
    r"|[-—–\s]*\d{1,4}[-—–\s]*|第\s*\d+\s*页.{0,8}|\d+\s*/\s*\d+)$"  # page numbers of PDFs
)
_LIST_ITEM = re.compile(r"^(?:[•·▪‣]|[-*+]\s)")
_LABEL_VALUE = re.compile(r"[：:][^：:]*\d[^：:]*\d[^：:]*\d")
# Numbered section heads: "一、", "（二）", "3.", "01充分做好准备".
_ENUMERATED = re.compile(r"^(?:[一二三四五六七八九十]{1,3}[、.．]|[（(][一二三四五六七八九十\d]{1,3}[)）]|\d{1,2}[、.．)）]|0[1-9](?=[\u4e00-\u9fff]))")
_SEPARATORS = re.compile(r"[\s、，,;；/／|｜·:：]+")
_ORG = re.compile(r"^[\u4e00-\u9fff]{2,12}(?:报|网|社|台|站|端|刊|中心|新闻)$")
_PERSON = re.compile(r"^[\u4e00-\u9fff]{2,4}$|^[\u4e00-\u9fff]{1,6}·[\u4e00-\u9fff]{1,8}$")
_ROLE_ONLY = re.compile(rf"^(?:文|图|文图|文/图)?{ROLE}$|^(?:文|图|文图|作者|撰文|报道|采写|整理)$")
# A role, maybe after the name of its paper ("云溪日报记者", "中青网记者王林"), then a name.
_ROLE_THEN_NAME = re.compile(rf"^(?:[\u4e00-\u9fff]{{2,12}}?(?:报|网|社|台|刊))?{ROLE}(?P<name>.*)$")
# Two-character words that follow 记者 in column names, not in bylines ("记者直击").
_NOT_PERSON = {"直击", "手记", "观察", "调查", "来信", "采访", "报道", "走访", "探访", "体验"}
_DATE_TOKEN = re.compile(r"^(?:\d{4}[年.-])?\d{1,2}[月.-]\d{1,2}日?$|^\d{4}年?$")
# Words that end column names and page banners ("…访谈", "记者直击 …").
BANNER_WORDS = (
    "记者直击", "访谈", "专访", "专栏", "专题", "特别报道", "系列报道", "走基层", "聚焦", "关注",
    "直击", "观察", "视点", "深读", "纪实", "时评", "要闻", "本版", "特刊", "专刊", "副刊", "周刊",
)


def _is_person(token: str) -> bool:
    return bool(_PERSON.match(token)) and token not in _NOT_PERSON


def _people_only(text: str, *, allow_dates: bool = False) -> bool:
    """True if every token of `text` is a person, an organisation or a role word."""
    tokens = [t.strip(_BOX + "（）()") for t in _SEPARATORS.split(text)]
    tokens = [t for t in tokens if t]
    if not tokens:
        return False
    people = 0
    for token in tokens:
        m = _ROLE_THEN_NAME.match(token)
        if _is_person(m["name"] if m else token):
            people += 1
        elif m and not m["name"]:
            continue
        elif not (_ROLE_ONLY.match(token) or _ORG.match(token) or (allow_dates and _DATE_TOKEN.match(token))):
            return False
    return people > 0


def _has_sentence_punct(text: str) -> bool:
    return any(ch in SENTENCE_END or ch in "，," for ch in text)


def credit_names(text: str) -> tuple[str, ...] | None:
    """Photographers named by a credit line ("付永文 高茜 摄", "图/新华社记者 张三"), or None."""
    text = text.strip()
    if visible_length(text) > 40 or any(ch in SENTENCE_END for ch in text):
        return None
    if _CREDIT_FIXED.match(text):
        return ()
    for pattern in (_CREDIT_TAIL, _CREDIT_HEAD):
        m = pattern.match(text)
        if m and _credit_source(m):
            return names_in(m["who"])
    return None


def _credit_source(m: re.Match[str]) -> bool:
    """Whether a credit names its source: people, or for 供图 any short organisation name."""
    if m.group().rstrip(")） ").endswith("供图") and re.fullmatch(r"[\u4e00-\u9fff·\s]{2,16}", m["who"]):
        return True
    return _people_only(m["who"])


def _byline(text: str) -> Para | None:
    body = text.lstrip(_BOX).strip()
    if visible_length(body) > 40 or _has_sentence_punct(body):
        return None
    if not (has_role(body) or body.startswith(("文/", "文／", "作者"))):
        return None
    if not _people_only(body, allow_dates=True):
        return None
    return Para(text, Kind.BYLINE, -1, reporters=names_in(body), date=normalize_date(body))


def _lead(text: str) -> Para | None:
    m = _LEAD.match(text)
    if m:
        paren = m["paren"] or ""
        credited = bool(paren and (has_role(paren) or names_in(paren)))
        own_paper = m["agency"] in ("本报", "本刊") and m["verb"] == "讯"
        if not (credited or m["when"] or own_paper or m["byline"]):
            return None
        rest = text[m.end():].lstrip(" :：,，")
        reporters = names_in(paren) + names_in(m["byline"] or "")
        if m["where"]:
            # The place of a dateline ("新华社北京7月1日电") is a fact worth keeping in the body.
            body = f"{m['head'].lstrip(_BOX).strip()} {rest}" if rest else m["head"]
        else:
            body = rest
        return Para(
            text, Kind.LEAD, -1, reporters=tuple(dict.fromkeys(reporters)), lead_body=body,
            date=normalize_date(m["when"] or ""),
        )
    m = _PAREN_LEAD.match(text)
    if m:
        return Para(text, Kind.LEAD, -1, reporters=names_in(m.group()), lead_body=text[m.end():].strip())
    return None


def headline_like(text: str) -> bool:
    """Short, with no sentence-final punctuation and at most one comma: could be a headline.

    Lines without Chinese characters and "label：value" lines ("报警电话：112") are not.
    """
    n = visible_length(text)
    if not 2 <= n <= 40 or not CJK_CHAR.search(text) or _LABEL_VALUE.search(text):
        return False
    core = strip_closers(text)
    if not core or core[-1] in SENTENCE_END or core[-1] in "，,、：:":
        return False
    if any(ch in "。；;" for ch in core):
        return False
    return sum(core.count(ch) for ch in "，,") <= (1 if n <= 24 else 0)


def classify(text: str, index: int) -> Para:
    """The kind of one paragraph, judged by its own form."""
    found: Para | None
    if _NOISE.match(text):
        return Para(text, Kind.NOISE, index)
    if DATE_LINE.match(text):
        return Para(text, Kind.DATE, index, date=normalize_date(text))
    names = credit_names(text)
    if names is not None:
        return Para(text, Kind.CREDIT, index, credit_names=names)
    for finder in (_byline, _lead):
        found = finder(text)
        if found is not None:
            found.index = index
            return found
    if visible_length(text) <= CAPTION_MAX:
        m = _TRAILING_CREDIT.search(text)
        if m and _credit_source(m):
            credit = text[m.start():].strip()
            return Para(text[: m.start()].rstrip(), Kind.CAPTION, index, credit=credit, credit_names=names_in(m["who"]))
        # A caption is a sentence or two; more is an article whose first line is a caption.
        short = sum(text.count(ch) for ch in "。！？!?") <= 2
        if short and (_CAPTION_START.match(text) or _INLINE_CREDIT.search(text)):
            return Para(text, Kind.CAPTION, index)
    if _SUBTITLE.match(text) and visible_length(text) <= 60:
        return Para(text, Kind.SUBTITLE, index)
    if _LIST_ITEM.match(text):
        return Para(text, Kind.LIST, index)
    if headline_like(text):
        return Para(text, Kind.INTERTITLE if _ENUMERATED.match(text) else Kind.HEADLINE, index)
    return Para(text, Kind.BODY, index)


def explicit_caption(text: str) -> bool:
    """True if the text announces itself as a photo caption ("图为…", "▲…")."""
    return bool(_CAPTION_START.match(text))


def banner_by_words(text: str) -> bool:
    """A column or page banner by its wording: "记者直击 …", "… 负责人访谈", "青川新闻·民生"."""
    parts = text.split()
    if len(parts) >= 2 and any(
        p in BANNER_WORDS or (p.endswith(BANNER_WORDS) and len(p) > 4) for p in (parts[0], parts[-1])
    ):
        return True
    return visible_length(text) <= 12 and bool(re.search(r"[\u4e00-\u9fff]·[\u4e00-\u9fff]", text))


def spaced_phrases(text: str) -> bool:
    """Several phrases separated by spaces, the way banners and kickers are set."""
    return len(text.split()) >= 2


_FRAGMENT_END = set("的对把被将在和与及为从向以并而或之其这那个等是")


def looks_like_fragment(text: str) -> bool:
    """A short line that reads as part of a sentence rather than as a headline.

    Headlines are telegraphic: they avoid 的 and 了 and never end on a preposition or
    conjunction; sentence pieces broken off by the layout often do.
    """
    if " " in text.strip():
        return False
    core = strip_closers(text)
    return bool(core) and (core[-1] in _FRAGMENT_END or any(ch in core for ch in "的了，,"))


def classify_page(lines: list[str]) -> list[Para]:
    """Classify every paragraph, then mark banners: repeated short lines and banner wording."""
    paras = [classify(text, i) for i, text in enumerate(lines)]
    short = (Kind.HEADLINE, Kind.BANNER, Kind.SUBTITLE)
    counts = Counter("".join(p.text.split()) for p in paras if p.kind in short)
    for p in paras:
        if p.kind is Kind.HEADLINE and (counts["".join(p.text.split())] >= 2 or banner_by_words(p.text)):
            p.kind = Kind.BANNER
    _merge_captions_with_credits(paras)
    return paras


def _merge_captions_with_credits(paras: list[Para]) -> None:
    """A short paragraph followed by a photo credit is that photo's caption."""
    for prev, cur in zip(paras, paras[1:], strict=False):
        if (
            cur.kind is Kind.CREDIT
            and prev.kind in (Kind.BODY, Kind.HEADLINE)
            and visible_length(prev.text) <= CAPTION_MAX
            and (prev.kind is Kind.HEADLINE or ends_sentence(prev.text))
        ):
            prev.kind = Kind.CAPTION


def lead_reporters(text: str) -> tuple[str, ...]:
    """Reporters named by the lead or byline at the start of an article's text."""
    first = text.split("\n", 1)[0]
    found = _lead(first) or _byline(first)
    return found.reporters if found is not None else ()


_KNOWN_AGENCY = re.compile(r"本报|本刊|新华社|中新社|中新网|人民网|新华网|央视网|央广网|光明网")


def split_glued_headline(text: str) -> tuple[str | None, str]:
    """Split a headline that a scraper ran into the lead: "标题本报济南8月9日电（记者 …）…".

    Returns (headline, text from the lead on), or (None, text) when there is none.
    """
    first = text[:80].split("\n", 1)[0]
    for m in _KNOWN_AGENCY.finditer(first):
        head = first[: m.start()].strip()
        if head and headline_like(head) and _lead(text[m.start():]) is not None:
            return head, text[m.start():]
    return None, text


def strip_lead(text: str) -> str:
    """The text after a lead marker ("本报讯(记者 …)", "新华社北京7月1日电"), if it has one."""
    if _lead(text) is None:
        return text
    m = _LEAD.match(text) or _PAREN_LEAD.match(text)
    return text[m.end():].lstrip(" :：,，") if m else text
