"""What the service puts around its embedder: the vectors of recent questions kept
(`RecentQueries`), and ingest that gives way to answers (`AnswersFirst`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from rag.models.embedder import Embedder


class RecentQueries:
    """The embedder, keeping the vectors of the last few questions: a question is embedded
    once, for retrieval, and its vector reused by the answer gate."""

    SIZE = 64

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._recent: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def embed_queries(self, texts: Sequence[str]) -> Any:
        if len(texts) != 1:
            return self._embedder.embed_queries(texts)
        with self._lock:
            vector = self._recent.get(texts[0])
            if vector is not None:
                self._recent.move_to_end(texts[0])
                return vector
        vector = self._embedder.embed_queries(texts)
        vector.flags.writeable = False  # shared by every caller of this question
        with self._lock:
            self._recent[texts[0]] = vector
            while len(self._recent) > self.SIZE:
                self._recent.popitem(last=False)
        return vector


class AnswersFirst:
    """An embedder for ingest that lets answers have the CPU: before each group of
    passages it embeds, it waits while an answer is being written. Groups are embedded
    whole, as they would be otherwise: the vectors do not depend on the questions asked."""

    def __init__(self, embedder: Embedder, wait: Callable[[], None]) -> None:
        self._embedder = embedder
        self._wait = wait

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def embed_passages(self, texts: Sequence[str]) -> Any:
        self._wait()
        return self._embedder.embed_passages(texts)
