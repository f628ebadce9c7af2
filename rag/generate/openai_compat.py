"""Any server that speaks OpenAI's chat-completions API: vLLM, Ollama, llama.cpp, DeepSeek.

Only the standard library: one POST to ``{base_url}/chat/completions``, JSON back, or
server-sent events (``data: {...}`` lines ending with ``data: [DONE]``) when streaming.
"""

from __future__ import annotations

import http.client
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
_ERROR_BODY_LIMIT = 4000


class OpenAIGenerator:
    """A chat model behind an OpenAI-compatible HTTP endpoint.

    `base_url` is the API root, e.g. ``http://localhost:8000/v1``. The API key is read
    from the environment variable `api_key_env` on every request and sent as a bearer
    token (servers that need none accept its absence); it never appears in messages or
    logs. `timeout` bounds each wait for the server (every read, so a stream that stalls
    mid-answer fails too); `connect_timeout` (default: `timeout`, at most 10 s) bounds
    opening the connection.
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
        conn, response = self._post(self._payload(messages, max_tokens, temperature, stop, False))
        try:
            body = self._read(response.read)
        finally:
            conn.close()
        data = self._json(body)
        try:
            content = data["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise GenerationError(
                f"{self.name}: {self.url} answered without choices[0].message: {body[:300]!r}"
            ) from None
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
        conn, response = self._post(self._payload(messages, max_tokens, temperature, stop, True))
        return self._events(conn, response, StopScanner(stop))

    # ----------------------------------------------------------------- protocol
    def _payload(
        self, messages: Sequence[Message], max_tokens: int, temperature: float,
        stop: Sequence[str] | None, stream: bool,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_dict() for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if stop:
            payload["stop"] = list(stop)
        return payload

    def _post(self, payload: dict[str, Any]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urlsplit(self.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(parts.hostname or "", parts.port, timeout=self.connect_timeout)
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if payload["stream"] else "application/json",
            "User-Agent": f"rag-news/{__version__}",
        }
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.connect()
        except TimeoutError:
            conn.close()
            raise GenerationTimeoutError(
                f"{self.name}: could not connect to {self.url} within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            conn.close()
            raise GenerationError(
                f"{self.name}: cannot reach {self.url}: {exc.strerror or exc} "
                "(is the server running, and is base_url right?)"
            ) from None
        assert conn.sock is not None
        conn.sock.settimeout(self.timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
        except TimeoutError:
            conn.close()
            raise GenerationTimeoutError(
                f"{self.name}: {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise GenerationError(f"{self.name}: request to {self.url} failed: {exc!r}") from None
        if response.status >= 400:
            try:
                detail = _error_detail(response.read(_ERROR_BODY_LIMIT))
            except (OSError, http.client.HTTPException):
                detail = ""
            finally:
                conn.close()
            message = (
                f"{self.name}: {self.url} answered HTTP {response.status} {response.reason}"
                + (f": {detail}" if detail else "")
            )
            if response.status in (400, 413) and _OVERFLOW.search(detail):
                raise ContextOverflowError(message, max_tokens=payload["max_tokens"])
            raise GenerationError(message)
        return conn, response

    def _events(
        self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse, scanner: StopScanner
    ) -> Iterator[str]:
        try:
            while True:
                raw = self._read(response.readline)
                if not raw:
                    break  # the server closed the stream; some never send [DONE]
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue  # blank separators, ": keep-alive" comments, "event:" names
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = self._json(data.encode("utf-8"))
                choices = event.get("choices") or []
                delta = (choices[0].get("delta") or {}).get("content") if choices else None
                if delta:
                    text = scanner.feed(str(delta))
                    if text:
                        yield text
                    if scanner.stopped:
                        return
            tail = scanner.flush()
            if tail:
                yield tail
        finally:
            conn.close()

    def _read(self, read: Any) -> bytes:
        try:
            return bytes(read())
        except TimeoutError:
            raise GenerationTimeoutError(
                f"{self.name}: {self.url} stopped sending for {self.timeout:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise GenerationError(f"{self.name}: reading from {self.url} failed: {exc!r}") from None

    def _json(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except ValueError:
            raise GenerationError(
                f"{self.name}: {self.url} did not answer with JSON: {body[:300]!r}"
            ) from None
        if not isinstance(data, dict):
            raise GenerationError(f"{self.name}: {self.url} answered {body[:300]!r}")
        if data.get("error"):
            raise GenerationError(f"{self.name}: {self.url} reported an error: {_error_detail(body)}")
        return data


def _error_detail(body: bytes) -> str:
    """The human part of an error body: OpenAI's ``{"error": {"message"}}`` or the text."""
    text = body.decode("utf-8", "replace").strip()
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
