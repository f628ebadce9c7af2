"""Two `rag serve` processes answer from one Milvus at once: the archive lives in a
Milvus server (here `milvus-lite server`, started by the test), not in either process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO

from rag.config import Settings
from rag.service import Service

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process ended: {proc.stdout.read() if proc.stdout else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def milvus_server(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir", str(tmp_path / "milvus"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_servers_answer_from_one_milvus_at_once(milvus_server, tmp_path):
    from gradio_client import Client

    settings = Settings.load(env={}, store=milvus_server)
    service = Service(settings)
    report = service.ingest([REPO / "examples" / "archive"])
    assert len(report.added) == 25
    service.close()

    env = {**os.environ, "RAG_THREADS": "1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "RAG_STORE": milvus_server}
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(p), "--generator", "extractive"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for p in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_for_port(port, proc)
        question = "沙溪河治理工程总投资多少？"

        def ask(port: int) -> dict:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            return client.predict(question, [], "", api_name="/ask")

        with ThreadPoolExecutor(2) as pool:
            one, two = pool.map(ask, ports)
        assert not one["refused"] and "沙溪河" in one["answer"] and "亿元" in one["answer"], one
        assert one["citations"] and all("沙溪河" in c["title"] for c in one["citations"])
        for answer in (one, two):  # how long it took, and what each model had cached
            answer.pop("timings")
            answer.pop("prefill")
        assert one == two
        assert not list(tmp_path.glob("**/*.db"))  # no local archive on the answer path
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
