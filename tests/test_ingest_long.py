"""A huge document with no article breaks: stored in parts, with progress, and an
interrupted ingest keeps the parts it committed (fakes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeEmbedder

from rag.config import Settings
from rag.ingest import MAX_ARTICLE_CHARS, split_long
from rag.service import Service
from rag.types import Article

SENTENCE = "本报讯 记者从市住建局获悉，今年全市新开工保障性住房{n}套，比去年增长百分之十五。"


def _one_line(sentences: int) -> str:
    return "".join(SENTENCE.format(n=1000 + i) for i in range(sentences))


def test_a_long_article_is_cut_between_sentences_into_titled_parts() -> None:
    text = _one_line(1300)  # 55,900 characters
    parts = split_long(Article("x", "page.txt#0", "住房建设", text, "page.txt"), 20_000)
    assert len(parts) == 3 and all(len(p.text) <= 20_000 for p in parts)
    assert "".join(p.text for p in parts) == text
    assert all(p.text.endswith("。") for p in parts)  # between sentences
    assert [p.title for p in parts] == ["住房建设（1/3）", "住房建设（2/3）", "住房建设（3/3）"]
    assert len({p.id for p in parts}) == 3 and parts[1].key == "page.txt#0#part-2"
    # one sentence longer than the limit is cut inside it, nothing lost
    parts = split_long(Article("y", "k", "长句", "长" * 45_000, "s"), 20_000)
    assert [len(p.text) for p in parts] == [20_000, 20_000, 5_000]
    short = Article("z", "k", "短文", "短文正文。", "s")
    assert split_long(short) == [short]


class Interrupted(Exception):
    pass


class StopsAfter(FakeEmbedder):
    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls_left = calls

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        if self.calls_left == 0:
            raise Interrupted
        self.calls_left -= 1
        return super().embed_passages(texts)


def test_an_interrupted_ingest_of_a_huge_file_keeps_its_committed_parts(tmp_path: Path) -> None:
    page = tmp_path / "dump.txt"
    page.write_text(_one_line(4 * MAX_ARTICLE_CHARS // len(SENTENCE) + 10), encoding="utf-8")
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             embed_group=16, commit_every=16)
    service = Service(settings, embedder=StopsAfter(calls=2))  # each part is one call to the model
    seen: list[tuple[int, int]] = []
    with pytest.raises(Interrupted):
        service.ingest([page], progress=lambda done, total: seen.append((done, total)))
    assert seen[0][0] == 0 and seen[0][1] > 300  # the whole job is known up front
    assert len({total for _, total in seen}) == 1 and seen[-1][0] < seen[-1][1]
    service.close()

    service = Service(settings, embedder=FakeEmbedder())
    kept = {a.title for a in service.articles()}
    assert len(kept) == 2 and all(t.endswith(("（1/5）", "（2/5）")) for t in kept)  # whole parts, committed
    report = service.ingest([page])
    assert len(report.unchanged) == len(kept) and report.added
    assert len(service.articles()) == len(kept) + len(report.added) == 5
    service.close()
