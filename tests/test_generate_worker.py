"""The model's worker process: a crash costs the answer in flight, never the caller's
process; the worker comes back; one that keeps crashing is given up. A fake model runs in
a real child process here; tests/test_worker_real.py does the same to the real one."""

from __future__ import annotations

import os
import signal
import time

import pytest
from fakes import FakeEmbedder

from rag import cli
from rag import service as service_module
from rag.config import Settings
from rag.errors import ModelCrashedError, ModelUnavailableError
from rag.generate import ContextOverflowError, GenerationError, Message, SupervisedGenerator
from rag.service import Service


class _Local:
    name = "fake:crashing"
    n_ctx = 4096


def supervised(**options):
    return SupervisedGenerator("fake", options, _Local(), target="fakes:crashing_worker")


def ask(text):
    return [Message("system", "只根据资料回答。"), Message("user", text)]


def wait_until(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def gen():
    g = supervised()
    yield g
    g.shutdown()


def test_answers_stream_from_the_worker_process(gen):
    deltas = list(gen.stream(ask("青川地铁多长？"), max_tokens=16))
    assert deltas[0] == "答：" and "".join(deltas).endswith("[1]")
    assert gen.pid is not None and gen.pid != os.getpid()
    assert gen.generate(ask("第二个问题"), max_tokens=16).startswith("答：")
    assert gen.system_info == "fake: AVX2 = 1"
    # A backend with no second context writes an aside as any reply, and counts no cache.
    assert gen.aside(ask("改写这个问题"), max_tokens=16).startswith("答：")
    assert gen.prefill_counts() is None


def test_a_crash_mid_answer_costs_that_answer_and_the_next_is_answered(gen):
    first_pid = (gen.warm_up(), gen.pid)[1]
    stream = gen.stream(ask("这个问题会让模型崩溃"), max_tokens=16)
    assert next(stream) == "答："  # the answer had started when the worker died
    started = time.monotonic()
    with pytest.raises(ModelCrashedError) as info:
        list(stream)
    assert time.monotonic() - started < 5  # a message within seconds, never a hang
    error = info.value
    assert error.signal_name == "SIGSEGV"
    assert "模型进程意外停止（SIGSEGV）" in str(error) and "重新启动" in str(error)
    # Being restarted, as the chat API tells its callers (503) until the model is back.
    assert gen.loading
    wait_until(lambda: not gen.loading)
    # The next question is answered by a new worker, and this process never noticed.
    answer = gen.generate(ask("下一个问题"), max_tokens=16)
    assert answer.startswith("答：") and "[1]" in answer
    assert gen.pid not in (None, first_pid) and gen.starts == 2 and gen.failed is None


def test_killed_from_outside_the_message_names_the_signal():
    gen = supervised(delay=0.5)
    try:
        gen.warm_up()
        stream = gen.stream(ask("普通问题"), max_tokens=16)
        os.kill(gen.pid, signal.SIGKILL)
        with pytest.raises(ModelCrashedError, match="SIGKILL"):
            list(stream)
        assert gen.generate(ask("再问一次"), max_tokens=16).startswith("答：")
    finally:
        gen.shutdown()


def test_three_crashes_within_a_minute_give_the_model_up(gen, caplog):
    for _ in range(2):
        with pytest.raises(ModelCrashedError, match="重新启动"):
            gen.generate(ask("崩溃"), max_tokens=16)
    with pytest.raises(ModelCrashedError) as info:
        gen.generate(ask("崩溃"), max_tokens=16)
    assert "无法运行" in str(info.value) and "3 次" in str(info.value)
    assert gen.failed == str(info.value)
    # Not restarted forever: the next call says so at once, and no worker runs.
    with pytest.raises(ModelUnavailableError, match="无法运行"):
        gen.generate(ask("普通问题"), max_tokens=16)
    assert gen.pid is None
    # The log names the likely cause (for SIGSEGV, the CPU build) with the system info.
    logged = caplog.text
    assert "SIGSEGV" in logged and "llama.cpp build" in logged and "fake: AVX2 = 1" in logged


def test_crashes_spread_over_time_are_each_restarted():
    gen = SupervisedGenerator("fake", {}, _Local(), target="fakes:crashing_worker", crash_window=0.5)
    try:
        for _ in range(4):
            with pytest.raises(ModelCrashedError, match="重新启动"):
                gen.generate(ask("崩溃"), max_tokens=16)
            time.sleep(0.6)
        assert gen.failed is None
        assert gen.generate(ask("普通问题"), max_tokens=16).startswith("答：")
    finally:
        gen.shutdown()


def test_a_worker_that_crashes_while_loading_is_given_up():
    gen = supervised(crash_on="load")
    try:
        with pytest.raises(ModelCrashedError):
            gen.warm_up()
        wait_until(lambda: gen.failed is not None)  # the background restarts crash too
        with pytest.raises(ModelUnavailableError):
            gen.warm_up()
    finally:
        gen.shutdown()


def test_errors_the_caller_can_act_on_cross_the_process_boundary(gen):
    with pytest.raises(ContextOverflowError) as info:
        gen.stream(ask("长" * 5000), max_tokens=16)  # raised by the call, before any delta
    assert info.value.n_ctx == 4096 and info.value.max_tokens == 16
    assert info.value.prompt_tokens > 4096
    assert gen.generate(ask("短问题"), max_tokens=16)  # the worker is fine


def test_a_stream_closed_early_is_cancelled_and_the_worker_kept(gen):
    pid = (gen.warm_up(), gen.pid)[1]
    stream = gen.stream(ask("问题"), max_tokens=16)
    assert next(stream) == "答："
    stream.close()
    assert gen.generate(ask("问题二"), max_tokens=16).startswith("答：")
    assert gen.pid == pid


def test_an_open_stream_in_the_same_thread_is_an_error_not_a_deadlock(gen):
    stream = gen.stream(ask("问题"), max_tokens=16)
    next(stream)
    with pytest.raises(GenerationError, match="still open"):
        gen.generate(ask("问题"), max_tokens=4)
    stream.close()
    assert gen.generate(ask("问题"), max_tokens=4)


def test_the_service_answers_without_the_model_once_it_is_given_up(tmp_path, archive):
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                             refuse_below=0)
    service = Service(settings, embedder=FakeEmbedder(), generator=supervised(crash_on="地铁"))
    try:
        service.ingest([archive])
        for _ in range(3):
            with pytest.raises(ModelCrashedError):
                service.ask("青川地铁2号线完成了多少工程量？")
        assert service.generator.name == "extractive"
        answer = service.ask("青川地铁2号线完成了多少工程量？")
        assert "85%" in answer.answer and answer.citations
    finally:
        service.close()


def test_rag_ask_reports_a_crash_and_exits_1(rag, archive, monkeypatch, capsys):
    assert rag("ingest", str(archive))[0] == 0
    monkeypatch.setattr(service_module, "make_generator",
                        lambda *a, **k: supervised(crash_on="马拉松"))
    code = cli.main(["ask", "青川马拉松有多少人报名？"])
    err = capsys.readouterr().err
    assert code == 1
    assert "模型进程意外停止（SIGSEGV）" in err and "Traceback" not in err


def test_serve_says_when_the_model_crashes_in_warm_up(tmp_path, capsys):
    from rag.web.app import _warm_up

    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder")
    service = Service(settings, embedder=FakeEmbedder(), generator=supervised(crash_on="load"))
    try:
        _warm_up(service)  # as `rag serve` runs it, beside the page
        err = capsys.readouterr().err
        assert "ready" not in err
        assert "the model crashed in warm-up and cannot run on this machine" in err and "无法运行" in err
        assert service.generator.name == "extractive"  # the page still answers, from the evidence
    finally:
        service.close()


def test_serve_is_ready_only_after_the_model_read_a_prompt(tmp_path, capsys):
    from rag.web.app import _warm_up

    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder")
    gen = supervised()
    service = Service(settings, embedder=FakeEmbedder(), generator=gen)
    try:
        _warm_up(service)
        err = capsys.readouterr().err
        assert "ready: models and index loaded" in err and "(model on fake: AVX2 = 1)" in err
        # warm-up read the follow-up rewrite's prompt aside, then the answer prompt's start
        assert gen.generate(ask("问题"), max_tokens=16).endswith("（第3次）[1]")
    finally:
        service.close()
        gen.shutdown()
