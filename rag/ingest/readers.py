"""Read files and folders into RawDoc records, or Skipped with the reason a file is unusable.

Formats: .txt, .md, .html/.htm, .pdf, .docx, .jsonl and .jsonl.gz. Folders are read
recursively in sorted order; hidden files and folders are left out. Bad input never
raises: every problem becomes a Skipped naming the file (or "file.jsonl:LINE"), and the
other files are still read. That includes problems with the path itself: symbolic link
loops, dangling links, FIFOs, sockets and devices (never opened), missing permission,
folders that cannot be listed, and names with control characters.
"""

from __future__ import annotations

import codecs
import errno
import gzip
import json
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rag.ingest.clean import normalize_text
from rag.ingest.documents import read_docx, read_html, read_pdf
from rag.ingest.encoding import ReadError, decode_bytes
from rag.ingest.metadata import date_from_filename, normalize_date, split_leading_date
from rag.types import RawDoc, Skipped

Reader = Callable[[Path, str], Iterator[RawDoc | Skipped]]


def iter_raw(paths: Iterable[str | Path]) -> Iterator[RawDoc | Skipped]:
    """Read every file under `paths` (files or folders), yielding RawDoc or Skipped.

    Explicit paths are read in the order given; folders are walked in sorted order, so
    the same tree always yields the same sequence.
    """
    for item in _files(paths):
        if isinstance(item, Skipped):
            yield item
        else:
            yield from _read_file(*item)


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path | Skipped]:
    """The files `iter_raw` reads under `paths`, in its order, or a Skipped for a path
    that cannot be listed; nothing is opened. Reading each file on its own (as
    `iter_raw([file])`) yields what `iter_raw(paths)` yields for it, given normalized
    paths (a file given as "./a.txt" is named "./a.txt" by `iter_raw` and "a.txt" here).
    """
    for item in _files(paths):
        yield item if isinstance(item, Skipped) else item[0]


def _files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str] | Skipped]:
    """(path, source name) of every file under `paths`, or a Skipped for what cannot be listed."""
    for given in paths:
        path = Path(given)
        info = _inspect(path)
        if isinstance(info, str):
            yield Skipped(str(given), info)
        elif stat.S_ISDIR(info.st_mode):
            problem = _name_problem(str(given), "folder")
            if problem:
                yield Skipped(str(given), problem)
                continue
            for item in _walk(path):
                yield item if isinstance(item, Skipped) else (item, str(item))
        else:
            yield path, str(given)


def _walk(folder: Path, seen: set[str] | None = None) -> Iterator[Path | Skipped]:
    """Every non-folder path under `folder` (sorted), or a Skipped for what cannot be walked.

    Folders are followed through symbolic links, each real folder once, so a link back
    to a parent ends the walk there instead of recursing forever.
    """
    seen = set() if seen is None else seen
    real = os.path.realpath(folder)
    if real in seen:  # a symlink cycle
        return
    seen.add(real)
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
    except OSError as e:
        yield Skipped(str(folder), _os_reason(e, "folder"))
        return
    for name in names:
        if name.startswith("."):
            continue
        path = folder / name
        info = _inspect(path)
        if isinstance(info, str):
            yield Skipped(str(path), info)
        elif stat.S_ISDIR(info.st_mode):
            problem = _name_problem(name, "folder")
            if problem:
                yield Skipped(str(path), problem)
            else:
                yield from _walk(path, seen)
        else:
            yield path  # _read_file names anything that is not a regular file


_ERRNO_DETAILS = {
    errno.ELOOP: "symbolic link loop",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "name too long",
}
_FILE_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISDIR, "folder"),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # bytes of a name that is not UTF-8


def _os_reason(e: OSError, what: str) -> str:
    """Why an OSError on a path happened, as "cannot read file (permission denied)"."""
    detail = _ERRNO_DETAILS.get(e.errno or 0) or (e.strerror or str(e) or type(e).__name__).lower()
    return f"cannot read {what} ({detail})"


def _inspect(path: Path) -> os.stat_result | str:
    """What `path` is, following symbolic links, or why that cannot be known.

    Only the file's metadata is read: nothing is opened, so a FIFO cannot block.
    """
    try:
        return os.stat(path)
    except ValueError:  # os.stat refuses a NUL character
        return "cannot read file (control character in file name)"
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "cannot read file (dangling symbolic link)" if os.path.islink(path) else "file not found"
        return _os_reason(e, "file")


def _name_problem(name: str, what: str) -> str | None:
    """Why a file or folder name is not usable as a source, or None."""
    if _CONTROL.search(name):
        return f"cannot read {what} (control character in {what} name)"
    if _SURROGATE.search(name):
        return f"cannot read {what} ({what} name is not valid UTF-8)"
    return None


def _file_kind(mode: int) -> str:
    return next((kind for test, kind in _FILE_KINDS if test(mode)), "unknown file type")


def file_type(path: Path) -> str:
    """The extension that decides how a file is read (".jsonl.gz" counts as one)."""
    name = path.name.lower()
    return ".jsonl.gz" if name.endswith(".jsonl.gz") else path.suffix.lower()


def _read_file(path: Path, source: str) -> Iterator[RawDoc | Skipped]:
    info = _inspect(path)
    if isinstance(info, str):
        yield Skipped(source, info)
        return
    if not stat.S_ISREG(info.st_mode):
        yield Skipped(source, f"cannot read file (not a regular file: {_file_kind(info.st_mode)})")
        return
    problem = _name_problem(source, "file")
    if problem:
        yield Skipped(source, problem)
        return
    kind = file_type(path)
    reader = READERS.get(kind)
    if reader is None:
        yield Skipped(source, f"unsupported file type {kind}" if kind else "unsupported file type (no extension)")
        return
    if info.st_size == 0:
        yield Skipped(source, "empty file")
        return
    try:
        yield from reader(path, source)
    except ReadError as e:
        yield Skipped(source, e.reason)
    except OSError as e:
        yield Skipped(source, _os_reason(e, "file"))


def _decoded(path: Path) -> str:
    text, _ = decode_bytes(path.read_bytes())
    text = normalize_text(text)
    if not text.strip():
        raise ReadError("empty file (only whitespace)")
    return text


def _read_text(path: Path, source: str) -> Iterator[RawDoc]:
    yield RawDoc(source=source, text=_decoded(path), published=date_from_filename(path))


def _read_markdown(path: Path, source: str) -> Iterator[RawDoc]:
    title, text = markdown_to_text(_decoded(path))
    if not text.strip():
        raise ReadError("no text in Markdown file")
    yield RawDoc(source=source, text=text, title=title, published=date_from_filename(path))


_MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_MD_RULE = re.compile(r"^(?:[-*_]\s*){3,}$")
_MD_FENCE = re.compile(r"^(?:```|~~~)")
_MD_LINK_DEF = re.compile(r"^\[[^\]]+\]:\s*\S+")
_MD_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")
_MD_INLINE = (
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images: alt text is rarely prose
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<!\*)\*(?=\S)(.+?)(?<=\S)\*(?!\*)"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"</?[A-Za-z][^>]*>"), ""),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])"), r"\1"),
)


def markdown_to_text(text: str) -> tuple[str | None, str]:
    """Strip Markdown syntax lightly: (title from a leading heading, plain text).

    Headings become lines of their own, list items keep a bullet, emphasis, links and
    inline HTML are reduced to their text; code blocks are kept as text.
    """
    out: list[str] = []
    title: str | None = None
    for raw in text.split("\n"):
        line = raw.strip()
        if _MD_FENCE.match(line) or _MD_LINK_DEF.match(line) or _MD_TABLE_RULE.match(line):
            continue
        if _MD_RULE.match(line):
            out.append("")
            continue
        line = re.sub(r"^(?:>\s?)+", "", line)
        for pattern, repl in _MD_INLINE:
            line = pattern.sub(repl, line)
        heading = _MD_HEADING.match(line)
        if heading:
            if title is None and not any(out_line.strip() for out_line in out):
                title = heading[1].strip() or None
                continue
            out.extend(["", heading[1], ""])
            continue
        line = re.sub(r"^[-*+]\s+", "• ", line)
        if line.startswith("|") and line.endswith("|"):
            line = "  ".join(cell.strip() for cell in line.strip("|").split("|"))
        out.append(line)
    return title, re.sub(r"\n{3,}", "\n\n", normalize_text("\n".join(out)))


def _read_jsonl(path: Path, source: str) -> Iterator[RawDoc | Skipped]:
    with path.open("rb") as f:
        yield from _records(f, path, source)


def _read_jsonl_gz(path: Path, source: str) -> Iterator[RawDoc | Skipped]:
    try:
        with gzip.open(path, "rb") as f:
            yield from _records(f, path, source)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ReadError(f"corrupt gzip: {e}") from e


def _records(f: Iterable[bytes], path: Path, source: str) -> Iterator[RawDoc | Skipped]:
    """One RawDoc per line; a bad line is one Skipped and the rest of the file is still used."""
    seen_any = False
    for lineno, raw in enumerate(f, 1):
        if lineno == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        if not raw.strip():
            continue
        seen_any = True
        where = f"{source}:{lineno}"
        try:
            yield record_to_raw(_json_line(raw), path, source, lineno)
        except ReadError as e:
            yield Skipped(where, e.reason)
    if not seen_any:
        raise ReadError("empty file (no records)")


def _json_line(raw: bytes) -> object:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        line, _ = decode_bytes(raw)  # raises ReadError when it is not text at all
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise ReadError(f"invalid JSON: {e.msg} (column {e.colno})") from e


def record_to_raw(obj: object, path: Path, source: str, lineno: int) -> RawDoc:
    """A RawDoc from one JSONL record (`id`, `title`, `published`, `source`, `text`)."""
    if not isinstance(obj, dict):
        raise ReadError("record is not a JSON object")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ReadError("record has no text")
    header_date, text = split_leading_date(normalize_text(text))
    if not text.strip():
        raise ReadError("record has no text after its date line")
    published = obj.get("published")
    title = obj.get("title")
    name = obj.get("source")
    rid = obj.get("id")
    return RawDoc(
        source=f"{source}#{lineno}",
        text=text,
        title=" ".join(title.split()) or None if isinstance(title, str) else None,
        published=(normalize_date(published) if isinstance(published, str) else None)
        or header_date
        or date_from_filename(path),
        source_name=name.strip() or None if isinstance(name, str) else None,
        external_id=str(rid) if isinstance(rid, (str, int)) and str(rid).strip() else None,
        structured=True,
    )


READERS: dict[str, Reader] = {
    ".txt": _read_text,
    ".text": _read_text,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".jsonl": _read_jsonl,
    ".jsonl.gz": _read_jsonl_gz,
}
