"""kill -9 at random points of an ingest, several times over: after every kill the
archive opens, its counts agree everywhere, no article is half stored, search works,
and the next ingest finishes the job without redoing what was committed (fast: a
hashing embedder in a child process stands in for the model)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from fakes import FakeEmbedder

from rag.config import Settings
from rag.service import Service

ARTICLES = 300
TRIALS = 10

# The child: ingest the folder with a hashing embedder that takes a little time per call,
# committing often, so a kill lands between, inside and after commits.
CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from fakes import FakeEmbedder
    from rag.config import Settings
    from rag.service import Service

    class Slow(FakeEmbedder):
        def embed_passages(self, texts):
            time.sleep(0.03 * len(texts))
            return super().embed_passages(texts)

    settings = Settings.load(env={{}}, index_dir={index!r}, embedding_model="fake-embedder",
                             embed_group=4, commit_every=4)
    Service(settings, embedder=Slow()).ingest([{docs!r}])
""")


def _corpus(folder: Path) -> None:
    folder.mkdir()
    for i in range(ARTICLES):
        (folder / f"{i:03d}.txt").write_text(
            f"青川第{i}号新闻\n\n2025-{1 + i % 12:02d}-{1 + i % 28:02d}\n\n本报讯 青川市第{i}个社区"
            f"今年新建口袋公园{i + 3}个，总面积{i + 1}.5万平方米。居民说，散步的地方多了。"
            f"社区还新增停车位{10 * i + 7}个。", encoding="utf-8")


def _counts(db: Path) -> tuple[int, int, int]:
    """(articles, passages, articles without passages) as committed."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]
        passages = con.execute("SELECT count(*) FROM passages").fetchone()[0]
        bare = con.execute("SELECT count(*) FROM articles a WHERE NOT EXISTS "
                           "(SELECT 1 FROM passages p WHERE p.article_rowid = a.rowid)").fetchone()[0]
        return articles, passages, bare
    finally:
        con.close()


def test_random_kill_points_never_lose_or_half_store_an_article(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _corpus(docs)
    index = tmp_path / "index"
    tests = str(Path(__file__).parent)
    code = CHILD.format(tests=tests, index=str(index), docs=str(docs))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tests).parent), os.environ.get("PYTHONPATH", "")])}
    rng = random.Random(7)
    settings = Settings.load(env={}, index_dir=index, embedding_model="fake-embedder")
    before = 0
    kills = 0
    for _trial in range(TRIALS):
        child = subprocess.Popen([sys.executable, "-c", code], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.2, 3.0))  # start-up (imports) takes about a second
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait()
        assert child.returncode in (0, -signal.SIGKILL), child.stderr.read() if child.stderr else ""
        if not (index / "archive.db").exists():
            continue
        articles, passages, bare = _counts(index / "archive.db")
        assert bare == 0  # an article is stored with all its passages or not at all
        assert articles >= before  # nothing committed is ever lost
        before = articles
        service = Service(settings, embedder=FakeEmbedder())
        try:
            stats = service.stats()
            assert (stats["articles"], stats["passages"]) == (articles, passages)
            if articles:
                hits = service.search("青川社区口袋公园", k=5)
                assert hits and all(h.title.startswith("青川第") for h in hits)
        finally:
            service.close()
    assert kills >= TRIALS // 2  # most trials really were interrupted

    embedder = FakeEmbedder()
    service = Service(settings, embedder=embedder)
    report = service.ingest([docs])
    assert len(report.unchanged) == before and len(report.added) == ARTICLES - before
    assert service.stats()["articles"] == ARTICLES
    assert _counts(index / "archive.db")[2] == 0
    hits = service.search("第77个社区", k=3, mode="bm25")
    assert hits and hits[0].title == "青川第77号新闻"
    service.close()
