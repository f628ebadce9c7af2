"""Problems with input paths: each is a named skip, never a traceback, never a lost file.

The readers must look at a file's type before opening it, so they never open a FIFO.
Should one ever do so, the `fifos` fixture unblocks it (a writer opens and closes the
FIFO, which gives the reader end-of-file), so such a bug fails a test instead of
hanging the run.
"""

import contextlib
import errno
import os
import pathlib
import socket
import threading
from pathlib import Path

import pytest

from rag.cli import format_report
from rag.ingest import load_articles
from rag.ingest import readers as readers_module
from rag.ingest.readers import iter_raw
from rag.types import Article, IngestReport, RawDoc, Skipped

GOOD = (
    "松溪镇新建的社区图书馆本周正式开放。\n\n"
    "本报讯 松溪镇社区图书馆于本周一正式向居民开放，馆内藏书一万二千册。"
    "图书馆每天开放十个小时，周末还为孩子们安排了读书活动。"
    "镇文化站负责人表示，今后将定期更新书目，并与县图书馆实现通借通还。"
)

as_root = os.geteuid() == 0


def docs_and_skips(*paths) -> tuple[list[RawDoc], dict[str, str]]:
    items = list(iter_raw(paths))
    docs = [i for i in items if isinstance(i, RawDoc)]
    skips = {i.source: i.reason for i in items if isinstance(i, Skipped)}
    assert len(docs) + len(skips) == len(items), items
    return docs, skips


def make_socket(path: Path) -> bool:
    """A Unix socket file at `path` (bound from its folder, for a short name); False if not allowed."""
    here = os.getcwd()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.chdir(path.parent)
        sock.bind(path.name)
    except OSError:
        return False
    finally:
        os.chdir(here)
        sock.close()
    return True


@pytest.fixture
def fifos():
    """Make FIFOs with `fifos(path)`; a reader stuck opening one is released."""
    made: list[Path] = []
    done = threading.Event()

    def unblock() -> None:
        while not done.wait(0.05):
            for path in list(made):
                # Succeeds only while someone has the FIFO open for reading.
                with contextlib.suppress(OSError):
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    watcher = threading.Thread(target=unblock, daemon=True)
    watcher.start()

    def make(path: Path) -> Path:
        os.mkfifo(path)
        made.append(path)
        return path

    yield make
    done.set()
    watcher.join()


@pytest.fixture
def archive(tmp_path, fifos) -> Path:
    """A folder with one good article next to every kind of broken entry."""
    root = tmp_path / "archive"
    root.mkdir()
    (root / "good.txt").write_text(GOOD, encoding="utf-8")
    os.symlink("self.txt", root / "self.txt")
    os.symlink("loop_b.txt", root / "loop_a.txt")
    os.symlink("loop_a.txt", root / "loop_b.txt")
    os.symlink("nowhere.txt", root / "dangling.txt")
    fifos(root / "pipe.txt")
    os.symlink(os.devnull, root / "device.txt")
    (root / "line\nbreak.txt").write_text(GOOD, encoding="utf-8")
    (root / "tab\there.txt").write_text(GOOD, encoding="utf-8")
    (root / "z_last.txt").write_text(GOOD.replace("松溪镇", "柳塘村"), encoding="utf-8")
    return root


def test_every_broken_entry_is_named_and_the_good_files_are_read(archive):
    has_socket = make_socket(archive / "s.sock")
    docs, skips = docs_and_skips(archive)

    assert [d.source for d in docs] == [str(archive / "good.txt"), str(archive / "z_last.txt")]
    assert docs[0].text.startswith("松溪镇新建的社区图书馆")
    expected = {
        "self.txt": "cannot read file (symbolic link loop)",
        "loop_a.txt": "cannot read file (symbolic link loop)",
        "loop_b.txt": "cannot read file (symbolic link loop)",
        "dangling.txt": "cannot read file (dangling symbolic link)",
        "pipe.txt": "cannot read file (not a regular file: FIFO)",
        "device.txt": "cannot read file (not a regular file: character device)",
        "line\nbreak.txt": "cannot read file (control character in file name)",
        "tab\there.txt": "cannot read file (control character in file name)",
    }
    if has_socket:
        expected["s.sock"] = "cannot read file (not a regular file: socket)"
    assert skips == {str(archive / name): reason for name, reason in expected.items()}


def test_walk_order_is_kept_around_broken_entries(archive):
    sources = [i.source for i in iter_raw([archive])]
    assert sources == sorted(sources)


def test_load_articles_survives_a_broken_folder(archive):
    items = list(load_articles([archive]))
    articles = [i for i in items if isinstance(i, Article)]
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert {a.source for a in articles} == {str(archive / "good.txt"), str(archive / "z_last.txt")}
    assert any("松溪镇社区图书馆" in a.text for a in articles)
    assert len(skipped) == 8
    assert all(s.reason.startswith("cannot read file (") for s in skipped)


def test_each_broken_path_given_explicitly_is_a_skip(archive, tmp_path):
    cases = {
        archive / "self.txt": "cannot read file (symbolic link loop)",
        archive / "loop_a.txt": "cannot read file (symbolic link loop)",
        archive / "dangling.txt": "cannot read file (dangling symbolic link)",
        archive / "pipe.txt": "cannot read file (not a regular file: FIFO)",
        archive / "device.txt": "cannot read file (not a regular file: character device)",
        archive / "line\nbreak.txt": "cannot read file (control character in file name)",
        tmp_path / "missing.txt": "file not found",
        archive / "good.txt" / "under_a_file.txt": "file not found",
        str(tmp_path / "nul\0.txt"): "cannot read file (control character in file name)",
    }
    for path, reason in cases.items():
        items = list(iter_raw([path]))
        assert items == [Skipped(str(path), reason)], path
    # One bad path among several does not stop the others.
    docs, skips = docs_and_skips(archive / "pipe.txt", archive / "good.txt", archive / "self.txt")
    assert [d.source for d in docs] == [str(archive / "good.txt")]
    assert set(skips) == {str(archive / "pipe.txt"), str(archive / "self.txt")}


def test_a_loop_that_names_a_folder_is_a_skip(tmp_path):
    os.symlink("dir_loop", tmp_path / "dir_loop")
    assert list(iter_raw([tmp_path / "dir_loop" / "x.txt"])) == [
        Skipped(str(tmp_path / "dir_loop" / "x.txt"), "cannot read file (symbolic link loop)")
    ]


def test_folder_symlink_cycles_are_walked_once(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text(GOOD, encoding="utf-8")
    os.symlink("..", root / "sub" / "up")
    os.symlink(str(root), root / "again")
    docs, skips = docs_and_skips(root)
    assert [d.source for d in docs] == [str(root / "sub" / "a.txt")]
    assert skips == {}


def test_a_folder_name_with_a_control_character_is_a_skip(tmp_path):
    bad = tmp_path / "new\nfolder"
    bad.mkdir()
    (bad / "a.txt").write_text(GOOD, encoding="utf-8")
    (tmp_path / "ok.txt").write_text(GOOD, encoding="utf-8")
    docs, skips = docs_and_skips(tmp_path)
    assert [d.source for d in docs] == [str(tmp_path / "ok.txt")]
    assert skips == {str(bad): "cannot read folder (control character in folder name)"}
    assert list(iter_raw([bad])) == [
        Skipped(str(bad), "cannot read folder (control character in folder name)")
    ]


def test_a_file_name_that_is_not_utf8_is_a_skip(tmp_path):
    try:
        with open(os.fsencode(tmp_path) + b"/\xff\xfe.txt", "wb") as f:
            f.write(GOOD.encode("utf-8"))
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    (tmp_path / "ok.txt").write_text(GOOD, encoding="utf-8")
    docs, skips = docs_and_skips(tmp_path)
    assert [d.source for d in docs] == [str(tmp_path / "ok.txt")]
    assert list(skips.values()) == ["cannot read file (file name is not valid UTF-8)"]


def test_hidden_broken_entries_stay_silent(tmp_path, fifos):
    (tmp_path / "ok.txt").write_text(GOOD, encoding="utf-8")
    os.symlink(".loop", tmp_path / ".loop")
    fifos(tmp_path / ".pipe")
    docs, skips = docs_and_skips(tmp_path)
    assert [d.source for d in docs] == [str(tmp_path / "ok.txt")]
    assert skips == {}


@pytest.mark.skipif(as_root, reason="root reads files and folders whatever their mode")
def test_files_and_folders_without_permission_are_skips(tmp_path):
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    locked_file = tmp_path / "locked.txt"
    locked_file.write_text(GOOD, encoding="utf-8")
    locked_dir = tmp_path / "locked_dir"
    locked_dir.mkdir()
    (locked_dir / "inner.txt").write_text(GOOD, encoding="utf-8")
    unsearchable = tmp_path / "unsearchable"
    unsearchable.mkdir()
    (unsearchable / "inner.txt").write_text(GOOD, encoding="utf-8")
    locked_file.chmod(0)
    locked_dir.chmod(0)
    unsearchable.chmod(0o444)  # can list the names, cannot reach the files
    try:
        docs, skips = docs_and_skips(tmp_path)
        assert [d.source for d in docs] == [str(tmp_path / "good.txt")]
        assert skips == {
            str(locked_file): "cannot read file (permission denied)",
            str(locked_dir): "cannot read folder (permission denied)",
            str(unsearchable / "inner.txt"): "cannot read file (permission denied)",
        }
        assert list(iter_raw([locked_dir])) == [
            Skipped(str(locked_dir), "cannot read folder (permission denied)")
        ]
        assert list(iter_raw([locked_file])) == [
            Skipped(str(locked_file), "cannot read file (permission denied)")
        ]
    finally:
        for path in (locked_file, locked_dir, unsearchable):
            path.chmod(0o755)


def test_permission_errors_are_skips_even_when_simulated(tmp_path, monkeypatch):
    """The same outcome as above, for a run as root: the errors are raised by hand."""
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    (tmp_path / "locked.txt").write_text(GOOD, encoding="utf-8")
    (tmp_path / "locked_dir").mkdir()
    (tmp_path / "locked_dir" / "inner.txt").write_text(GOOD, encoding="utf-8")

    real_scandir, real_read_bytes = os.scandir, pathlib.Path.read_bytes

    def scandir(path):
        if Path(path).name == "locked_dir":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    def read_bytes(self):
        if self.name == "locked.txt":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(readers_module.os, "scandir", scandir)
    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    docs, skips = docs_and_skips(tmp_path)
    assert [d.source for d in docs] == [str(tmp_path / "good.txt")]
    assert skips == {
        str(tmp_path / "locked.txt"): "cannot read file (permission denied)",
        str(tmp_path / "locked_dir"): "cannot read folder (permission denied)",
    }


def test_skip_report_prints_one_line_per_item():
    report = IngestReport()
    report.skipped += [
        Skipped("/archive/line\nbreak.txt", "cannot read file (control character in file name)"),
        Skipped("/archive/tab\there\x1b[31m.txt", "cannot read file (symbolic link loop)"),
        Skipped("/archive/\udcff.txt", "cannot read file (file name is not valid UTF-8)"),
        Skipped("/archive/报道.txt", "empty file"),
    ]
    report.duplicates.append(Skipped("/archive/a\nb.txt#0", "duplicate of article x from /c\rd"))
    lines = format_report(report).split("\n")
    assert lines[1:] == [
        "  skipped /archive/line\\nbreak.txt: cannot read file (control character in file name)",
        "  skipped /archive/tab\\there\\x1b[31m.txt: cannot read file (symbolic link loop)",
        "  skipped /archive/\\udcff.txt: cannot read file (file name is not valid UTF-8)",
        "  skipped /archive/报道.txt: empty file",
        "  duplicate /archive/a\\nb.txt#0: duplicate of article x from /c\\rd",
    ]
    format_report(report).encode("utf-8")  # printable: no lone surrogates left


def test_rag_ingest_of_a_broken_folder_indexes_the_good_files(rag, archive):
    code, out, err = rag("ingest", str(archive), "--quiet")
    assert code == 1
    assert "Traceback" not in out + err
    lines = out.splitlines()
    good = [a for a in load_articles([archive]) if isinstance(a, Article)]
    assert lines[0].startswith(f"added {len(good)},") and "skipped 8" in lines[0]
    assert len(lines) == 9
    skipped = lines[1:9]
    assert all(line.startswith(f"  skipped {archive}/") for line in skipped), skipped
    assert f"  skipped {archive}/line\\nbreak.txt: cannot read file (control character in file name)" in skipped
    assert f"  skipped {archive}/pipe.txt: cannot read file (not a regular file: FIFO)" in skipped
    assert f"  skipped {archive}/self.txt: cannot read file (symbolic link loop)" in skipped
