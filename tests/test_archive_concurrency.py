"""Readers during a write: answers and searches never wait for an ingest, and see only
what it has committed (fakes; the embedder is held mid-ingest by the test)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fakes import FakeEmbedder

from rag.archive import store as store_module
from rag.config import Settings
from rag.generate import ExtractiveGenerator
from rag.service import Service

BRIDGE = "青川跨江大桥合龙\n\n2025-08-08\n\n本报讯 青川跨江大桥全长3.2公里，总投资27亿元，今天合龙。"


class HeldEmbedder(FakeEmbedder):
    """Embeds passages for the thread named "ingest" only once the test lets it: the
    ingest stops inside its write, while questions (which embed too) are answered."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = threading.Event()
        self.waiting = threading.Event()

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        if self.hold.is_set() and threading.current_thread().name == "ingest":
            self.waiting.set()
            while self.hold.is_set():
                time.sleep(0.01)
        return super().embed_passages(texts)


def _tunnel(n: int) -> str:
    return (f"西山{n}号隧道贯通\n\n2025-09-0{n}\n\n本报讯 西山{n}号隧道全长{n}.5公里，"
            f"是全市最长的山岭隧道之一，今天贯通。")


def test_questions_are_answered_while_an_ingest_is_under_way(tmp_path: Path) -> None:
    embedder = HeldEmbedder()
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             refuse_below=0.0, commit_every=1, embed_group=1)
    service = Service(settings, embedder=embedder, generator=ExtractiveGenerator())
    (tmp_path / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    service.ingest([tmp_path / "bridge.txt"])
    docs = tmp_path / "tunnels"
    docs.mkdir()
    for n in (1, 2, 3):
        (docs / f"tunnel{n}.txt").write_text(_tunnel(n), encoding="utf-8")

    embedder.hold.set()
    writing = threading.Thread(target=service.ingest, args=([docs],), name="ingest")
    writing.start()
    try:
        assert embedder.waiting.wait(5), "the ingest never reached the embedder"
        started = time.perf_counter()
        answer = service.ask("青川跨江大桥全长多少？")
        hits = service.search("西山隧道", k=5)
        waited = time.perf_counter() - started
        assert not answer.refused and "3.2公里" in answer.answer
        assert waited < 2.0  # answered at once, not after the ingest (which is held)
        # nothing of the unfinished ingest is seen half-way
        assert all("隧道" not in h.title for h in hits)
        assert service.stats()["articles"] == 1
    finally:
        embedder.hold.clear()
        writing.join(10)
    assert not writing.is_alive()
    titles = {h.title for h in service.search("西山隧道贯通", k=10)}
    assert {"西山1号隧道贯通", "西山2号隧道贯通", "西山3号隧道贯通"} <= titles
    service.close()


def test_the_writing_process_swaps_in_what_each_batch_committed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store_module, "REFRESH_S", 0.0)  # swap at every commit
    monkeypatch.setattr(store_module, "REFRESH_COST", 0)
    embedder = HeldEmbedder()
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             refuse_below=0.0, commit_every=1, embed_group=1)
    service = Service(settings, embedder=embedder)
    (tmp_path / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    service.ingest([tmp_path / "bridge.txt"])
    docs = tmp_path / "tunnels"
    docs.mkdir()
    for n in (1, 2):
        (docs / f"tunnel{n}.txt").write_text(_tunnel(n), encoding="utf-8")
    calls = []
    original = HeldEmbedder.embed_passages

    def second_call_waits(self, texts):  # type: ignore[no-untyped-def]
        calls.append(texts)
        if len(calls) == 2:  # the first tunnel is committed; hold the second
            self.hold.set()
        return original(self, texts)

    monkeypatch.setattr(HeldEmbedder, "embed_passages", second_call_waits)
    writing = threading.Thread(target=service.ingest, args=([docs],), name="ingest")
    writing.start()
    try:
        assert embedder.waiting.wait(5)
        titles = {h.title for h in service.search("西山隧道贯通", k=10)}
        assert "西山1号隧道贯通" in titles and "西山2号隧道贯通" not in titles
    finally:
        embedder.hold.clear()
        writing.join(10)
    titles = {h.title for h in service.search("西山隧道贯通", k=10)}
    assert {"西山1号隧道贯通", "西山2号隧道贯通"} <= titles
    service.close()


def test_the_chat_answers_while_an_upload_is_being_indexed(tmp_path: Path) -> None:
    from rag.web.handlers import Handlers

    embedder = HeldEmbedder()
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             refuse_below=0.0)
    service = Service(settings, embedder=embedder, generator=ExtractiveGenerator())
    (tmp_path / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    service.ingest([tmp_path / "bridge.txt"])
    h = Handlers(service)
    list(h.chat("青川跨江大桥全长多少？", []))  # the first question pays for loading the segmenter
    sent = tmp_path / "upload" / "tunnel1.txt"
    sent.parent.mkdir()
    sent.write_text(_tunnel(1), encoding="utf-8")
    embedder.hold.set()
    uploading = threading.Thread(target=h.ingest, args=([str(sent)],), name="ingest")
    uploading.start()
    try:
        assert embedder.waiting.wait(5)
        started = time.perf_counter()
        *_, (_, _, _, turns) = list(h.chat("青川跨江大桥全长多少？", []))
        assert time.perf_counter() - started < 2.0
        assert turns[-1]["status"] == "answer" and "3.2公里" in turns[-1]["answer"]
    finally:
        embedder.hold.clear()
        uploading.join(10)
    assert {a.title for a in service.articles()} == {"青川跨江大桥合龙", "西山1号隧道贯通"}
    service.close()
