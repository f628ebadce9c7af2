"""The two stores behind one boundary: which one is used, and moving an archive from the
folder to Milvus (Milvus Lite, real pymilvus) without embedding anything again."""

import json

import numpy as np
import pytest
from conftest import store_setting
from fakes import FakeEmbedder

from rag.archive.milvus.client import milvus_uri
from rag.archive.milvus.expressions import filter_expression, lexical_text, tokens_back
from rag.archive.search import Filters
from rag.config import Settings
from rag.errors import StoreError
from rag.service import Service

QUERIES = ("地铁2号线土建工程完成了多少", "苹果产量", "数据中心总投资", "马拉松报名人数", "寒潮 气温")


def make(tmp_path, kind, embedder=None):
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             store=store_setting(kind, tmp_path))
    return Service(settings, embedder=embedder or FakeEmbedder())


def test_stats_say_which_store_holds_the_archive(any_service, archive):
    any_service.ingest([archive])
    stats = any_service.stats()
    assert stats["store"] == any_service.store().kind
    assert stats["index"] == any_service.settings.store_uri
    assert (stats["articles"], stats["sources"]) == (5, 4)
    assert stats["passages"] == any_service.store().counts()["passages"] > 0
    assert stats["disk_bytes"] > 0


def test_both_stores_hold_the_same_archive_and_rank_it_alike(tmp_path, archive):
    folder, milvus = make(tmp_path, "folder"), make(tmp_path, "milvus")
    for service in (folder, milvus):
        service.ingest([archive])
    assert [(a.id, a.title, a.published, a.n_passages) for a in folder.articles()] == \
        [(a.id, a.title, a.published, a.n_passages) for a in milvus.articles()]
    for query in QUERIES:
        for mode in ("dense", "bm25", "hybrid"):
            ours = [(h.passage.id, h.passage.text) for h in folder.search(query, k=3, mode=mode)]
            theirs = [(h.passage.id, h.passage.text) for h in milvus.search(query, k=3, mode=mode)]
            assert ours == theirs, (query, mode)
    some = folder.articles()[0].id
    assert folder.article(some) == milvus.article(some)
    assert folder.passages(some) == milvus.passages(some)
    a, b = folder.store().article_vectors([some])[some], milvus.store().article_vectors([some])[some]
    assert np.allclose(a, b, atol=1e-3)
    folder.close()
    milvus.close()


def test_migrate_copies_the_archive_to_milvus_without_embedding(tmp_path, archive):
    folder = make(tmp_path, "folder")
    folder.ingest([archive])
    embedder = folder.embedder
    embedded = embedder.passages_embedded
    target = store_setting("milvus", tmp_path)
    assert folder.copy_to(target) == (5, 0)
    assert folder.copy_to(target) == (0, 5)  # again: nothing to copy
    assert embedder.passages_embedded == embedded

    fresh = FakeEmbedder()
    milvus = make(tmp_path, "milvus", embedder=fresh)
    report = milvus.ingest([archive])  # the copy is complete: the files are all unchanged
    assert len(report.unchanged) == 5 and fresh.passages_embedded == 0
    for query in QUERIES:
        assert [h.passage.id for h in folder.search(query, k=3)] == \
            [h.passage.id for h in milvus.search(query, k=3)]
    stored = next(milvus.store().export())
    assert stored.tokens == [t for t in next(folder.store().export()).tokens]  # BM25 tokens kept

    back = tmp_path / "back"  # and back from Milvus to a new folder, again without embedding
    assert milvus.copy_to(str(back)) == (5, 0) and fresh.passages_embedded == 0
    returned = Service(folder.settings.replace(index_dir=back), embedder=FakeEmbedder())
    for query in QUERIES:
        assert [h.passage.id for h in folder.search(query, k=3)] == \
            [h.passage.id for h in returned.search(query, k=3)]
    returned.close()
    folder.close()
    milvus.close()


def test_the_cli_takes_a_store_and_migrates(rag, archive, tmp_path):
    uri = f"milvus:{tmp_path / 'm' / 'archive.db'}"
    code, out, err = rag("ingest", "--quiet", str(archive))
    assert code == 0, err
    code, out, err = rag("migrate", "--quiet", "--to", uri)
    assert code == 0, err
    assert "copied 5 articles" in out and "nothing embedded" in out
    code, out, err = rag("stats", "--json", "--store", uri)
    assert code == 0, err
    stats = json.loads(out)
    assert stats["store"] == "milvus" and stats["articles"] == 5
    code, out, err = rag("search", "--json", "--store", uri, "--since", "2025-05", "数据中心")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert hits and all(h["published"] >= "2025-05" for h in hits)


def test_a_missing_or_malformed_milvus_store_gets_a_message(tmp_path):
    uri = f"milvus:{tmp_path / 'none.db'}"
    service = make(tmp_path, "folder").__class__(Settings.load(env={}, store=uri))
    with pytest.raises(StoreError, match=f"no archive at {uri}.*rag ingest --store"):
        service.store()
    with pytest.raises(StoreError, match=r"must end in \.db"):
        milvus_uri("milvus:./archive")


def test_tokens_reach_milvus_whole_and_come_back():
    tokens = ["北京地铁", "85%", "3.5", "a股", "covid", "x25x", "—"]
    text = lexical_text(tokens)
    assert all(t.isalnum() for t in text.split(" "))  # no analyzer can cut them
    assert tokens_back(text) == tokens


def test_filters_become_milvus_expressions():
    assert filter_expression(Filters()) == ""
    expr = filter_expression(Filters("2025-01-01", "2025-03-31", ("daily_news", '"人民日报"')))
    assert 'published >= "2025-01-01"' in expr and 'published < "2025-03-31~"' in expr
    assert r'source like "%daily\\_news%"' in expr and r'source_name == "\"人民日报\""' in expr


def test_a_milvus_lite_file_open_in_another_process_gets_a_message(tmp_path, archive):
    import subprocess
    import sys

    service = make(tmp_path, "milvus")
    service.ingest([archive])  # this process holds the file
    uri = service.settings.store
    done = subprocess.run([sys.executable, "-m", "rag.cli", "stats", "--store", uri],
                          capture_output=True, text=True, timeout=120)
    service.close()
    assert done.returncode == 2
    assert "another process has the Milvus Lite file" in done.stderr and "milvus-lite server" in done.stderr
    assert "Traceback" not in done.stderr


def test_milvus_can_cut_the_text_with_its_own_jieba_analyzer(tmp_path, archive):
    settings = Settings.load(env={}, embedding_model="fake-embedder", milvus_lexical="jieba",
                             store=store_setting("milvus", tmp_path))
    service = Service(settings, embedder=FakeEmbedder())
    service.ingest([archive])
    assert service.stats()["lexical_index"] == "Milvus BM25 (jieba)"
    for query, title in (("寒潮 气温", "寒潮"), ("苹果产量", "苹果"), ("数据中心总投资", "数据中心")):
        assert title in service.search(query, k=3, mode="bm25")[0].title
    stored = next(service.store().export())  # what a copy to the folder would index
    assert stored.tokens and all(stored.tokens)
    service.close()
