"""Text normalization for Chinese news.

`normalize` folds the surface variety of Chinese text (full-width letters and digits,
case, stray spaces from line-broken newspaper pages) so that two renderings of the same
words compare equal; `fold` only maps full-width forms to ASCII.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "normalize"]

# ---------------------------------------------------------------- normalization

_WS = re.compile(r"\s+")
# Chinese is written without spaces; a space next to a CJK character is an artefact of
# line-broken pages or of typesetting, and would stop `青川 市` from matching `青川市`.
_SPACE_NEAR_WIDE = re.compile(r" (?=[^\x00-\x7f])|(?<=[^\x00-\x7f]) ")


def normalize(text: str) -> str:
    """Text folded for comparison: NFKC (full-width → half-width), lowercase, and spaces
    unified: runs of whitespace become one space, and spaces next to CJK text vanish."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = _WS.sub(" ", s)
    return _SPACE_NEAR_WIDE.sub("", s).strip()


# A one-to-one character fold used for scanning, so that match offsets are offsets into
# the original text. The full-width comma is kept: between digits it separates list
# items (`3，5月`) far more often than it groups thousands.
_FOLD = {c: chr(c - 0xFEE0).lower() for c in range(0xFF01, 0xFF5F) if c != 0xFF0C}
_FOLD.update({c: chr(c).lower() for c in range(ord("A"), ord("Z") + 1)})
_FOLD.update({0x3000: " ", 0x00A0: " ", 0x2009: " ", 0x202F: " ", 0x2212: "-"})
_FOLD_TABLE = str.maketrans(_FOLD)


def fold(text: str) -> str:
    """Full-width ASCII to half-width and lowercase, character for character: the result
    has the same length as `text`, so offsets into it are offsets into `text`."""
    return text.translate(_FOLD_TABLE)
