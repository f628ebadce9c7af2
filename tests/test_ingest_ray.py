"""Ingest on Ray (a real local Ray, the real default embedder): the same index and report
as a local ingest, bad files reported by name, nothing embedded twice."""

import json
import os
import pickle
import sqlite3

import numpy as np
import pytest
from conftest import ARTICLES

from rag.archive import distributed
from rag.archive.base import NewArchive
from rag.archive.distributed import LOST, ingest_ray
from rag.archive.search import Retriever
from rag.archive.stores import open_archive
from rag.archive.update import ingest
from rag.archive.vectors import decode_vectors
from rag.config import Settings
from rag.models.embedder import make_embedder
from rag.types import Skipped

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")

RECORDS = [
    {"id": "rec-1", "title": "青川数据中心投运", "published": "2025-05-08", "source": "青川日报",
     "text": "青川云计算数据中心5月8日正式投运，总投资18亿元，可容纳机柜6000个。"},
    {"id": "rec-2", "title": "寒潮来袭气温骤降", "published": "2025-01-10", "source": "青川晚报",
     "text": "受寒潮影响，青川市未来三天气温将下降10到12摄氏度，最低气温零下9度。"},
]
# Two reports of one event whose first passages are the same text: embedded once.
BRIDGE = ("青川大桥主桥今天合龙，这是全市跨度最大的斜拉桥。大桥全长3.2公里，主跨680米，双向六车道，"
          "设计时速80公里。项目总投资46亿元，由市交通投资集团建设，历时三年。建设者克服了汛期施工、"
          "深水基础等多项技术难题。合龙仪式上，市长宣布大桥将于年底前通车。大桥两端将新建两座互通立交，"
          "与绕城高速和滨江大道相连。桥面铺装采用新型环氧沥青，可抵御重载交通和高温天气。夜间景观照明"
          "工程也将同步完工。大桥主塔高达220米，是目前省内最高的桥塔。施工期间，项目部累计开展安全培训"
          "120余场。据介绍，大桥采用了智能监测系统，可实时掌握桥梁结构的健康状况。")
RECORDS += [
    {"id": "rec-3", "title": "青川大桥合龙", "published": "2025-07-01",
     "text": BRIDGE + "通车后，城东到机场的车程将由一小时缩短到二十分钟。沿线居民表示非常期待。"},
    {"id": "rec-4", "title": "青川大桥合龙", "published": "2025-07-01",
     "text": BRIDGE + "大桥通车后还将配套建设两座公交枢纽，方便市民换乘。市民纷纷表示出行将更加便利。"},
]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def settings():
    # Small groups and commits, so that several actors share the work and a group reuses
    # a text another group embeds.
    return Settings.load(env={}, embed_group=2, commit_every=3)


@pytest.fixture(scope="module")
def embedder(settings):
    return make_embedder(settings.embedding_model, threads=settings.threads,
                         batch_size=settings.embed_batch_size, runtime=settings.embedding_runtime)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A folder of good files (one in a subfolder), a corrupt PDF and a corrupt gzip."""
    folder = tmp_path_factory.mktemp("news")
    (folder / "more").mkdir()
    for name, text in ARTICLES.items():
        where = folder / "more" if name == "marathon.txt" else folder
        (where / name).write_text(text, encoding="utf-8")
    (folder / "news.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(2000))
    (folder / "old.jsonl.gz").write_bytes(b"this is not gzip at all\n" * 10)
    return folder


def new_store(uri, settings, embedder):
    return open_archive(str(uri), create=lambda: NewArchive(
        settings.embedding_model, embedder.dim, getattr(embedder, "checksum", None),
        {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap},
        getattr(embedder, "runtime", None)))


def stored_vectors(store):
    """{passage id: vector} of everything in the store's database."""
    with sqlite3.connect(store.directory / "archive.db") as db:
        rows = db.execute("SELECT id, vector FROM passages").fetchall()
    return dict(zip([r[0] for r in rows], decode_vectors([r[1] for r in rows], store.dim), strict=True))


def outcome(report):
    return (report.added, report.updated, report.unchanged, report.removed, report.skipped,
            report.duplicates, report.passages_embedded)


@pytest.fixture(scope="module")
def built(local_ray, settings, embedder, files, tmp_path_factory):
    """The files ingested on Ray and locally, each into its own store."""
    paths = [files, files / "missing.txt"]
    calls = []
    on_ray = new_store(tmp_path_factory.mktemp("ray") / "index", settings, embedder)
    ray_report = ingest_ray(on_ray, paths, settings=settings, address=None,
                            progress=lambda done, total: calls.append((done, total)))
    local = new_store(tmp_path_factory.mktemp("local") / "index", settings, embedder)
    local_report = ingest(local, embedder, paths, chunk_size=settings.chunk_size,
                          chunk_overlap=settings.chunk_overlap, embed_group=settings.embed_group,
                          commit_every=settings.commit_every)
    yield on_ray, ray_report, local, local_report, paths, calls
    on_ray.close()
    local.close()


def test_bad_files_are_reported_by_name_and_the_good_ones_land(built, files):
    store, report, *_ = built
    skipped = {s.source: s.reason for s in report.skipped}
    assert set(skipped) == {str(files / "broken.pdf"), str(files / "old.jsonl.gz"),
                            str(files / "missing.txt")}
    assert "PDF" in skipped[str(files / "broken.pdf")]
    assert "gzip" in skipped[str(files / "old.jsonl.gz")]
    assert skipped[str(files / "missing.txt")] == "file not found"
    assert len(report.added) == 7 and report.passages_embedded > 0
    assert {a.source for a in store.list_articles()} == {
        str(files / n) for n in ("metro.txt", "apple.txt", "more/marathon.txt", "news.jsonl")}


def test_the_articles_are_searchable(built, embedder):
    store, *_ = built
    retriever = Retriever(store, embedder)
    assert "地铁" in retriever.search("地铁2号线土建工程完成了多少", k=3)[0].title
    assert "寒潮" in retriever.search("寒潮 气温", k=3, mode="bm25")[0].title
    assert "苹果" in retriever.search("苹果产量", k=3, mode="dense")[0].title
    assert "大桥" in retriever.search("大桥主跨多少米", k=3)[0].title


def test_same_report_and_index_as_a_local_ingest(built):
    on_ray, ray_report, local, local_report, _, _ = built
    assert outcome(ray_report) == outcome(local_report)
    passages = sum(len(local.passages_of(a)) for a in local_report.added)
    assert ray_report.passages_embedded == passages - 1  # the bridge's shared first passage
    for article_id in ray_report.added:
        assert on_ray.article(article_id) == local.article(article_id)
        assert on_ray.passages_of(article_id) == local.passages_of(article_id)
    mine, theirs = stored_vectors(on_ray), stored_vectors(local)
    assert mine.keys() == theirs.keys()
    for passage_id, vector in mine.items():
        np.testing.assert_allclose(vector, theirs[passage_id], atol=1e-6)
    assert len(on_ray.bm25_index()) == len(local.bm25_index()) == len(mine)


def test_ray_into_milvus_gives_the_local_report_and_archive(built, settings, embedder, tmp_path):
    """Ray workers read and embed; the driver writes to Milvus Lite."""
    _, _, local, local_report, paths, _ = built
    milvus = new_store(f"milvus:{tmp_path / 'archive.db'}", settings, embedder)
    try:
        report = ingest_ray(milvus, paths, settings=settings, address=None)
        assert outcome(report) == outcome(local_report)
        assert milvus.counts() == local.counts()
        for article_id in report.added:
            assert milvus.passages_of(article_id) == local.passages_of(article_id)
        assert "寒潮" in Retriever(milvus, embedder).search("寒潮 气温", k=3)[0].title
    finally:
        milvus.close()


def test_progress_counts_up_to_all_passages(built):
    _, _, local, local_report, _, calls = built
    total = sum(len(local.passages_of(a)) for a in local_report.added)
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_second_run_finds_everything_unchanged(built, settings):
    store, first, *_ = built
    paths = built[4]
    generation = store.generation()
    again = ingest_ray(store, paths, settings=settings, address=None)
    assert sorted(again.unchanged) == sorted(first.added)
    assert not (again.added or again.updated or again.removed or again.duplicates)
    assert again.passages_embedded == 0
    assert again.skipped == first.skipped  # unreadable files remove nothing
    assert store.generation() == generation


def test_a_file_that_kills_its_worker_is_reported_and_the_rest_still_read(
    local_ray, files, monkeypatch,
):
    real = distributed._read_file
    victim = str(files / "apple.txt")

    def crash_on_victim(row):
        if str(row["path"]) == victim:
            os._exit(1)
        return real(row)

    monkeypatch.setattr(distributed, "_read_file", crash_on_victim)
    items = distributed._read([files / "apple.txt", files / "metro.txt"])
    assert items[0] == Skipped(victim, LOST)
    assert [a.title for a in items[1:]] == ["青川地铁2号线完成85%工程量"]


def test_an_exception_while_reading_becomes_a_skipped_row(monkeypatch):
    def boom(paths):
        raise RuntimeError("reader bug")

    monkeypatch.setattr(distributed, "load_articles", boom)
    rows = distributed._read_file({"file": 3, "path": "/news/a.txt"})
    assert [(r["file"], r["seq"]) for r in rows] == [(3, 0)]
    assert pickle.loads(rows[0]["item"]) == Skipped(
        "/news/a.txt", "cannot read file (RuntimeError: reader bug)")


def test_the_cli_ingests_on_ray_into_milvus_and_names_the_bad_files(local_ray, files, tmp_path, capsys):
    from rag import cli

    uri = f"milvus:{tmp_path / 'archive.db'}"
    code = cli.main(["ingest", "--quiet", "--ray", "--store", uri, str(files)])
    out = capsys.readouterr().out
    assert code == 1  # some files were skipped
    assert "added 7, updated 0, unchanged 0, removed 0, duplicates 0, skipped 2" in out
    assert "broken.pdf" in out and "old.jsonl.gz" in out
    assert cli.main(["stats", "--json", "--store", uri]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["store"] == "milvus" and stats["articles"] == 7
