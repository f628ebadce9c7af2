"""TransformersGenerator: failure paths (fast) and SmolLM2's GGUF through transformers (slow).

transformers reads a GGUF only with the optional ``gguf`` and ``accelerate`` packages; the
setup installs both.
"""

from __future__ import annotations

import pytest

from rag.generate import ContextOverflowError, GenerationError, Message, TransformersGenerator
from rag.models.generation import TEST_GENERATOR_MODEL

CHAT = [Message("system", "You are a concise assistant."),
        Message("user", "What is the capital of France?")]


def test_missing_local_folder_is_a_generation_error(tmp_path):
    with pytest.raises(GenerationError, match="no such file or folder"):
        TransformersGenerator(str(tmp_path / "absent" / "model")).warm_up()


def test_folder_without_a_model_names_the_folder(tmp_path):
    with pytest.raises(GenerationError, match=rf"cannot load generator model .* from {tmp_path}"):
        TransformersGenerator(str(tmp_path)).warm_up()


@pytest.fixture(scope="module")
def smol_hf():
    gen = TransformersGenerator(TEST_GENERATOR_MODEL, threads=2, n_ctx=256, token_timeout=60)
    gen.warm_up()
    return gen


@pytest.mark.slow
def test_gguf_through_transformers_answers_and_streams(smol_hf):
    answer = smol_hf.generate(CHAT, max_tokens=16)
    assert "Paris" in answer
    deltas = list(smol_hf.stream(CHAT, max_tokens=16))
    assert len(deltas) >= 3 and "".join(deltas) == answer
    print(f"\nsmollm2 via transformers: loaded in {smol_hf.load_seconds:.1f} s; {answer!r}")


@pytest.mark.slow
def test_transformers_stop_and_overflow(smol_hf):
    assert "Paris" not in smol_hf.generate(CHAT, max_tokens=16, stop=["Paris"])
    long_prompt = [Message("user", "Summarize: " + "the city opened a new metro line. " * 40)]
    with pytest.raises(ContextOverflowError) as info:
        smol_hf.stream(long_prompt, max_tokens=32)
    assert info.value.n_ctx == 256 and info.value.prompt_tokens > 256
