"""The archive as an OpenAI-compatible chat model: ``/v1/chat/completions`` and
``/v1/models`` on the web app's own server (one port, one process, one archive).

Any chat front end or script written for OpenAI's API can ask the archive:

- **Request.** The last user message is the question; the earlier user and assistant
  turns are the conversation, so a follow-up is read as in the page's chat. System
  messages and sampling options are accepted and ignored: the archive answers as it
  always does. The model name is free text. ``as_of`` (a date) may be given beside the
  messages, as `rag ask --as-of` takes it.
- **Answer.** The verified answer keeps its ``[n]`` markers and is followed by its
  sources in Markdown, so any chat window shows them. The response also carries
  ``citations`` (title, date, source, article and passage id, character offsets, the
  passage) and ``refused`` (the archive does not say), beside OpenAI's fields.
- **Streaming.** The verified answer cannot stream as the model drafts it: checking
  may still drop or change a sentence, and a streamed token cannot be taken back. So
  the role is sent at once, then the evidence sentences as soon as retrieval has chosen
  them (about 0.1 s after the question), and then the model's draft as it is written, both
  as ``reasoning_content``: chat front ends that show a model's reasoning (Open WebUI,
  LobeChat) show them live, folded away, and do not send them back as conversation.
  The verified answer and its sources follow as ``content``, in one piece, with the
  citations on the last chunk. A client that ignores reasoning sees only the answer.
- **Errors** come in OpenAI's shape: 400 for a request or question that cannot be read,
  404 for another path, 503 (with Retry-After) while the models load or the model's
  worker is being restarted, 429 when `MAX_WAITING` questions are already waiting. The
  key (401) and failed keys (429) are checked by `rag.web.limits.Guard`, before this.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from rag.errors import InputError, ModelCrashedError, RagError
from rag.results import Answer, Evidence, citation_to_json
from rag.web.limits import ASGIApp, Receive, Scope, Send, error_body, send_json

if TYPE_CHECKING:
    from rag.service import Service

log = logging.getLogger(__name__)

MODEL = "rag-news"
MAX_WAITING = 32  # questions asked through this API and not yet answered
RETRY_AFTER_S = 10
KEEP_ALIVE_S = 15.0  # an SSE comment while nothing else is sent, so proxies keep the stream
SOURCES = "来源："  # the heading of the sources under an answer
CLOSEST = "最接近的资料："  # under a refusal


class RequestError(InputError):
    """A request this API cannot read; the message says which field and why."""


# ------------------------------------------------------------------ requests
def _text(content: Any, where: str) -> str:
    """A message's text: a string, or OpenAI's list of parts (text parts are joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict):
                raise RequestError(f"{where}: each content part must be an object")
            if part.get("type") == "text":
                parts.append(str(part.get("text") or ""))
        return "".join(parts)
    raise RequestError(f"{where}: content must be a string or a list of parts")


def without_sources(answer: str) -> str:
    """An answer of ours as a client sends it back: the sources list under it removed."""
    for heading in (SOURCES, CLOSEST):
        cut = answer.find(f"\n\n{heading}\n")
        if cut >= 0:
            answer = answer[:cut]
    return answer.strip()


def read_request(body: Any) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
    """(question, history as (role, text) pairs, options: stream, model, as_of) of a
    chat-completions request body; RequestError names what is wrong."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a 'role'")
        role = message["role"]
        if role in ("user", "assistant"):
            text = _text(message.get("content"), f"messages[{i}]")
            turns.append((role, without_sources(text) if role == "assistant" else text.strip()))
    if not turns or turns[-1][0] != "user":
        raise RequestError("the last message must be the user's question")
    question, history = turns[-1][1], [t for t in turns[:-1] if t[1]]
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be true or false")
    model = body.get("model") or MODEL
    as_of = body.get("as_of")
    if as_of is not None and not isinstance(as_of, str):
        raise RequestError("'as_of' must be a date string (YYYY-MM-DD)")
    return question, history, {"stream": stream, "model": str(model), "as_of": as_of or None}


# ------------------------------------------------------------------ answers
def _source_line(c: Any) -> str:
    # An article read from a file has the file as its source: its name, not the server's path.
    source = PurePath(c.source.replace("\\", "/")).name if "/" in c.source or "\\" in c.source else c.source
    facts = [c.published[:10] if c.published else "日期不详"] + ([source] if source else [])
    title = c.title.replace("\n", " ").strip() or "（无标题）"
    return f"- [{c.n}] 《{title}》 {'，'.join(facts)}"


def answer_markdown(answer: Answer) -> str:
    """The answer as a chat window shows it: the text with its [n], then its sources."""
    if not answer.citations:
        return answer.answer
    heading = CLOSEST if answer.refused else SOURCES
    return f"{answer.answer}\n\n{heading}\n" + "\n".join(_source_line(c) for c in answer.citations)


def evidence_markdown(evidence: Sequence[Evidence]) -> str:
    lines = ["依据（检索到的原文句子）："]
    for e in evidence:
        lines.append(f"> [{e.n}] {e.text.replace(chr(10), ' ')}（《{e.title}》{(e.published or '日期不详')[:10]}）")
    return "\n".join(lines) + "\n\n草稿（核对前）："


def answer_fields(answer: Answer) -> dict[str, Any]:
    """What this API adds to OpenAI's fields."""
    return {
        "refused": answer.refused,
        "standalone_question": answer.standalone_question,
        "citations": [citation_to_json(c) for c in answer.citations],
    }


def completion(answer: Answer, model: str, reply_id: str, created: int) -> dict[str, Any]:
    return {
        "id": reply_id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": answer_markdown(answer),
                                 "refusal": None}}],
        **answer_fields(answer),
    }


def chunk(reply_id: str, created: int, model: str, delta: dict[str, Any],
          finish: str | None = None, **extra: Any) -> bytes:
    data = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


def _status(exc: RagError) -> tuple[int, str, str]:
    if isinstance(exc, InputError):
        return 400, "invalid_request_error", "invalid_request"
    if isinstance(exc, ModelCrashedError):
        return 503, "server_error", "model_restarting"
    return 500, "server_error", "server_error"


# ------------------------------------------------------------------ the routes
class OpenAIRoutes:
    """ASGI wrapper: serves ``/v1/…`` from `service`, passes every other path to `app`."""

    def __init__(self, app: ASGIApp, service: Service, model: str = MODEL,
                 max_waiting: int = MAX_WAITING) -> None:
        self.app, self.service, self.model, self.max_waiting = app, service, model, max_waiting
        self.created = int(time.time())
        self._waiting = 0  # counted on the event loop's one thread: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        route, method = path.rstrip("/"), scope.get("method")
        if route == "/v1/models" and method == "GET":
            model = {"id": self.model, "object": "model", "created": self.created, "owned_by": "rag-news"}
            await send_json(send, 200, json.dumps({"object": "list", "data": [model]}).encode())
        elif route == "/v1/chat/completions" and method == "POST":
            await self.chat(scope, receive, send)
        elif route in ("/v1/models", "/v1/chat/completions"):
            await send_json(send, 405, error_body(f"{method} is not allowed on {route}",
                                                  "invalid_request_error", "method_not_allowed"))
        else:
            await send_json(send, 404, error_body(f"no such route: {path} (this server has "
                                                  "/v1/chat/completions and /v1/models)",
                                                  "invalid_request_error", "not_found"))

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                raise RequestError("the request body is not JSON") from None
            question, history, options = read_request(body)
            self.service.check_question(question)
        except InputError as exc:
            await send_json(send, 400, error_body(str(exc), "invalid_request_error", "invalid_request"))
            return
        loading = self.service.loading
        if loading:
            await send_json(send, 503, error_body(f"{loading}; ask again in a few seconds",
                                                  "server_error", "model_loading"),
                            [(b"retry-after", str(RETRY_AFTER_S).encode())])
            return
        if self._waiting >= self.max_waiting:
            await send_json(send, 429, error_body(
                f"{self.max_waiting} questions are already waiting; ask again shortly",
                "rate_limit_error", "too_many_waiting"), [(b"retry-after", str(RETRY_AFTER_S).encode())])
            return
        self._waiting += 1
        try:
            reply_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
            model = options["model"]
            if options["stream"]:
                await self._stream(send, question, history, options["as_of"], reply_id, created, model)
            else:
                try:
                    answer = await asyncio.to_thread(self.service.ask, question, history=history,
                                                     as_of=options["as_of"])
                except RagError as exc:
                    status, kind, code = _status(exc)
                    log.warning("%s: %s", type(exc).__name__, exc)
                    await send_json(send, status, error_body(str(exc), kind, code))
                    return
                data = completion(answer, model, reply_id, created)
                await send_json(send, 200, json.dumps(data, ensure_ascii=False).encode())
        finally:
            self._waiting -= 1

    async def _stream(self, send: Send, question: str, history: list[tuple[str, str]],
                      as_of: str | None, reply_id: str, created: int, model: str) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no")]})
        async for piece in self._events(question, history, as_of, reply_id, created, model):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _events(self, question: str, history: list[tuple[str, str]], as_of: str | None,
                      reply_id: str, created: int, model: str) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (kind, value))

        def work() -> None:
            try:
                answer = self.service.ask(
                    question, history=history, as_of=as_of,
                    on_evidence=lambda evidence: put("evidence", evidence),
                    on_token=lambda delta: put("token", delta),
                )
                put("answer", answer)
            except BaseException as exc:  # handed to the stream below
                put("error", exc)

        yield chunk(reply_id, created, model, {"role": "assistant", "content": ""})
        threading.Thread(target=work, name="rag-api-ask", daemon=True).start()
        reasoning = False
        while True:
            try:
                kind, value = await asyncio.wait_for(events.get(), KEEP_ALIVE_S)
            except TimeoutError:
                yield b": still working\n\n"
                continue
            if kind == "evidence":
                if value:
                    reasoning = True
                    yield chunk(reply_id, created, model, {"reasoning_content": evidence_markdown(value)})
            elif kind == "token":
                if reasoning:  # the draft is shown only under the evidence it is checked against
                    yield chunk(reply_id, created, model, {"reasoning_content": value})
            elif kind == "answer":
                yield chunk(reply_id, created, model, {"content": answer_markdown(value)})
                yield chunk(reply_id, created, model, {}, "stop", **answer_fields(value))
                yield b"data: [DONE]\n\n"
                return
            else:
                if not isinstance(value, RagError):
                    log.error("answering through the chat API failed", exc_info=value)
                    value = RagError("the server failed to answer; its log says why")
                _, kind_name, code = _status(value)
                yield b"data: " + error_body(str(value), kind_name, code) + b"\n\n"
                return
