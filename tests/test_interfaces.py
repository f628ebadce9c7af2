"""The server's interfaces for other tools, through their own official clients: the
OpenAI-compatible chat API (the `openai` package), the MCP tools (the `mcp` SDK) and the
`openai` answer backend pointed at this server. No protocol is mocked.

The server runs in this process on a free port over the example archive, with the fake
embedder and the extractive generator, behind a login and an API key; one slow test
runs the real default models without a key.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import httpx
import openai
import pytest
from conftest import REPO
from fakes import FakeEmbedder

from rag.config import Settings
from rag.generate import Message
from rag.generate.extractive import ExtractiveGenerator
from rag.service import Service
from rag.web.app import build_app, launch

KEY = "k-test-0123456789"
QUESTION = "沙溪河治理工程总投资多少？"
ARCHIVE = REPO / "examples" / "archive"
TOOLS = {"search", "ask", "brief", "summarize", "article"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("interfaces")
    settings = Settings.load(env={}, index_dir=root / "index", embedding_model="fake-embedder",
                             generator="extractive", refuse_below=0.0)
    service = Service(settings, embedder=FakeEmbedder(), generator=ExtractiveGenerator())
    service.ingest([ARCHIVE])
    demo = build_app(service)
    url = launch(demo, port=free_port(), block=False, quiet=True, auth=("editor", "s3cret"),
                 api_key=KEY, service=service)
    yield {"url": url.rstrip("/"), "service": service}
    demo.close()
    service.close()


def client(served: dict, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served['url']}/v1", api_key=key, max_retries=0, timeout=60)


# ------------------------------------------------------------------ the chat API
def test_the_openai_client_gets_a_cited_answer_whole_and_streamed(served: dict) -> None:
    chat = client(served)
    reply = chat.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": QUESTION}])
    text = reply.choices[0].message.content or ""
    extra = reply.model_extra or {}
    assert extra["refused"] is False
    cited = extra["citations"][0]
    n = cited["n"]
    assert "沙溪河" in text and "亿元" in text and f"[{n}]" in text
    assert f"\n\n来源：\n- [{n}] 《沙溪河" in text
    assert "/work" not in text.split("来源：")[1]  # a file's name, never the server's path
    assert reply.choices[0].finish_reason == "stop" and reply.model == "rag-news"
    assert "沙溪河" in cited["title"] and cited["published"].startswith("2025")
    assert {"article_id", "passage_id", "source", "start", "end", "text"} <= set(cited)
    assert cited["text"] and cited["end"] > cited["start"]

    chunks = list(chat.chat.completions.create(
        model="any-name", messages=[{"role": "user", "content": QUESTION}], stream=True))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].model == "any-name"
    reasoning = "".join(str((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "")
                        for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert reasoning.startswith("依据") and f"> [{n}]" in reasoning  # the evidence, before the answer
    assert content == text  # the streamed answer is the verified one, and only it
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"] == extra["citations"]
    assert [m.id for m in chat.models.list()] == ["rag-news"]


def test_a_follow_up_is_read_with_the_conversation(served: dict) -> None:
    chat = client(served)
    first = chat.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": QUESTION}])
    follow = chat.chat.completions.create(model="rag-news", messages=[
        {"role": "system", "content": "You are a helpful assistant."},  # accepted, not obeyed
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": "它什么时候开工？"}]},
    ])
    standalone = (follow.model_extra or {})["standalone_question"]
    assert standalone != "它什么时候开工？" and "沙溪河" in standalone


def test_a_refusal_is_an_ordinary_answer_marked_refused(served: dict) -> None:
    reply = client(served).chat.completions.create(
        model="rag-news", messages=[{"role": "user", "content": "火星基地的第一任站长叫什么名字？"}])
    assert (reply.model_extra or {})["refused"] is True
    assert (reply.choices[0].message.content or "").startswith("资料中没有")
    assert reply.choices[0].finish_reason == "stop"


def test_errors_come_in_openai_shape_with_their_status(served: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(served, key="not-the-key").chat.completions.create(
            model="rag-news", messages=[{"role": "user", "content": QUESTION}])
    assert wrong.value.status_code == 401 and "wrong API key" in wrong.value.message
    chat = client(served)
    for content, message in (("  ", "the question is empty"), ("沙溪河" * 200, "at most 500")):
        with pytest.raises(openai.BadRequestError, match=message):
            chat.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": content}])
    with pytest.raises(openai.BadRequestError, match="last message must be the user's question"):
        chat.chat.completions.create(model="rag-news", messages=[
            {"role": "user", "content": QUESTION}, {"role": "assistant", "content": "好"}])
    headers = {"Authorization": f"Bearer {KEY}"}
    bad = httpx.post(f"{served['url']}/v1/chat/completions", content=b"{not json", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "the request body is not JSON"
    missing = httpx.get(f"{served['url']}/v1/embeddings", headers=headers)
    assert missing.status_code == 404 and "/v1/chat/completions" in missing.json()["error"]["message"]

    monkeypatch.setattr(Service, "loading", property(lambda self: "the models are loading"))
    with pytest.raises(openai.InternalServerError) as loading:
        chat.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": QUESTION}])
    assert loading.value.status_code == 503 and "loading" in loading.value.message
    assert loading.value.response.headers["retry-after"] == "10"


def test_the_service_says_what_is_loading_while_it_warms_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    release = threading.Event()

    class SlowToLoad(ExtractiveGenerator):
        def warm_up(self) -> None:
            release.wait(30)

    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             generator="extractive")
    service = Service(settings, embedder=FakeEmbedder(), generator=SlowToLoad())
    assert service.loading is None
    warming = threading.Thread(target=service.warm_up)
    warming.start()
    deadline = time.monotonic() + 30
    while service.loading is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service.loading == "the models are loading"
    release.set()
    warming.join()
    assert service.loading is None


def test_a_full_server_answers_429() -> None:
    from rag.web.openai_api import OpenAIRoutes

    routes = OpenAIRoutes(app=None, service=Service(Settings.load(env={})), max_waiting=0)  # type: ignore[arg-type]
    sent: list[dict] = []

    async def receive() -> dict:
        body = json.dumps({"messages": [{"role": "user", "content": QUESTION}]}).encode()
        return {"type": "http.request", "body": body}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(routes({"type": "http", "method": "POST", "path": "/v1/chat/completions"}, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 429
    assert json.loads(sent[1]["body"])["error"]["code"] == "too_many_waiting"


def test_a_crash_while_streaming_ends_the_stream_with_an_error_event() -> None:
    from rag.errors import ModelCrashedError
    from rag.web.openai_api import OpenAIRoutes

    class Crashing:
        loading = None
        check_question = staticmethod(Service.check_question)

        def ask(self, question, **options):  # type: ignore[no-untyped-def]
            raise ModelCrashedError("模型进程意外停止（SIGSEGV）", signal_name="SIGSEGV", exit_code=None)

    routes = OpenAIRoutes(app=None, service=Crashing())  # type: ignore[arg-type]
    sent: list[dict] = []

    async def receive() -> dict:
        body = {"stream": True, "messages": [{"role": "user", "content": QUESTION}]}
        return {"type": "http.request", "body": json.dumps(body).encode()}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(routes({"type": "http", "method": "POST", "path": "/v1/chat/completions"}, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 200  # the stream had begun
    events = b"".join(m.get("body", b"") for m in sent[1:]).decode().split("\n\n")
    error = json.loads(next(e for e in events if '"error"' in e).removeprefix("data: "))["error"]
    assert error["code"] == "model_restarting" and "SIGSEGV" in error["message"]
    assert "data: [DONE]" not in events
    assert routes._waiting == 0


# ------------------------------------------------------------------ nothing is left open
def test_the_page_and_its_api_still_ask_for_the_login(served: dict) -> None:
    from gradio_client import Client

    assert httpx.get(f"{served['url']}/config").status_code == 401
    assert httpx.get(f"{served['url']}/gradio_api/mcp/schema").status_code == 401
    for login in (("editor", "s3cret"), ("anyone", KEY)):  # the login, or the key under any name
        gc = Client(served["url"], auth=login, verbose=False)
        endpoints = gc.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert {"/ask", "/brief", "/summarize", "/mcp_ask"} <= set(endpoints)
        assert not gc.predict(QUESTION, api_name="/ask")["refused"]
        gc.close()


# ------------------------------------------------------------------ MCP
def _mcp(served: dict, calls: list[tuple[str, dict]], key: str = KEY) -> tuple[list, list]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> tuple[list, list]:
        http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=300)
        async with (http, streamable_http_client(f"{served['url']}/gradio_api/mcp/", http_client=http)
                    as (read, write, _), ClientSession(read, write) as session):
            await session.initialize()
            listed = (await session.list_tools()).tools
            results = [await session.call_tool(name, args) for name, args in calls]
            return listed, results

    return asyncio.run(run())


def test_an_mcp_client_lists_the_tools_and_gets_cited_json(served: dict) -> None:
    listed, (found, answered, missing) = _mcp(served, [
        ("search", {"query": "沙溪河 治理 投资", "k": 3}),
        ("ask", {"question": QUESTION}),
        ("summarize", {"article_id": "ffffffffffff"}),
    ])
    tools = {t.name: t for t in listed}
    assert set(tools) == TOOLS  # the gradio_client functions are not offered as tools
    assert "refused" in tools["ask"].description and tools["ask"].inputSchema["required"] == ["question"]
    assert "YYYY" in tools["search"].inputSchema["properties"]["since"]["description"]

    hits = json.loads(found.content[0].text)["hits"]
    assert len(hits) == 3 and "沙溪河" in hits[0]["title"] and hits[0]["article_id"]
    answer = json.loads(answered.content[0].text)
    assert not answer["refused"] and "亿元" in answer["answer"]
    assert f"[{answer['citations'][0]['n']}]" in answer["answer"]
    assert "沙溪河" in answer["citations"][0]["title"] and answer["citations"][0]["source"]
    assert missing.isError and "no article with id 'ffffffffffff'" in missing.content[0].text

    _, (article,) = _mcp(served, [("article", {"article_id": hits[0]["article_id"]})])
    data = json.loads(article.content[0].text)
    assert data["id"] == hits[0]["article_id"] and hits[0]["text"][:20] in data["text"]


def test_mcp_without_the_key_is_refused(served: dict) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    refused = httpx.post(f"{served['url']}/gradio_api/mcp/", json=body,
                         headers={"Accept": "application/json, text/event-stream"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


# ------------------------------------------------------------------ the openai backend
def test_the_openai_backend_talks_to_this_server(served: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.generate import OpenAIGenerator

    monkeypatch.setenv("RAG_TEST_KEY", KEY)
    backend = OpenAIGenerator(f"{served['url']}/v1", "rag-news", api_key_env="RAG_TEST_KEY", timeout=60)
    said = backend.generate([Message("user", QUESTION)], max_tokens=200)
    assert "亿元" in said and "来源：" in said
    assert "".join(backend.stream([Message("user", QUESTION)], max_tokens=200)) == said


# ------------------------------------------------------------------ the real models
@pytest.mark.slow
def test_the_real_models_answer_through_the_openai_client(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.load(env={}, index_dir=tmp_path / "index")
    service = Service(settings)
    service.ingest([ARCHIVE])
    demo = build_app(service)
    url = launch(demo, port=free_port(), block=False, quiet=True, service=service).rstrip("/")
    try:
        chat = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300)
        messages = [{"role": "user", "content": QUESTION}]
        reply = chat.chat.completions.create(model="rag-news", messages=messages)
        text = reply.choices[0].message.content or ""
        n = (reply.model_extra or {})["citations"][0]["n"]
        assert "12.6亿元" in text and f"[{n}]" in text and f"来源：\n- [{n}] 《沙溪河" in text, text
        assert not (reply.model_extra or {})["refused"]
        streamed = "".join(c.choices[0].delta.content or ""
                           for c in chat.chat.completions.create(model="rag-news", messages=messages, stream=True))
        assert "12.6亿元" in streamed
        listed, (answered,) = _mcp({"url": url}, [("ask", {"question": QUESTION})], key="unused")
        assert {t.name for t in listed} == TOOLS
        assert "12.6亿元" in json.loads(answered.content[0].text)["answer"]
    finally:
        demo.close()
        service.close()
