"""Ingest, incremental updates, deletion, filters and crash safety of the index (fake embedder)."""

import json

import pytest

from rag.archive.store import FORMAT_VERSION, Store, StoreError
from rag.service import Service


def titles(hits):
    return [h.title for h in hits]


def test_ingest_then_search_finds_the_right_article(any_service, archive):
    report = any_service.ingest([archive])
    assert len(report.added) == 5 and not report.skipped
    assert report.passages_embedded > 0
    hits = any_service.search("地铁2号线土建工程完成了多少", k=3)
    assert "地铁" in hits[0].title
    top = hits[0]
    assert top.passage.text in any_service.article(top.passage.article_id).text
    assert top.dense_rank is not None and top.bm25_rank is not None
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_each_retriever_alone_and_fused(any_service, archive):
    any_service.ingest([archive])
    for mode in ("bm25", "dense", "hybrid"):
        hits = any_service.search("苹果产量", k=2, mode=mode)
        assert "苹果" in hits[0].title, mode
    bm25_only = any_service.search("苹果产量", k=2, mode="bm25")
    assert all(h.dense_rank is None for h in bm25_only)


def test_reingest_unchanged_embeds_nothing(any_service, archive):
    any_service.ingest([archive])
    embedder = any_service.embedder
    before = embedder.passages_embedded
    report = any_service.ingest([archive])
    assert len(report.unchanged) == 5
    assert not (report.added or report.updated or report.removed)
    assert embedder.passages_embedded == before


def test_reingest_unchanged_writes_nothing(service, archive):
    service.ingest([archive])
    generation = service.store().generation()
    service.ingest([archive])
    assert service.store().generation() == generation


def test_changed_article_replaces_its_passages(any_service, archive):
    any_service.ingest([archive])
    old = [a for a in any_service.articles() if "苹果" in a.title][0]
    old_passages = {p.id for p in any_service.store().passages_of(old.id)}
    path = archive / "apple.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("12万吨", "13万吨"), encoding="utf-8")
    embedder = any_service.embedder
    before = embedder.passages_embedded
    report = any_service.ingest([archive])
    assert len(report.updated) == 1 and len(report.unchanged) == 4
    assert any_service.store().article(old.id) is None
    new = any_service.article(report.updated[0])
    assert "13万吨" in new.text
    assert not old_passages & {p.id for p in any_service.store().passages_of(new.id)}
    # only the passages whose text changed were embedded again
    assert 0 < embedder.passages_embedded - before <= len(old_passages)
    hits = any_service.search("岭南镇苹果总产量", k=5)
    assert all(h.passage.article_id != old.id for h in hits)


def test_record_removed_from_file_is_removed_from_index(any_service, archive):
    any_service.ingest([archive])
    path = archive / "news.jsonl"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    report = any_service.ingest([path])
    assert len(report.removed) == 1
    assert not any("寒潮" in a.title for a in any_service.articles())
    assert "寒潮" not in " ".join(titles(any_service.search("寒潮 气温", k=5)))


def test_delete_removes_the_article_its_passages_and_their_index_entries(any_service, archive):
    any_service.ingest([archive])
    store = any_service.store()
    n_passages = store.counts()["passages"]
    target = [a for a in any_service.articles() if "马拉松" in a.title][0]
    any_service.delete(target.id[:8])  # an unambiguous prefix is enough
    assert store.article(target.id) is None and store.passages_of(target.id) == []
    assert store.counts() == {"articles": 4, "passages": n_passages - target.n_passages}
    if store.kind == "folder":
        assert len(store.vector_index()) == n_passages - target.n_passages
        assert len(store.bm25_index()) == n_passages - target.n_passages
    for mode in ("bm25", "dense", "hybrid"):
        assert all(h.passage.article_id != target.id for h in any_service.search("马拉松报名", mode=mode))
    with pytest.raises(StoreError, match="no article"):
        any_service.delete(target.id)


def test_date_and_source_filters(any_service, archive):
    any_service.ingest([archive])
    hits = any_service.search("青川", k=10, since="2025-05", until="2025-06")
    assert hits and all("2025-05" <= h.published[:7] <= "2025-06" for h in hits)
    hits = any_service.search("青川", k=10, until="2025-01-31")
    assert hits and all(h.published[:10] <= "2025-01-31" for h in hits)
    hits = any_service.search("青川", k=10, sources=["news.jsonl"])
    assert hits and all(h.source.endswith("news.jsonl") for h in hits)
    assert any_service.search("青川", since="2030") == []


def test_per_article_cap(any_service, tmp_path):
    long = "长文标题\n\n" + "".join(f"第{i}段讲的是青川的桥梁建设进展情况。" for i in range(60))
    (tmp_path / "long.txt").write_text(long, encoding="utf-8")
    (tmp_path / "other.txt").write_text("短文\n\n青川新建了一座桥梁。", encoding="utf-8")
    any_service.ingest([tmp_path / "long.txt", tmp_path / "other.txt"])
    hits = any_service.search("桥梁建设", k=5)
    per_article = {}
    for h in hits:
        per_article[h.passage.article_id] = per_article.get(h.passage.article_id, 0) + 1
    assert max(per_article.values()) <= any_service.settings.max_per_article
    assert len(per_article) == 2


def test_bad_file_is_reported_and_loses_nothing(any_service, archive, tmp_path):
    any_service.ingest([archive])
    n = len(any_service.articles())
    bad = tmp_path / "broken.txt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    report = any_service.ingest([bad, empty])
    reasons = {s.source.split("/")[-1]: s.reason for s in report.skipped}
    assert set(reasons) == {"broken.txt", "empty.txt"}
    assert "binary" in reasons["broken.txt"] and "empty" in reasons["empty.txt"]
    assert len(any_service.articles()) == n


def test_duplicate_content_in_another_file_is_not_indexed_twice(any_service, archive, tmp_path):
    any_service.ingest([archive])
    copy = tmp_path / "copy.txt"
    copy.write_text((archive / "metro.txt").read_text(encoding="utf-8"), encoding="utf-8")
    report = any_service.ingest([copy])
    assert len(report.duplicates) == 1 and not report.added
    assert len(any_service.articles()) == 5


def test_index_built_with_another_model_is_refused(service, archive):
    service.ingest([archive])
    with pytest.raises(StoreError, match="fake-embedder.*other-model|other-model.*fake-embedder"):
        Store.open(service.settings.index_dir, embedding_model="other-model")


def test_index_of_another_format_version_is_refused(service, archive):
    service.ingest([archive])
    path = service.settings.index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="version"):
        Store.open(service.settings.index_dir, embedding_model="fake-embedder")


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(StoreError, match="rag ingest"):
        Store.open(tmp_path / "nothing")


def test_second_writer_is_refused(service, archive):
    service.ingest([archive])
    store = service.store()
    other = Store.open(service.settings.index_dir)
    with (
        store.writer(),
        pytest.raises(StoreError, match="another process is writing"),
        other.writer(),
    ):
        pass
    other.close()


def test_stale_derived_files_are_rebuilt_from_sqlite(service, archive):
    """What a kill between the SQLite commit and the FAISS/BM25 save leaves behind."""
    service.ingest([archive])
    directory = service.settings.index_dir
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["generation"] -= 1
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "vectors.faiss").write_bytes(b"garbage")
    service.close()
    hits = service.search("数据中心投资", k=1)
    assert "数据中心" in hits[0].title
    repaired = json.loads((directory / "manifest.json").read_text())
    assert repaired["generation"] == service.store().generation()


def test_manifest_records_model_counts_and_chunking(service, archive):
    service.ingest([archive])
    m = json.loads((service.settings.index_dir / "manifest.json").read_text())
    assert m["embedding"] == {"model": "fake-embedder", "dim": 128, "checksum": None, "runtime": "hash"}
    assert m["counts"]["articles"] == 5
    assert m["counts"]["passages"] == service.store().counts()["passages"]
    assert m["chunking"]["chunk_size"] == service.settings.chunk_size
    assert m["created_at"] and m["updated_at"]



def test_reingest_unchanged_does_not_load_the_model(any_service, archive):
    any_service.ingest([archive])

    class NoModel:
        model_id = "fake-embedder"

        @property
        def dim(self):
            raise AssertionError("the model was loaded")

        def embed_passages(self, texts):
            raise AssertionError("something was embedded")

        embed_queries = embed_passages

    fresh = Service(any_service.settings, embedder=NoModel())
    report = fresh.ingest([archive])
    assert len(report.unchanged) == 5
    fresh.close()


def test_same_folder_by_relative_and_absolute_path_is_one_source(any_service, archive, monkeypatch):
    monkeypatch.chdir(archive.parent)
    any_service.ingest(["archive"])
    report = any_service.ingest([str(archive.absolute()) + "/"])
    assert len(report.unchanged) == 5 and not report.duplicates


def test_latest_date_is_the_newest_article(any_service, archive):
    any_service.ingest([archive])
    assert str(any_service.latest_date()) == max(a.published[:10] for a in any_service.articles() if a.published)


def test_a_source_filter_takes_percent_and_underscore_literally(any_service, tmp_path):
    for name, title in (("daily_news.txt", "青川日报"), ("dailyXnews.txt", "青川晚报"), ("100%.txt", "青川百分")):
        (tmp_path / name).write_text(f"{title}\n\n青川新建了一座桥梁，全长1.2公里。", encoding="utf-8")
    any_service.ingest([tmp_path])
    titles = {h.title for h in any_service.search("青川桥梁", k=10, sources=["daily_news"])}
    assert titles == {"青川日报"}  # _ is not "any character"
    assert {h.title for h in any_service.search("青川桥梁", k=10, sources=["%"])} == {"青川百分"}
