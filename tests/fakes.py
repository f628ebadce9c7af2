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


class CrashingModel:
    """A stand-in model for the worker process: answers by echoing the question, and
    kills its own process with `signal` mid-answer when the prompt contains `crash_on`."""

    name = "crashing"

    def __init__(self, crash_on: str = "崩溃", signal: str = "SIGSEGV", n_ctx: int = 4096,
                 delay: float = 0.0) -> None:
        self.crash_on = crash_on
        self.delay = delay
        self.signal = signal
        self.n_ctx = n_ctx
        self.calls = 0

    def warm_up(self) -> None:
        if self.crash_on == "load":
            self._die()

    def system_info(self) -> str:
        return "fake: AVX2 = 1"

    def _die(self) -> None:
        import os
        import signal

        os.kill(os.getpid(), getattr(signal, self.signal))

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None):
        from rag.generate import ContextOverflowError

        prompt = "".join(m.content for m in messages)
        if len(prompt) + max_tokens > self.n_ctx:
            raise ContextOverflowError("too long", prompt_tokens=len(prompt), max_tokens=max_tokens,
                                       n_ctx=self.n_ctx)
        self.calls += 1
        return self._deltas(prompt, max_tokens)

    def _deltas(self, prompt, max_tokens):
        import time

        yield "答："
        if self.crash_on in prompt:
            time.sleep(0.05)
            self._die()
        for piece in [prompt[-8:], f"（第{self.calls}次）", "[1]"][:max_tokens]:
            time.sleep(self.delay)
            yield piece

    def generate(self, messages, *, max_tokens, temperature=0.0, stop=None):
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop))


def crashing_worker(conn, backend, options):
    """A model worker's entry point serving `CrashingModel(**options)`."""
    from rag.generate.serving import serve_requests

    conn.send(("hello", {}))
    serve_requests(conn, CrashingModel(**options))


def answer_all_gate():
    """An answer gate that shows every candidate, the model's own sentences before a
    quoted evidence sentence (use with ask(..., risk=1.0))."""
    from rag.answer.gate import Gate, Model

    model = Model(("quoted",), (-1.0,), 0.0, (0.0,), (1.0,), ())
    return Gate(model, model)
