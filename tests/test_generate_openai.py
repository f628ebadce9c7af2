"""OpenAIGenerator against a tiny chat-completions server on 127.0.0.1 (no network)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rag.generate import (
    ContextOverflowError,
    GenerationError,
    GenerationTimeoutError,
    Message,
    OpenAIGenerator,
)

MESSAGES = [Message("system", "只根据资料回答。"), Message("user", "青川地铁2号线多长？")]
DELTAS = ["青川", "地铁2号线", "全长26.8", "公里。[1]"]
KEY = "sk-test-secret-123"


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.requests: list[tuple[str, Any, dict]] = []
        self.release = threading.Event()  # lets a stalled handler finish at teardown

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers, body))  # names case-insensitive
        mode = self.server.mode
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        if mode == "unauthorized":
            return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        if mode == "error":
            return self._json(500, {"error": {"message": "model crashed", "type": "server_error"}})
        if mode == "overflow":
            return self._json(400, {"error": {"message": "This model's maximum context length is "
                                              "2048 tokens. However, you requested 4000 tokens."}})
        if mode == "text-error":
            return self._send(502, "text/plain", b"Bad Gateway from proxy")
        if not body["stream"]:
            text = "".join(DELTAS)
            return self._json(200, {"id": "c1", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text},
                 "finish_reason": "stop"}]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        self.wfile.write(b": keep-alive comment\n\n")
        for i, delta in enumerate(DELTAS):
            if mode == "stall" and i == 2:
                self.wfile.flush()
                self.server.release.wait(10)
                return
            self._event({"choices": [{"index": 0, "delta": {"content": delta}}]})
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, data: dict) -> None:
        self.wfile.write(b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, status: int, data: dict) -> None:
        self._send(status, "application/json", json.dumps(data, ensure_ascii=False).encode())

    def _send(self, status: int, kind: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def make(server: FakeServer, **options) -> OpenAIGenerator:
    return OpenAIGenerator(server.base_url, "qwen2.5-7b", api_key_env="RAG_TEST_KEY", **options)


def test_non_streaming_answer_and_request(server, monkeypatch):
    monkeypatch.setenv("RAG_TEST_KEY", KEY)
    answer = make(server).generate(MESSAGES, max_tokens=32, stop=["\n\n"])
    assert answer == "青川地铁2号线全长26.8公里。[1]"
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert body == {"model": "qwen2.5-7b", "max_tokens": 32, "temperature": 0.0, "stream": False,
                    "stop": ["\n\n"], "messages": [m.to_dict() for m in MESSAGES]}


def test_streaming_yields_the_deltas(server, monkeypatch):
    monkeypatch.delenv("RAG_TEST_KEY", raising=False)
    deltas = list(make(server).stream(MESSAGES, max_tokens=32))
    assert deltas == DELTAS
    _, headers, body = server.requests[0]
    assert "Authorization" not in headers and body["stream"] is True


def test_stop_strings_are_applied_even_if_the_server_ignores_them(server):
    gen = make(server)
    assert list(gen.stream(MESSAGES, max_tokens=32, stop=["26.8"])) == ["青川", "地铁2号线", "全长"]
    assert gen.generate(MESSAGES, max_tokens=32, stop=["全长"]) == "青川地铁2号线"


def test_http_error_names_url_and_status_but_not_the_key(server, monkeypatch):
    monkeypatch.setenv("RAG_TEST_KEY", KEY)
    server.mode = "error"
    gen = make(server)
    for call in (lambda: gen.generate(MESSAGES, max_tokens=8), lambda: gen.stream(MESSAGES, max_tokens=8)):
        with pytest.raises(GenerationError) as info:
            call()
        message = str(info.value)
        assert f"{server.base_url}/chat/completions answered HTTP 500" in message
        assert "model crashed" in message and KEY not in message


def test_a_wrong_key_says_which_setting_to_check_but_not_the_key(server, monkeypatch):
    monkeypatch.setenv("RAG_TEST_KEY", KEY)
    server.mode = "unauthorized"
    with pytest.raises(GenerationError) as info:
        make(server).generate(MESSAGES, max_tokens=8)
    message = str(info.value)
    assert "HTTP 401" in message and "Incorrect API key provided" in message
    assert "check the key in $RAG_TEST_KEY" in message and KEY not in message


def test_non_json_error_body_is_shown(server):
    server.mode = "text-error"
    with pytest.raises(GenerationError, match="HTTP 502 Bad Gateway: Bad Gateway from proxy"):
        make(server).generate(MESSAGES, max_tokens=8)


def test_context_length_error_is_a_context_overflow(server):
    server.mode = "overflow"
    with pytest.raises(ContextOverflowError, match="maximum context length is 2048") as info:
        make(server).generate(MESSAGES, max_tokens=8)
    assert info.value.max_tokens == 8


def test_wrong_path_gives_404_with_url(server):
    gen = OpenAIGenerator(server.base_url.removesuffix("/v1"), "m")
    with pytest.raises(GenerationError, match=r"/chat/completions answered HTTP 404"):
        gen.generate(MESSAGES, max_tokens=8)


def test_unreachable_port_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gen = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "m", timeout=2)
    with pytest.raises(GenerationError, match=rf"cannot reach http://127.0.0.1:{port}/v1/chat/completions: "
                                              r"Connection refused \(is the server running"):
        gen.generate(MESSAGES, max_tokens=8)


def test_server_that_never_answers_times_out_quickly():
    # The kernel completes the handshake for a listening socket nobody accepts from.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        gen = OpenAIGenerator(url, "m", timeout=1)
        start = time.monotonic()
        with pytest.raises(GenerationTimeoutError, match=rf"{url}/chat/completions did not answer within 1 s"):
            gen.generate(MESSAGES, max_tokens=8)
        with pytest.raises(GenerationTimeoutError):
            gen.stream(MESSAGES, max_tokens=8)
        assert time.monotonic() - start < 4


def test_stream_that_stalls_midway_times_out(server):
    server.mode = "stall"
    stream = make(server, timeout=1).stream(MESSAGES, max_tokens=32)
    received = []
    start = time.monotonic()
    with pytest.raises(GenerationTimeoutError, match="stopped sending for 1 s"):
        for delta in stream:
            received.append(delta)
    assert received == DELTAS[:2]
    assert time.monotonic() - start < 3
