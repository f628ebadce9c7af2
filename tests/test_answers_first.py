"""Questions come first: while an answer is being written, ingest embeds nothing."""

from __future__ import annotations

import threading
import time

from fakes import FakeEmbedder

from rag.config import Settings
from rag.service import Service


class SlowGenerator:
    """Writes its answer only once `release` is set, and notes when it started."""

    name = "slow"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None):
        self.started.set()
        self.release.wait(30)
        yield "岭南镇苹果总产量预计12万吨。[1]"

    def generate(self, messages, *, max_tokens, temperature=0.0, stop=None):
        return "".join(self.stream(messages, max_tokens=max_tokens))


class StampingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def embed_passages(self, texts):
        self.stamps.append(time.monotonic())
        return super().embed_passages(texts)


def test_ingest_waits_while_an_answer_is_written(tmp_path, archive):
    embedder = StampingEmbedder()
    generator = SlowGenerator()
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             refuse_below=0, embed_group=8)
    service = Service(settings, embedder=embedder, generator=generator)
    service.ingest([archive])
    more = tmp_path / "more"
    more.mkdir()
    for i in range(30):
        (more / f"{i}.txt").write_text(f"第{i}篇\n\n2025-07-0{i % 9 + 1}\n\n" + f"青川新闻第{i}条，内容编号{i}。" * 20,
                                       encoding="utf-8")

    asking = threading.Thread(target=service.ask, args=("岭南镇苹果总产量预计多少？",))
    asking.start()
    assert generator.started.wait(10)
    before = len(embedder.stamps)
    ingesting = threading.Thread(target=service.ingest, args=([more],))
    ingesting.start()
    time.sleep(1.0)
    assert len(embedder.stamps) == before  # the upload waits for the answer
    released = time.monotonic()
    generator.release.set()
    asking.join(10)
    ingesting.join(30)
    assert not ingesting.is_alive()
    later = embedder.stamps[before:]
    assert len(later) > 1 and min(later) >= released  # every batch after the answer
    assert service.stats()["articles"] == 5 + 30
    service.close()
