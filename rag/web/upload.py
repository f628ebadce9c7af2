"""Uploads into the archive: each file stored safely, indexed, and reported in Chinese."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.web.files import UploadError, file_type, store_upload, unpack_zip

if TYPE_CHECKING:
    from rag.service import Service

# Reasons the readers give for skipping a file, in the reader's words, shown in Chinese.
_REASONS = [
    ("empty file (only whitespace)", "空文件（只有空白字符）"),
    ("empty file (no records)", "空文件（没有记录）"),
    ("empty file", "空文件"),
    ("binary file, not text", "二进制文件，不是文本"),
    ("could not detect a text encoding", "无法识别文字编码"),
    ("encrypted PDF", "PDF 已加密（需要密码）"),
    ("no extractable text in PDF", "PDF 中没有可提取的文字（扫描件需先做文字识别）"),
    ("corrupt PDF", "PDF 文件已损坏"),
    ("corrupt DOCX", "DOCX 文件已损坏"),
    ("corrupt HTML", "HTML 文件已损坏"),
    ("corrupt gzip", "gzip 压缩文件已损坏"),
    ("no article text found", "没有找到正文"),
    ("no text in", "文件中没有文字"),
    ("unsupported file type", "不支持的文件类型"),
    ("invalid JSON", "JSON 格式错误"),
    ("record is not a JSON object", "记录不是 JSON 对象"),
    ("record has no text", "记录没有正文"),
    ("cannot read file", "无法读取文件"),
    ("cannot read folder", "无法读取文件夹"),
]


def reason_zh(reason: str) -> str:
    """A reader's skip reason in Chinese (the original kept for details it carries)."""
    for english, chinese in _REASONS:
        if reason.startswith(english):
            rest = reason[len(english):].strip(" :")
            return f"{chinese}（{rest.strip('()')}）" if rest else chinese
    return reason


def ingest_upload(
    service: "Service", path: Path, name: str, uploads: Path,
    on_embed: Callable[[int, int], None], title_of: Callable[[str], str],
) -> dict[str, Any]:
    """Store one uploaded file (a zip is unpacked) in `uploads/` and index it.

    Returns what happened, JSON-able: `file`, `status` (added / updated / unchanged /
    duplicate / skipped), `label` and `detail` in Chinese (naming what was skipped and
    why), and the article ids added, updated, unchanged and removed. A file from which
    nothing new could be indexed is not kept.
    """
    notes: list[str] = []
    try:
        if file_type(name) == ".zip":
            unpacked = unpack_zip(path, name, uploads)
            stored = unpacked.folder
            notes += [f"{member}：{reason}" for member, reason in unpacked.refused[:10]]
            if len(unpacked.refused) > 10:
                notes.append(f"另有 {len(unpacked.refused) - 10} 个文件未解压")
            if not unpacked.files:
                stored.restore()
                return _result(name, "skipped", "zip 中没有可读取的文件", notes)
        else:
            stored = store_upload(path, name, uploads)
    except UploadError as exc:
        return _result(name, "skipped", str(exc))
    report = service.ingest([stored.path], progress=on_embed)
    if not (report.added or report.updated or report.unchanged):
        stored.restore()  # nothing of it is in the archive: no copy kept
    for s in report.skipped[:10]:
        where = _display_source(s.source, stored.path)
        notes.append(f"{where}：{reason_zh(s.reason)}" if where != name else reason_zh(s.reason))
    if len(report.skipped) > 10:
        notes.append(f"另有 {len(report.skipped) - 10} 处未能读取")
    counts = []
    if report.added:
        titles = "、".join(f"《{title_of(a)}》" for a in report.added[:3])
        more = " 等" if len(report.added) > 3 else ""
        counts.append(f"新增 {len(report.added)} 篇：{titles}{more}")
    if report.updated:
        counts.append(f"更新 {len(report.updated)} 篇")
    if report.unchanged:
        counts.append(f"{len(report.unchanged)} 篇已收录，内容未变")
    if report.duplicates:
        counts.append(f"{len(report.duplicates)} 篇与库中已有文章重复，未重复收录")
    if report.removed:
        counts.append(f"移除 {len(report.removed)} 篇（文件中已不再有）")
    status = (
        "added" if report.added else "updated" if report.updated
        else "unchanged" if report.unchanged else "duplicate" if report.duplicates else "skipped"
    )
    if counts:
        result = _result(name, status, "；".join(counts), notes)
    else:
        result = _result(name, status, "；".join(notes) or "没有找到可收录的文章")
    result.update(added=list(report.added), updated=list(report.updated),
                  unchanged=list(report.unchanged), removed=list(report.removed))
    return result


_LABELS = {"added": "已新增", "updated": "已更新", "unchanged": "未变", "duplicate": "重复", "skipped": "已跳过"}


def _result(name: str, status: str, detail: str, notes: Sequence[str] = ()) -> dict[str, Any]:
    text = detail if not notes else f"{detail}。{'；'.join(notes)}"
    return {"file": name, "status": status, "label": _LABELS[status], "detail": text}


def _display_source(source: str, stored: Path) -> str:
    """A skipped source named relative to the upload (a zip member, a JSONL line)."""
    base = str(stored)
    if source.startswith(base):
        rest = source[len(base):].lstrip("/\\")
        return rest or stored.name
    return Path(source).name
