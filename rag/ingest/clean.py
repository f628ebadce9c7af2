"""Character-level cleaning shared by the readers, the segmenter and article building."""

from __future__ import annotations

import re

# Invisible characters that only get in the way of matching and tokenizing.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
# Every Unicode space that is not a plain space, tab or newline.
_ODD_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\t\v]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")

CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
CJK_CHAR = re.compile(f"[{CJK_RANGES}]")
# Chinese punctuation, quotes and full-width forms: spaces next to these are never meaningful.
CJK_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2018-\u201f\u2026\u2014\u00b7"
_SPACE_BY_PUNCT = re.compile(f" +(?=[{CJK_PUNCT}])|(?<=[{CJK_PUNCT}]) +")
_SPACE_IN_CJK = re.compile(f"(?<=[{CJK_RANGES}]) (?=[{CJK_RANGES}])")

# A sentence is over after one of these; closing quotes and brackets may follow it.
SENTENCE_END = "。！？!?；;…"
CLOSERS = "”’」』）)】》〉\"'"


def is_cjk(ch: str) -> bool:
    """True for a CJK ideograph (any block, simplified or traditional)."""
    return bool(CJK_CHAR.match(ch))


def normalize_text(text: str) -> str:
    """Normalize newlines and invisible characters, and drop indentation.

    Full-width spaces and NBSP at the start of a line are layout (paragraph indent) and
    are removed; elsewhere they become plain spaces. Blank lines are kept, because they
    separate paragraphs.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").replace("\f", "\n\n")
    text = text.translate(_ZERO_WIDTH)
    lines = []
    for line in text.split("\n"):
        line = _CONTROL.sub("", _ODD_SPACES.sub(" ", line))
        lines.append(line.strip())
    return "\n".join(lines).strip("\n")


def clean_paragraph(paragraph: str) -> str:
    """Collapse whitespace and remove spaces that layout put between Chinese characters.

    Spaces next to Chinese punctuation always go. Spaces between two ideographs go only
    when the paragraph is letter-spaced (many of them), because a single space is often
    deliberate (《中共中央 国务院关于…》, headline phrases). Spaces touching Latin letters or
    digits are kept, so English words are never glued together.
    """
    text = " ".join(paragraph.split())
    text = _SPACE_BY_PUNCT.sub("", text)
    gaps = len(_SPACE_IN_CJK.findall(text))
    if gaps >= 2 and gaps >= 0.2 * len(CJK_CHAR.findall(text)):
        text = _SPACE_IN_CJK.sub("", text)
    return text.strip()


def join_fragments(left: str, right: str) -> str:
    """Rejoin a paragraph that the layout broke in two.

    Chinese needs no space at the break; two Latin words or numbers do.
    """
    if not left or not right:
        return left + right
    if left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum():
        return f"{left} {right}"
    return left + right


def strip_closers(text: str) -> str:
    """The text without trailing spaces, closing quotes and brackets."""
    return text.rstrip().rstrip(CLOSERS).rstrip()


def ends_sentence(text: str) -> bool:
    """True if a paragraph ends a sentence, so the next paragraph starts a new one.

    A closing quote or bracket also counts: in news copy a paragraph that ends a quotation
    (…”) or a parenthesis ends its sentence.
    """
    text = text.rstrip()
    if not text:
        return True
    if text[-1] in "”’」』）)":
        return True
    core = strip_closers(text)
    if not core:
        return True
    if core[-1] in SENTENCE_END:
        return True
    # An ASCII full stop ends a sentence, but not a decimal point ("净利润 8.").
    return core[-1] == "." and len(core) > 1 and not core[-2].isdigit()


def visible_length(text: str) -> int:
    """Length without spaces: what a reader sees as the size of a line."""
    return len(text) - text.count(" ")
