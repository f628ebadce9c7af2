"""A Ray that cannot be started or reached is a message, and the archive is untouched."""

import pytest
from fakes import FakeEmbedder

from rag.archive.distributed import IngestError
from rag.config import Settings
from rag.service import Service

ray = pytest.importorskip("ray")


def test_an_unreachable_ray_is_a_message_and_nothing_is_ingested(tmp_path, archive, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance.\nmore detail")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder")
    service = Service(settings, embedder=FakeEmbedder())
    with pytest.raises(IngestError, match=r"cannot start or reach the Ray cluster at ray://head:10001 "
                                          r"\(Could not find any running Ray instance\.\); nothing was ingested"):
        service.ingest([archive], ray="ray://head:10001")
    assert service.stats()["articles"] == 0
    service.close()
