"""Test doubles: fast, deterministic stand-ins for the models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.models.embedder import HashEmbedder


class FakeEmbedder(HashEmbedder):
    """Character n-gram hashing (similar texts get similar vectors) that counts its work,
    so tests can prove that nothing was embedded twice."""

    def __init__(self, dim: int = 128, model_id: str = "fake-embedder") -> None:
        super().__init__(dim=dim, model_id=model_id)
        self.passages_embedded = 0
        self.queries_embedded = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries_embedded += len(texts)
        return super().embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return super().embed_passages(texts)


class ScriptedGenerator:
    """Returns prepared replies in order and records the prompts it was given."""

    name = "scripted"

    def __init__(self, *replies):
        self.replies = list(replies)
        self.prompts = []

    def generate(self, messages, *, max_tokens, temperature=0.0, stop=None):
        self.prompts.append(messages)
        return self.replies.pop(0)

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None):
        text = self.generate(messages, max_tokens=max_tokens)
        yield from (text[i : i + 3] for i in range(0, len(text), 3))
