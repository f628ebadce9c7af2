"""Readers for HTML, PDF and DOCX: each file is one unstructured RawDoc (a page to segment)."""

from __future__ import annotations

import copy
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.clean import normalize_text
from rag.ingest.encoding import ReadError, decode_bytes, plausibility
from rag.ingest.metadata import date_from_filename, normalize_date
from rag.types import RawDoc

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
# Declared charsets that are subsets of what is actually written in the wild.
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "cp950", "x-gbk": "gb18030"}
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# Elements that hold page furniture, not article text.
_FURNITURE = "//script|//style|//nav|//header|//footer|//aside|//form|//noscript|//iframe|//template"
_BLOCKS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "blockquote", "figcaption")
_DATE_XPATHS = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@property='og:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//meta[translate(@name,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')="
    "'pubdate' or translate(@name,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')="
    "'publishdate']/@content",
    "//meta[@name='publish_date' or @name='date' or @name='DC.date.issued' or @name='dc.date']/@content",
    "//article//time/@datetime",
    "//time/@datetime",
)
# Site names appended to <title>: "标题 - 青川日报网", "标题_新华网", "标题 | 某某网".
_TITLE_SUFFIX = re.compile(r"\s*(?:[-_|｜–—]|--)\s*[^-_|｜–—]{1,16}$")


def read_html(path: Path, source: str) -> Iterator[RawDoc]:
    """The main text of a web page (not menus, navigation or footer), its title and date."""
    html = _XML_DECLARATION.sub("", _decode_html(path.read_bytes()))
    from lxml import etree
    from lxml import html as lxml_html

    try:
        tree = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError) as e:
        raise ReadError(f"corrupt HTML: {e}") from e
    title = _html_title(tree)
    published = next((d for x in _DATE_XPATHS for v in tree.xpath(x) if (d := normalize_date(str(v)))), None)
    # Menus, headers and footers go before extraction: on short pages trafilatura
    # would otherwise keep them.
    for element in tree.xpath(_FURNITURE):
        element.drop_tree()
    text = normalize_text(_main_text(copy.deepcopy(tree)) or _fallback_text(tree))
    if not text.strip():
        raise ReadError("no article text found in HTML")
    yield RawDoc(source=source, text=text, title=title, published=published or date_from_filename(path))


def _decode_html(data: bytes) -> str:
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii").lower()
        try:
            text = data.decode(_CHARSET_ALIASES.get(name, name))
        except (UnicodeDecodeError, LookupError):
            pass  # the declaration is wrong; detect instead
        else:
            if plausibility(text) >= 0.8:
                return text
    text, _ = decode_bytes(data)
    return text


def _html_title(tree: object) -> str | None:
    for xpath in ("//meta[@property='og:title']/@content", "//title/text()", "//h1//text()"):
        values = [str(v).strip() for v in tree.xpath(xpath)]  # type: ignore[attr-defined]
        value = " ".join(v for v in values if v) if xpath.startswith("//h1") else next((v for v in values if v), "")
        if xpath == "//title/text()":
            trimmed = _TITLE_SUFFIX.sub("", value)
            value = trimmed if len(trimmed) >= 4 else value
        value = " ".join(value.split())
        if value:
            return value
    return None


def _main_text(tree: object) -> str:
    import trafilatura  # imported late: slow to import, and only HTML needs it

    extracted = trafilatura.extract(
        tree,
        output_format="txt",
        include_comments=False,
        include_tables=True,
        include_images=False,
        deduplicate=False,
        with_metadata=False,
    )
    return extracted or ""


def _fallback_text(tree: object) -> str:
    """The text of <article>, else <main>, else <body>; used when trafilatura finds nothing."""
    roots = tree.xpath("//article") or tree.xpath("//main") or tree.xpath("//body") or [tree]  # type: ignore[attr-defined]
    root = roots[0]
    for element in root.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
    return str(root.text_content())


def read_pdf(path: Path, source: str) -> Iterator[RawDoc]:
    """The text of every page of a PDF; a scanned PDF has none and is skipped."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf raises assorted exception types on malformed files; these are the ones
    # damaged input produces. Only pypdf calls are inside the try.
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ReadError("encrypted PDF (a password is needed)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (
        PyPdfError, ValueError, KeyError, IndexError, TypeError, AttributeError,
        RecursionError, zlib.error, struct.error,
    ) as e:
        raise ReadError(f"corrupt PDF: {e}") from e
    text = normalize_text("\n\n".join(pages))
    if not text.strip():
        raise ReadError("no extractable text in PDF (scanned pages need OCR)")
    yield RawDoc(source=source, text=text, published=date_from_filename(path))


def read_docx(path: Path, source: str) -> Iterator[RawDoc]:
    """The paragraphs and table rows of a Word document, in document order."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from lxml import etree

    try:
        document = docx.Document(str(path))
        blocks: list[str] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = list(dict.fromkeys(c.text.strip() for c in row.cells))
                    blocks.append("  ".join(c for c in cells if c))
            else:
                blocks.append(item.text)
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, etree.XMLSyntaxError) as e:
        raise ReadError(f"corrupt DOCX: {e}") from e
    text = normalize_text("\n\n".join(blocks))
    if not text.strip():
        raise ReadError("no text in DOCX")
    yield RawDoc(source=source, text=text, published=date_from_filename(path))
