"""An index knows which embedding made its vectors and which format holds them: another
runtime or an older format is refused with advice, and `rag reindex` embeds the stored
passages again (or converts them) without reading any file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder

from rag.config import Settings
from rag.errors import StoreError
from rag.service import Service


class Runtime(FakeEmbedder):
    """A fake embedder that names its runtime and weights, and can shift its vectors."""

    def __init__(self, runtime: str, checksum: str, shift: float = 0.0) -> None:
        super().__init__()
        self.runtime, self.weights, self.shift = runtime, checksum, shift

    @property
    def checksum(self) -> str:
        return self.weights

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        v = super().embed_passages(texts) + self.shift
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                         embed_group=2, commit_every=2)


def test_another_runtime_is_refused_until_reindex(archive, tmp_path: Path) -> None:
    old = Service(_settings(tmp_path), embedder=Runtime("sentence-transformers", "aaaa" * 16))
    old.ingest([archive])
    passages = old.stats()["passages"]
    assert old.stats()["embedding_runtime"] == "sentence-transformers"
    old.close()

    new_embedder = Runtime("onnx", "bbbb" * 16, shift=0.01)
    new = Service(_settings(tmp_path), embedder=new_embedder)
    with pytest.raises(StoreError, match=r"embedded with sentence-transformers.*rag reindex.*RAG_EMBEDDING_RUNTIME=sentence-transformers"):
        new.search("青川地铁", k=3)
    with pytest.raises(StoreError, match="rag reindex"):
        new.ingest([archive])
    assert new.search("青川地铁", k=3, mode="bm25")  # words need no vectors
    assert new.stats()["articles"] > 0  # and nothing was lost

    seen: list[tuple[int, int]] = []
    assert new.reindex(progress=lambda done, total: seen.append((done, total))) == (passages, True)
    assert new_embedder.passages_embedded == passages and seen[-1] == (passages, passages)
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedding"]["runtime"] == "onnx" and manifest["embedding"]["checksum"] == "bbbb" * 16
    hits = new.search("青川地铁", k=3)
    assert hits and hits[0].dense_score is not None
    new.close()

    # a fresh service with the same runtime opens it as is; the old one is now refused
    again = Service(_settings(tmp_path), embedder=Runtime("onnx", "bbbb" * 16, shift=0.01))
    assert again.search("青川地铁", k=3)
    report = again.ingest([archive])
    assert report.passages_embedded == 0 and not report.added
    again.close()
    back = Service(_settings(tmp_path), embedder=Runtime("sentence-transformers", "aaaa" * 16))
    with pytest.raises(StoreError, match="embedded with onnx"):
        back.search("青川地铁", k=3)
    back.close()


def test_reindex_gives_the_vectors_a_fresh_ingest_would(archive, tmp_path: Path) -> None:
    first = Service(_settings(tmp_path), embedder=Runtime("a", "a" * 64))
    first.ingest([archive])
    first.close()
    service = Service(_settings(tmp_path), embedder=Runtime("b", "b" * 64, shift=0.05))
    service.reindex()
    fresh = Service(_settings(tmp_path / "fresh"), embedder=Runtime("b", "b" * 64, shift=0.05))
    fresh.ingest([archive])
    for query in ("青川地铁", "马拉松冠军", "医院病床"):
        got = [(h.passage.text, round(h.dense_score or 0, 5)) for h in service.search(query, k=5, mode="dense")]
        want = [(h.passage.text, round(h.dense_score or 0, 5)) for h in fresh.search(query, k=5, mode="dense")]
        assert got == want
    service.close()
    fresh.close()


def _as_first_format(index: Path, dim: int) -> None:
    """Rewrite an index as the first format wrote it: float32 vector blobs, version 1."""
    db = sqlite3.connect(str(index / "archive.db"))
    rows = db.execute("SELECT rowid, vector FROM passages").fetchall()
    db.executemany("UPDATE passages SET vector = ? WHERE rowid = ?", [
        (np.frombuffer(v, dtype="<f2").astype("<f4").tobytes(), r) for r, v in rows])
    db.commit()
    db.close()
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    (index / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_an_index_of_the_first_format_is_converted_without_embedding(archive, tmp_path: Path) -> None:
    service = Service(_settings(tmp_path), embedder=Runtime("onnx", "c" * 64))
    service.ingest([archive])
    before = [(h.passage.id, round(h.dense_score or 0, 3)) for h in service.search("青川地铁", k=5)]
    stats = service.stats()
    service.close()
    _as_first_format(tmp_path / "index", dim=FakeEmbedder().dim)

    old = Service(_settings(tmp_path), embedder=Runtime("onnx", "c" * 64))
    for use in (lambda: old.search("青川地铁", k=3), lambda: old.ingest([archive]), old.stats):
        with pytest.raises(StoreError, match=r"older version of rag \(format 1.*rag reindex --index"):
            use()
    old.close()

    embedder = Runtime("onnx", "c" * 64)
    service = Service(_settings(tmp_path), embedder=embedder)
    assert service.reindex() == (stats["passages"], False)
    assert embedder.passages_embedded == 0  # converted, not embedded
    assert service.stats()["format_version"] == 2
    assert service.stats()["passages"] == stats["passages"]
    after = [(h.passage.id, round(h.dense_score or 0, 3)) for h in service.search("青川地铁", k=5)]
    assert after == before
    service.close()


def test_an_index_of_the_first_format_made_by_other_weights_is_embedded_again(archive, tmp_path: Path) -> None:
    service = Service(_settings(tmp_path), embedder=Runtime("sentence-transformers", "d" * 64))
    service.ingest([archive])
    passages = service.stats()["passages"]
    service.close()
    _as_first_format(tmp_path / "index", dim=FakeEmbedder().dim)
    embedder = Runtime("onnx", "e" * 64, shift=0.02)
    service = Service(_settings(tmp_path), embedder=embedder)
    assert service.reindex() == (passages, True)
    assert embedder.passages_embedded == passages
    assert service.search("青川地铁", k=3)[0].dense_score is not None
    service.close()
