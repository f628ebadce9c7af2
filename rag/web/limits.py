"""Failed logins limited per client, so a password cannot be guessed at network speed.

`LoginLimit` wraps the web server (ASGI): after `attempts` failed logins from one client
address within `window` seconds, further login attempts from it are answered 429 with
the seconds to wait, until the oldest failure leaves the window. A successful login
clears nothing; it is simply not counted. Behind a reverse proxy every client shares the
proxy's address, so there the proxy should limit logins itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ATTEMPTS = 5
WINDOW_S = 60.0


class LoginLimit:
    def __init__(self, app: ASGIApp, attempts: int = ATTEMPTS, window: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.attempts, self.window, self.clock = app, attempts, window, clock
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or not str(scope.get("path", "")).rstrip("/").endswith("/login")):
            await self.app(scope, receive, send)
            return
        client = str((scope.get("client") or ("unknown",))[0])
        now = self.clock()
        recent = self._recent(client, now)
        if len(recent) >= self.attempts:
            wait = max(1, int(self.window - (now - recent[0])) + 1)
            body = json.dumps({"detail": f"登录失败次数过多，请 {wait} 秒后再试。"}, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"retry-after", str(wait).encode()), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                with self._lock:
                    self._failures.setdefault(client, []).append(self.clock())
            await send(message)

        await self.app(scope, receive, counted)
