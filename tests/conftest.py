import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeEmbedder  # noqa: E402

from rag import cli  # noqa: E402
from rag import service as service_module
from rag.config import Settings, store_for  # noqa: E402
from rag.service import Service  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

ARTICLES = {
    "metro.txt": "青川地铁2号线完成85%工程量\n\n2025-06-18\n\n本报讯（记者 张明）截至6月中旬，青川市地铁2号线土建工程已完成85%，全线18座车站主体结构全部封顶。\n\n市轨道交通集团表示，2号线计划于今年12月底开通试运营，届时从城东到高铁站只需25分钟。",
    "apple.txt": "岭南镇苹果喜获丰收\n\n2025-09-20\n\n本报讯（记者 李华）岭南镇今年苹果种植面积达3.6万亩，总产量预计12万吨，比去年增长15%。\n\n果农王建国说，今年雨水充足，果子个头大、糖分高，每斤收购价比去年高出两毛钱。",
    "marathon.txt": "青川马拉松报名人数创新高\n\n2025-03-02\n\n本报讯（记者 赵雪）2025青川马拉松报名通道昨日关闭，共有4.2万人报名，创历史新高。\n\n赛事将于4月13日鸣枪开跑，设全程、半程和健康跑三个项目，组委会将通过抽签确定2.5万名参赛者。",
}


@pytest.fixture
def archive(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    records = [
        {"id": "rec-1", "title": "青川数据中心投运", "published": "2025-05-08", "source": "青川日报",
         "text": "青川云计算数据中心5月8日正式投运，总投资18亿元，可容纳机柜6000个。"},
        {"id": "rec-2", "title": "寒潮来袭气温骤降", "published": "2025-01-10", "source": "青川晚报",
         "text": "受寒潮影响，青川市未来三天气温将下降10到12摄氏度，最低气温零下9度。"},
    ]
    (folder / "news.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8"
    )
    return folder


@pytest.fixture
def service(tmp_path):
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder")
    svc = Service(settings, embedder=FakeEmbedder())
    yield svc
    svc.close()


# The two stores every store-independent behaviour is tested on: the folder (SQLite, FAISS,
# bm25s) and Milvus (Milvus Lite, one local file, through the real pymilvus client).
STORES = ("folder", "milvus")


def store_setting(kind, tmp_path):
    """The `store` setting of a fresh archive of this kind under `tmp_path`."""
    return store_for(kind, tmp_path / "milvus")


@pytest.fixture(params=STORES)
def any_service(request, tmp_path):
    """A fake-embedder service over a fresh archive, once in each store."""
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             store=store_setting(request.param, tmp_path))
    svc = Service(settings, embedder=FakeEmbedder())
    yield svc
    svc.close()


# `rag ...` run in-process against a fresh index, with the fake embedder for the model;
# returns (exit code, stdout, stderr).
@pytest.fixture
def rag(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", "fake-embedder")
    monkeypatch.setenv("RAG_INDEX", str(tmp_path / "index"))
    # The default threshold is calibrated for the real model's cosines, not the fake's.
    monkeypatch.setenv("RAG_REFUSE_BELOW", "0")
    monkeypatch.setattr(service_module, "make_embedder", lambda *a, **k: FakeEmbedder())

    def run(*args):
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run
