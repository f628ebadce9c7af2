"""Uploaded files: safe names, size and type limits, and zip archives unpacked safely.

Everything a web user uploads lands in the archive's own `uploads/` folder, in a folder
named by a digest of its bytes and under its sanitized name (`uploads/<digest>/<name>`;
the name as sent is kept beside it in `.name`). So an upload never replaces another:
the same bytes under the same name find the same path (and the index reports them
unchanged), and a different file with the same name is a new file. Nothing a user sends
can be written anywhere else.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rag.errors import UploadError
from rag.service import DOCUMENT_TYPES

MAX_FILE_BYTES = 50 * 1024 * 1024  # one uploaded file
MAX_MEMBER_BYTES = 50 * 1024 * 1024  # one file inside a zip, uncompressed
MAX_ZIP_BYTES = 500 * 1024 * 1024  # everything inside a zip, uncompressed
MAX_ZIP_MEMBERS = 20_000
MAX_RATIO = 200  # uncompressed / compressed: beyond this a member is a zip bomb
MAX_NAME_CHARS = 120

UPLOAD_TYPES = (*DOCUMENT_TYPES, ".zip")

_UNSAFE = re.compile(r"[^\w.\-()（）]+")
_REPEATS = re.compile(r"([_.])\1+")


def file_type(name: str) -> str:
    """The extension that decides how a file is read (".jsonl.gz" counts as one)."""
    lower = name.lower()
    return ".jsonl.gz" if lower.endswith(".jsonl.gz") else PurePosixPath(lower).suffix


def safe_filename(name: str) -> str:
    """A file name that is safe to create in one folder: no directories, no hidden or
    control characters, at most MAX_NAME_CHARS characters, the extension kept.

    Chinese and other letters are kept as they are; anything else becomes `_`.
    Raises UploadError for a type that cannot be read.
    """
    base = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    kind = file_type(base)
    if kind not in UPLOAD_TYPES:
        shown = kind or "（无扩展名）"
        raise UploadError(f"不支持的文件类型 {shown}；可上传 {', '.join(UPLOAD_TYPES)}")
    stem = base[: len(base) - len(kind)]
    stem = _REPEATS.sub(r"\1", _UNSAFE.sub("_", stem)).strip("._- ")
    stem = stem[: MAX_NAME_CHARS - len(kind)] or "upload"
    return stem + kind


def _inside(folder: Path, path: Path) -> bool:
    folder, path = folder.resolve(), path.resolve()
    return path != folder and folder in path.parents


@dataclass
class Stored:
    """An upload copied into the archive; `restore()` removes it again."""

    path: Path
    created: bool  # the copy is new (not the same bytes under the same name again)

    def restore(self) -> None:
        """Remove the copy (used when it held nothing usable); a copy that was there
        before this upload is left alone."""
        if not self.created:
            return
        if self.path.is_dir():
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.path.unlink(missing_ok=True)
        _drop_if_unused(self.path.parent)


NAME_FILE = ".name"  # in each digest folder: the file's name as it was uploaded


def digest_of(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def _drop_if_unused(folder: Path) -> None:
    """Remove a digest folder that holds nothing but its name file."""
    if all(p.name == NAME_FILE for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)


def _digest_folder(source: Path, original_name: str, uploads: Path) -> Path:
    folder = uploads / digest_of(source)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / NAME_FILE).exists():
        (folder / NAME_FILE).write_text(original_name, encoding="utf-8")
    return folder


@dataclass
class Unpacked:
    folder: Stored
    refused: list[tuple[str, str]] = field(default_factory=list)  # (member name, reason)
    files: int = 0


def store_upload(source: str | Path, original_name: str, uploads: Path) -> Stored:
    """Copy an uploaded document to `uploads/<digest>/<sanitized name>`.

    The same bytes under the same name are left where they are (so their articles stay
    "unchanged"); anything else is a new path, so no upload ever replaces another.
    """
    source = Path(source)
    size = source.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UploadError(f"文件太大（{size / 1e6:.1f} MB，上限 {MAX_FILE_BYTES // 1_000_000} MB）")
    name = safe_filename(original_name)
    uploads.mkdir(parents=True, exist_ok=True)
    folder = _digest_folder(source, original_name, uploads)
    dest = folder / name
    if not _inside(uploads, dest):  # cannot happen after safe_filename; a second lock on the door
        raise UploadError("文件名不安全")
    if dest.is_file():
        return Stored(dest, created=False)
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
        _drop_if_unused(folder)
    return Stored(dest, created=True)


def _member_name(info: zipfile.ZipInfo) -> str:
    # Zips made on Chinese Windows store GBK names without the UTF-8 flag; zipfile then
    # decodes them as cp437, which turns 新闻.txt into mojibake.
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def member_path(name: str) -> PurePosixPath | None:
    """The relative path a zip member may be written to, or None if it is unsafe
    (absolute, a drive letter, `..`, or empty)."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


def unpack_zip(source: str | Path, original_name: str, uploads: Path) -> Unpacked:
    """Unpack an uploaded zip into `uploads/<digest>/<name>.d/`, refusing what is unsafe.

    Members that would land outside the folder (absolute paths, `..`), links, encrypted
    members, members of a type that cannot be read, and members bigger than the limits
    (checked while copying, not trusted from the header) are left out and reported.
    """
    source = Path(source)
    if source.stat().st_size > MAX_FILE_BYTES:
        raise UploadError(f"文件太大（上限 {MAX_FILE_BYTES // 1_000_000} MB）")
    name = safe_filename(original_name)
    uploads.mkdir(parents=True, exist_ok=True)
    folder = _digest_folder(source, original_name, uploads)
    dest = folder / f"{name[:-4]}.d"
    if dest.is_dir():  # the same zip again: its files are already there
        return Unpacked(Stored(dest, created=False), [], sum(1 for p in dest.rglob("*") if p.is_file()))
    work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=folder))
    refused: list[tuple[str, str]] = []
    files = 0
    try:
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError):
            raise UploadError("不是有效的 zip 文件") from None
        with archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise UploadError(f"zip 内文件过多（{len(members)} 个，上限 {MAX_ZIP_MEMBERS}）")
            total = 0
            for info in members:
                shown = _member_name(info)
                if info.is_dir():
                    continue
                reason = _refuse_member(info, shown)
                if reason:
                    refused.append((shown, reason))
                    continue
                rel = member_path(shown)
                assert rel is not None  # checked by _refuse_member
                target = work.joinpath(*[_safe_dir(p) for p in rel.parts[:-1]], safe_filename(rel.name))
                if not _inside(work, target):
                    refused.append((shown, "路径不安全"))
                    continue
                if target.exists():
                    refused.append((shown, "与另一个文件同名"))
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    written = _copy_bounded(archive, info, target, MAX_MEMBER_BYTES)
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError):
                    target.unlink(missing_ok=True)
                    refused.append((shown, "文件已损坏或压缩方式不受支持"))
                    continue
                if written is None:
                    target.unlink(missing_ok=True)
                    refused.append((shown, f"解压后超过 {MAX_MEMBER_BYTES // 1_000_000} MB"))
                    continue
                total += written
                if total > MAX_ZIP_BYTES:
                    raise UploadError(f"解压后总大小超过 {MAX_ZIP_BYTES // 1_000_000} MB")
                files += 1
        os.replace(work, dest)
        return Unpacked(Stored(dest, created=True), refused, files)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
        _drop_if_unused(folder)


def _safe_dir(part: str) -> str:
    cleaned = _REPEATS.sub(r"\1", _UNSAFE.sub("_", unicodedata.normalize("NFC", part))).strip("._- ")
    return cleaned[:MAX_NAME_CHARS] or "folder"


def _refuse_member(info: zipfile.ZipInfo, shown: str) -> str | None:
    if member_path(shown) is None:
        return "路径不安全（绝对路径或含 ..）"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "符号链接，已忽略"
    if info.flag_bits & 0x1:
        return "已加密，无法读取"
    if PurePosixPath(shown).name.startswith(".") or "__MACOSX" in shown.split("/"):
        return "隐藏文件，已忽略"
    kind = file_type(shown)
    if kind not in DOCUMENT_TYPES:
        return f"不支持的文件类型 {kind or '（无扩展名）'}"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"解压后超过 {MAX_MEMBER_BYTES // 1_000_000} MB"
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1_000_000:
        return "压缩比异常（疑似压缩炸弹）"
    return None


def _copy_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int) -> int | None:
    """Copy one member, stopping past `limit` bytes (headers can lie); None if too big."""
    written = 0
    with archive.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(1 << 16):
            written += len(chunk)
            if written > limit:
                return None
            out.write(chunk)
    return written
