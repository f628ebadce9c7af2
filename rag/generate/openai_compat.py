"""Any server that speaks OpenAI's chat-completions API: vLLM, Ollama, llama.cpp, DeepSeek.

Spoken through the official `openai` client (imported on first use): its streaming,
timeouts and typed errors, each turned into this product's errors with the URL and
what to check.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from rag import __version__
from rag.errors import ConfigError
from rag.generate.base import (
    ContextOverflowError,
    GenerationError,
    GenerationTimeoutError,
    Message,
    StopScanner,
    check_request,
)

# How servers word "prompt too long" (OpenAI, vLLM, llama.cpp server, Ollama, DeepSeek).
_OVERFLOW = re.compile(
    r"context[_ ]length|maximum context|context window|exceeds? the (?:available )?context|too many tokens",
    re.IGNORECASE,
)
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


class OpenAIGenerator:
    """A chat model behind an OpenAI-compatible HTTP endpoint.

    `base_url` is the API root, e.g. ``http://localhost:8000/v1``. The API key is read
    from the environment variable `api_key_env` on every request and sent as a bearer
    token (with none, no Authorization header is sent, for servers that need none); it
    never appears in messages or logs. `timeout` bounds each wait for the server (every
    read, so a stream that stalls mid-answer fails too); `connect_timeout` (default:
    `timeout`, at most 10 s) bounds opening the connection. Requests are not retried:
    a failure reaches the caller at once, with the URL and the reason.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        connect_timeout: float | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"base_url must be an http(s) URL, got {base_url!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if not model:
            raise ValueError("model is empty")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else min(timeout, 10.0)
        self.name = f"openai:{model}@{self.base_url}"

    def warm_up(self) -> None:
        """Nothing to load; the server holds the model."""

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """The server's answer to `messages`, at most `max_tokens` tokens."""
        check_request(messages, max_tokens, temperature)
        reply = self._create(messages, max_tokens, temperature, stop, stream=False)
        try:
            content = reply.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise GenerationError(f"{self.name}: {self.url} answered without choices[0].message") from None
        scanner = StopScanner(stop)
        return scanner.feed(str(content)) + scanner.flush()

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The answer as text deltas; connection and HTTP errors are raised by this call."""
        check_request(messages, max_tokens, temperature)
        chunks = self._create(messages, max_tokens, temperature, stop, stream=True)
        return self._deltas(chunks, StopScanner(stop))

    # ----------------------------------------------------------------- protocol
    def _client(self) -> Any:
        import openai

        key = os.environ.get(self.api_key_env, "").strip()
        return openai.OpenAI(
            base_url=self.base_url, api_key=key or "none", max_retries=0,
            default_headers={"User-Agent": f"rag-news/{__version__}"},
            timeout=openai.Timeout(self.timeout, connect=self.connect_timeout),
        )

    def _create(self, messages: Sequence[Message], max_tokens: int, temperature: float,
                stop: Sequence[str] | None, *, stream: bool) -> Any:
        import openai

        extra: dict[str, Any] = {"stop": list(stop)} if stop else {}
        if not os.environ.get(self.api_key_env, "").strip():
            extra["extra_headers"] = {"Authorization": openai.Omit()}  # a server that needs no key
        try:
            return self._client().chat.completions.create(
                model=self.model, messages=[m.to_dict() for m in messages],  # type: ignore[misc]
                max_tokens=max_tokens, temperature=temperature, stream=stream, **extra,
            )
        except openai.APITimeoutError:
            raise GenerationTimeoutError(
                f"{self.name}: {self.url} did not answer within {self.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise GenerationError(
                f"{self.name}: cannot reach {self.url}: {_reason(exc)} "
                "(is the server running, and is base_url right?)") from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, max_tokens) from None

    def _status_error(self, exc: Any, max_tokens: int) -> GenerationError:
        response = exc.response
        detail = _error_detail(response.text)
        message = (f"{self.name}: {self.url} answered HTTP {response.status_code} {response.reason_phrase}"
                   + (f": {detail}" if detail else ""))
        if response.status_code in (401, 403):
            message += f" (check the key in ${self.api_key_env})"
        if response.status_code in (400, 413) and _OVERFLOW.search(detail):
            return ContextOverflowError(message, max_tokens=max_tokens)
        return GenerationError(message)

    def _deltas(self, chunks: Any, scanner: StopScanner) -> Iterator[str]:
        import openai

        try:
            for chunk in chunks:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    text = scanner.feed(str(delta))
                    if text:
                        yield text
                    if scanner.stopped:
                        return
            tail = scanner.flush()
            if tail:
                yield tail
        except openai.APITimeoutError:
            raise GenerationTimeoutError(
                f"{self.name}: {self.url} stopped sending for {self.timeout:g} s") from None
        except openai.APIError as exc:
            raise GenerationError(f"{self.name}: reading from {self.url} failed: {exc}") from None
        except Exception as exc:  # the HTTP library's own, raised while reading the stream
            if _is_timeout(exc):
                raise GenerationTimeoutError(
                    f"{self.name}: {self.url} stopped sending for {self.timeout:g} s") from None
            if _is_http(exc):
                raise GenerationError(f"{self.name}: reading from {self.url} failed: {exc!r}") from None
            raise
        finally:
            chunks.close()


def _is_timeout(exc: BaseException) -> bool:
    """A read timeout of the client's HTTP library (httpx or its successor)."""
    return any(t.__name__ in ("TimeoutException", "TimeoutError") for t in type(exc).__mro__)


def _is_http(exc: BaseException) -> bool:
    return any(t.__name__ in ("HTTPError", "TransportError", "StreamError") for t in type(exc).__mro__)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, as the OS words it (Connection refused)."""
    cause: BaseException | None = exc
    while cause is not None and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    return _ERRNO.sub("", str(cause or exc)) or type(cause or exc).__name__


def _error_detail(body: str) -> str:
    """The human part of an error body: OpenAI's ``{"error": {"message"}}`` or the text."""
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    if isinstance(error, str):
        return error[:500]
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:500]
    return text[:500]
