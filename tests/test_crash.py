"""kill -9 in the middle of an ingest leaves an index that stats and search can use."""

import gzip
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import SHARED

pytestmark = pytest.mark.slow


def rag(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, timeout=600,
        **kwargs,
    )


def committed_articles(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_kill_9_mid_ingest_then_stats_search_and_resume(tmp_path):
    source = SHARED / "corpus" / "news2023" / "news2023-01.jsonl.gz"
    data = tmp_path / "news.jsonl"
    with gzip.open(source, "rt", encoding="utf-8") as fh:
        data.write_text("".join(itertools.islice(fh, 300)), encoding="utf-8")
    index = tmp_path / "index"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "ingest", "--index", str(index), str(data), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 600
    while committed_articles(index / "archive.db") == 0:
        assert proc.poll() is None, "ingest ended before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    survived = committed_articles(index / "archive.db")
    assert 0 < survived < 300

    stats = rag("stats", "--index", str(index), "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["articles"] == survived

    search = rag("search", "经济", "--index", str(index), "--json")
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)["hits"]
    assert hits and "Traceback" not in search.stderr

    resumed = rag("ingest", "--index", str(index), str(data), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    summary = re.findall(r"(added|unchanged|duplicates) (\d+)", resumed.stdout)
    counts = {word: int(n) for word, n in summary}
    assert counts["unchanged"] >= survived  # nothing committed before the kill is redone
    assert counts["added"] + counts["unchanged"] + counts["duplicates"] == 300
    final = json.loads(rag("stats", "--index", str(index), "--json").stdout)
    assert final["articles"] == survived + counts["added"]
