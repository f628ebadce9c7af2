"""Decode bytes of unknown encoding: UTF-8 (with or without BOM), GB18030/GBK, Big5, others.

Strict UTF-8 is tried first because a non-UTF-8 Chinese text practically never happens
to be valid UTF-8. Otherwise several decodings are tried and each is scored by how
plausible its characters are. The classic trap is GBK against Big5: each can decode
the other's bytes without error, but the wrong decoding yields rare ideographs, kana,
Cyrillic and box-drawing characters, while the right one yields frequent characters.
"""

from __future__ import annotations

import codecs
import functools
import re

from rag.errors import ReadError
from rag.ingest.clean import is_cjk

# Signatures of common binary formats that end up with a text extension.
_MAGIC = {
    b"\x89PNG": "PNG image",
    b"\xff\xd8\xff": "JPEG image",
    b"GIF8": "GIF image",
    b"PK\x03\x04": "ZIP archive (or docx/xlsx)",
    b"\x1f\x8b": "gzip archive",
    b"%PDF": "PDF document",
    b"\x7fELF": "executable",
    b"Rar!": "RAR archive",
    b"7z\xbc\xaf": "7z archive",
    b"\xd0\xcf\x11\xe0": "old Office document",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Candidates tried after UTF-8, in order of preference when scores tie.
_CANDIDATES = ("gb18030", "cp950", "big5hkscs")
MIN_PLAUSIBILITY = 0.8
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_SAMPLE = 20_000  # characters scored; plenty to tell encodings apart


@functools.cache
def _frequent_hanzi() -> frozenset[str]:
    """GB2312 hanzi (simplified) plus Big5 level-1 hanzi (traditional, frequent)."""
    chars: set[str] = set()
    for lead in range(0xB0, 0xF8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.add(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    for lead in range(0xA4, 0xC7):
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            try:
                chars.add(bytes((lead, trail)).decode("big5"))
            except UnicodeDecodeError:
                continue
    return frozenset(c for c in chars if is_cjk(c))


def _char_weight(ch: str, frequent: frozenset[str]) -> float:
    o = ord(ch)
    if 0x21 <= o <= 0x7E or ch in frequent:
        return 1.0
    if is_cjk(ch):
        return 0.3  # a real but rare ideograph: possible, suspicious in bulk
    if (
        0x3000 <= o <= 0x303F  # CJK punctuation
        or 0xFF01 <= o <= 0xFF65  # full-width forms
        or 0x2010 <= o <= 0x203A  # dashes, quotes, ellipsis
        or 0x2160 <= o <= 0x217F  # Roman numerals (水质Ⅳ类)
        or 0x2460 <= o <= 0x24FF  # circled numbers
        or 0x25A0 <= o <= 0x25FF  # □ ■ ▲ ● used in bylines and captions
        or ch in "·°×÷№℃€£¥§"
    ):
        return 1.0
    if ch.isalpha() and (o < 0x250 or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7A3):
        return 0.5  # accented Latin, kana, hangul: real text, but not what we expect
    return 0.0


def plausibility(text: str) -> float:
    """Share (0..1) of characters that are plausible in Chinese or ASCII text."""
    frequent = _frequent_hanzi()
    total = score = 0.0
    for ch in text[:_SAMPLE]:
        if ch in " \n\r\t":
            continue
        total += 1
        score += _char_weight(ch, frequent)
    return score / total if total else 0.0


def _binary_kind(data: bytes) -> str | None:
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            return kind
    if b"\x00" in data[:65536]:
        return "contains NUL bytes"
    return None


def _too_many_controls(text: str) -> bool:
    sample = text[:_SAMPLE]
    return bool(sample) and len(_CONTROL.findall(sample)) > 0.02 * len(sample)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode `data`, returning (text, encoding name); raise ReadError if it is not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                data = data[len(bom):]  # a lying BOM: detect from the content instead
                break
    kind = _binary_kind(data)
    if kind is not None:
        raise ReadError(f"binary file, not text ({kind})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _too_many_controls(text):
            raise ReadError("binary file, not text (control characters)")
        return text, "utf-8"

    best: tuple[float, str, str] | None = None
    for encoding in (*_CANDIDATES, *_normalizer_guess(data)):
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        score = plausibility(text)
        if best is None or score > best[0]:
            best = (score, text, encoding)
    if best is None or best[0] < MIN_PLAUSIBILITY:
        raise ReadError("could not detect a text encoding")
    if _too_many_controls(best[1]):
        raise ReadError("binary file, not text (control characters)")
    return best[1], best[2]


def _normalizer_guess(data: bytes) -> list[str]:
    """charset-normalizer's best guess, as one more candidate to score."""
    from charset_normalizer import from_bytes  # imported late: costs time at import

    match = from_bytes(data[:200_000]).best()
    if match is None or match.encoding in {"utf_8", "ascii"}:
        return []
    return [match.encoding]
