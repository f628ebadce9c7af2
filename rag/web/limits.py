"""The server's door: the API key on the chat API and MCP tools, and failed attempts
limited per client, so neither a password nor a key can be guessed at network speed.

`Guard` wraps the web server (ASGI):
- Requests under `KEYED` (the OpenAI-compatible API, the MCP tools) need
  ``Authorization: Bearer KEY`` with one of `keys`, when keys are set. A missing or wrong
  key is answered 401 in OpenAI's error shape.
- The page's login (``POST …/login``) is Gradio's; a refused login is counted here.
- After `attempts` failures (refused logins and refused keys together) from one client
  address within `window` seconds, its next login or keyed request is answered 429 with
  the seconds to wait, until the oldest failure leaves the window. Success clears
  nothing; it is simply not counted.

Behind a reverse proxy every client shares the proxy's address, so there the proxy
should limit attempts itself.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ATTEMPTS = 5
WINDOW_S = 60.0
# Paths that take the API key instead of the page's login.
KEYED = ("/v1/", "/gradio_api/mcp")


def error_body(message: str, kind: str, code: str | None = None) -> bytes:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}},
                      ensure_ascii=False).encode()


async def send_json(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def bearer(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if there is one."""
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            kind, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() if kind.lower() == "bearer" else None
    return None


class Guard:
    def __init__(self, app: ASGIApp, keys: Sequence[str] = (), attempts: int = ATTEMPTS,
                 window: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.attempts, self.window, self.clock = app, attempts, window, clock
        self.keys = tuple(k.encode() for k in keys if k)
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        with self._lock:
            kept = [t for t in self._failures.get(client, []) if now - t < self.window]
            if kept:
                self._failures[client] = kept
            else:
                self._failures.pop(client, None)
            return kept

    def _fail(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(self.clock())

    def _key_ok(self, scope: Scope) -> bool:
        token = (bearer(scope) or "").encode()
        return any(hmac.compare_digest(token, key) for key in self.keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        keyed = scope["type"] == "http" and bool(self.keys) and path.startswith(KEYED)
        login = (scope["type"] == "http" and scope.get("method") == "POST"
                 and path.rstrip("/").endswith("/login"))
        if not (keyed or login):
            await self.app(scope, receive, send)
            return
        client = str((scope.get("client") or ("unknown",))[0])
        now = self.clock()
        recent = self._recent(client, now)
        if len(recent) >= self.attempts:
            wait = max(1, int(self.window - (now - recent[0])) + 1)
            if keyed:
                body = error_body(f"too many failed attempts from this address; try again in {wait} s",
                                  "rate_limit_error", "rate_limit_exceeded")
            else:
                body = json.dumps({"detail": f"登录失败次数过多，请 {wait} 秒后再试。"}, ensure_ascii=False).encode()
            await send_json(send, 429, body, [(b"retry-after", str(wait).encode())])
            return
        if keyed:
            if not self._key_ok(scope):
                self._fail(client)
                given = "a wrong API key" if bearer(scope) else "no API key"
                body = error_body(f"{given}: send the server's key as 'Authorization: Bearer KEY'",
                                  "invalid_request_error", "invalid_api_key")
                await send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])
                return
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                self._fail(client)
            await send(message)

        await self.app(scope, receive, counted)
