"""What every generator shares: messages, the Generator protocol, errors, stop handling."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol, TypeGuard, runtime_checkable

from rag.errors import GenerationError

Role = Literal["system", "user", "assistant"]
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat turn: who speaks (`system`, `user` or `assistant`) and what they say."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"message role must be one of {', '.join(_ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"message content must be a str, got {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        """The OpenAI-style ``{"role": ..., "content": ...}`` form backends consume."""
        return {"role": self.role, "content": self.content}


@runtime_checkable
class Generator(Protocol):
    """A chat model: messages in, text out, whole or as a stream of text deltas.

    `name` identifies the backend and model (it is recorded with answers). Both methods
    decode greedily at temperature 0. `stop` strings end the answer and are not part of
    it. Failures raise GenerationError; a prompt that cannot fit together with
    `max_tokens` raises ContextOverflowError before any generation starts, where the
    backend can count tokens.
    """

    name: str

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]: ...


def writes(generator: Generator | None) -> TypeGuard[Generator]:
    """Whether `generator` writes text of its own (a language model), as opposed to one
    that only quotes its passages (the extractive backend sets `writes = False`)."""
    return generator is not None and bool(getattr(generator, "writes", True))


class GenerationTimeoutError(GenerationError):
    """The model or endpoint did not answer in time."""


class ContextOverflowError(GenerationError):
    """The prompt and the tokens reserved for the answer do not fit in the context window.

    `prompt_tokens` and `n_ctx` are None when only a remote server knew them.
    """

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int | None = None,
        max_tokens: int | None = None,
        n_ctx: int | None = None,
    ) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.n_ctx = n_ctx


def check_context(name: str, prompt_tokens: int, max_tokens: int, n_ctx: int) -> None:
    """Raise ContextOverflowError unless `prompt_tokens + max_tokens` fits in `n_ctx`."""
    if prompt_tokens + max_tokens > n_ctx:
        raise ContextOverflowError(
            f"{name}: the prompt has {prompt_tokens} tokens and max_tokens is {max_tokens}, "
            f"{prompt_tokens + max_tokens} in all, but the context window holds {n_ctx}; "
            "send fewer or shorter passages, or lower max_tokens",
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            n_ctx=n_ctx,
        )


def check_request(messages: Sequence[Message], max_tokens: int, temperature: float) -> None:
    """Reject calls no backend can serve; these are caller bugs, so ValueError/TypeError."""
    if not messages:
        raise ValueError("messages is empty")
    for message in messages:
        if not isinstance(message, Message):
            raise TypeError(f"messages must be Message objects, got {type(message).__name__}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be 0 or more, got {temperature}")


class StopScanner:
    """Cuts a stream of text deltas at the first stop string, which is not emitted.

    Text that could be the start of a stop string is held back until the next delta
    shows whether it is, so no delta ever contains part of a stop string.
    """

    def __init__(self, stop: Sequence[str] | None) -> None:
        self.stops = [s for s in (stop or ()) if s]
        self.stopped = False
        self._held = ""

    def feed(self, delta: str) -> str:
        """The part of `delta` (plus held-back text) that is safe to emit now."""
        if self.stopped:
            return ""
        if not self.stops:
            return delta
        text = self._held + delta
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(text)), hold, -1):
                if text.endswith(s[:k]):
                    hold = k
                    break
        self._held = text[len(text) - hold:] if hold else ""
        return text[: len(text) - hold]

    def flush(self) -> str:
        """Held-back text at the end of the stream (it turned out not to be a stop)."""
        held, self._held = ("" if self.stopped else self._held), ""
        return held


class OneAtATime:
    """A lock for a model that serves one call at a time, across threads.

    A stream holds it until it is read to the end or closed. The same thread asking again
    while its own stream is open would wait forever, so that is an error instead.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._owner: int | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for the duration of the block."""
        me = threading.get_ident()
        if self._owner == me:
            raise GenerationError(
                f"{self.name}: a stream from this generator is still open in this thread; "
                "read it to the end or close() it first"
            )
        with self._lock:
            self._owner = me
            try:
                yield
            finally:
                self._owner = None


class JoinedGenerate:
    """`generate` as the joined `stream`: one decoding path, so the two always agree."""

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        raise NotImplementedError

    def generate(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """The whole answer to `messages`, at most `max_tokens` tokens."""
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop))
