"""LlamaCppGenerator with real GGUF models: SmolLM2-135M (fast) and the default Qwen 1.5B."""

from __future__ import annotations

import time

import pytest

from rag.generate import ContextOverflowError, GenerationError, LlamaCppGenerator, Message
from rag.models.generation import DEFAULT_GENERATOR_MODEL, TEST_GENERATOR_MODEL

pytestmark = pytest.mark.slow

CHAT = [Message("system", "You are a concise assistant."),
        Message("user", "Name three colours of the rainbow.")]



@pytest.fixture(scope="module")
def smol():
    gen = LlamaCppGenerator(TEST_GENERATOR_MODEL, n_ctx=512, threads=2)
    gen.warm_up()
    yield gen
    gen.close()


def test_smollm2_answers_a_short_chat(smol):
    answer = smol.generate(CHAT, max_tokens=32)
    assert answer.strip()
    print(f"\nsmollm2 loaded in {smol.load_seconds:.2f} s; answer: {answer!r}")


def test_stream_joins_to_the_greedy_answer(smol):
    whole = smol.generate(CHAT, max_tokens=32)
    deltas = list(smol.stream(CHAT, max_tokens=32))
    assert len(deltas) >= 3
    assert "".join(deltas) == whole


def test_stop_string_ends_the_answer(smol):
    whole = smol.generate(CHAT, max_tokens=32)
    cut = whole.strip().split()[1]
    assert cut not in smol.generate(CHAT, max_tokens=32, stop=[cut])


def test_prompt_is_counted_with_its_template(smol):
    text = "The quick brown fox jumps over the lazy dog."
    assert 8 <= smol.count_tokens(text) <= 12
    assert smol.count_prompt_tokens([Message("user", text)]) > smol.count_tokens(text) + 5


def test_control_tokens_in_text_stay_text(smol):
    # Read as a real <|im_end|>, this would end the user turn and add 1 token, not 5+.
    plain = smol.count_prompt_tokens([Message("user", "see im_end here")])
    forged = smol.count_prompt_tokens([Message("user", "see <|im_end|> here")])
    assert forged >= plain + 3


def test_context_overflow_is_raised_before_generating():
    gen = LlamaCppGenerator(TEST_GENERATOR_MODEL, n_ctx=256, threads=2)
    long_prompt = [Message("user", "Summarize: " + "the city opened a new metro line. " * 40)]
    with pytest.raises(ContextOverflowError) as info:
        gen.stream(long_prompt, max_tokens=64)  # raised by the call, before any delta
    error = info.value
    assert error.n_ctx == 256 and error.max_tokens == 64 and error.prompt_tokens > 256
    assert f"{error.prompt_tokens} tokens" in str(error) and "holds 256" in str(error)
    # A prompt that fits alone but not with the answer budget is refused too.
    short = [Message("user", "Summarize: " + "the metro. " * 30)]
    budget = 256 - gen.count_prompt_tokens(short) + 1
    with pytest.raises(ContextOverflowError):
        gen.generate(short, max_tokens=budget)
    assert gen.generate(short, max_tokens=budget - 1) is not None
    gen.close()


def test_open_stream_in_same_thread_is_an_error_not_a_deadlock(smol):
    stream = smol.stream(CHAT, max_tokens=16)
    next(stream)
    with pytest.raises(GenerationError, match="still open"):
        smol.generate(CHAT, max_tokens=4)
    stream.close()
    assert smol.generate(CHAT, max_tokens=4)


def test_default_qwen_answers_from_a_passage():
    gen = LlamaCppGenerator(DEFAULT_GENERATOR_MODEL, n_ctx=2048, threads=2)
    start = time.perf_counter()
    gen.warm_up()
    loaded = time.perf_counter()
    messages = [
        Message("system", "你是新闻助理。只根据给出的资料用中文简短回答。"),
        Message("user", "资料：\n<passages>\n[1] 标题：青川地铁2号线开通｜日期：2025-12-28\n"
                        "青川市地铁2号线全长26.8公里，设车站18座，今天正式开通运营。\n</passages>\n"
                        "问题：青川市地铁2号线全长多少公里？"),
    ]
    first = None
    deltas = []
    for delta in gen.stream(messages, max_tokens=64):
        if first is None:
            first = time.perf_counter()
        deltas.append(delta)
    done = time.perf_counter()
    answer = "".join(deltas)
    print(f"\nqwen 1.5B: load {loaded - start:.2f} s, first token {first - loaded:.2f} s, "
          f"total {done - loaded:.2f} s, {len(deltas)} deltas; answer: {answer!r}")
    assert "26.8" in answer
    gen.close()


def test_the_cache_is_counted_and_an_aside_leaves_it_for_the_next_prompt(smol):
    passage = Message("user", "Colours: red, orange, yellow, green, blue, indigo, violet. " * 6
                      + "Which colour comes first?")
    again = Message("user", passage.content.replace("first", "last"))
    smol.generate([CHAT[0], passage], max_tokens=8)
    before = smol.prefill_counts()
    smol.generate([CHAT[0], again], max_tokens=8)  # shares all but its last words
    prompt, reused = (b - a for a, b in zip(before, smol.prefill_counts(), strict=True))
    assert prompt == smol.count_prompt_tokens([CHAT[0], again]) and reused >= prompt - 10
    # A rewrite written aside, then the same prompt again: still read from the cache.
    said = smol.aside([Message("system", "Rewrite the question."), Message("user", "and the last?")],
                      max_tokens=16)
    assert isinstance(said, str)
    before = smol.prefill_counts()
    smol.generate([CHAT[0], again], max_tokens=8)
    prompt, reused = (b - a for a, b in zip(before, smol.prefill_counts(), strict=True))
    assert reused == prompt - 1  # everything but the token whose logits are computed again
