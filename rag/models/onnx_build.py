"""Building the ONNX form of a sentence-transformers BERT folder: the graph written from
its float32 weights with the `onnx` helpers (no torch), then int8 dynamic quantization.
Used once, when the model cache builds the folder `rag.models.onnx_embedder` reads."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelError

CONFIG = "embedder.json"  # beside model.onnx: pooling, prompts, sequence length
OUTPUT = "sentence_embedding"  # the graph's output


def write_onnx_folder(
    source: Path, out: Path, *, quantize: bool = True, per_channel: bool = True,
    reduce_range: bool = True,
) -> dict[str, Any]:
    """Export the sentence-transformers BertModel folder `source` into `out`.

    Writes model.onnx (int8 unless `quantize` is False), tokenizer.json and embedder.json;
    returns the options that describe the weights, for the build record. Needs the onnx
    package and onnxruntime's quantization tools; torch is not used.
    """
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    st_config = _read_optional_json(source / "config_sentence_transformers.json")
    bert_config = _read_optional_json(source / "sentence_bert_config.json")
    pooling = _read_optional_json(source / "1_Pooling" / "config.json")
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        raise ModelError(f"{source}: only BertModel folders with GELU can be exported")
    if pooling and not pooling.get("pooling_mode_mean_tokens"):
        raise ModelError(f"{source}: only mean pooling can be exported")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ModelError(f"{source}: only absolute position embeddings can be exported")
    options: dict[str, Any] = {"weights": "float32"}
    if quantize:
        options = {
            "weights": "int8",
            "method": "onnxruntime.quantization.quantize_dynamic",
            "op_types": list(_QUANTIZED_OPS),
            "weight_type": "QInt8",
            "per_channel": per_channel,
            "reduce_range": reduce_range,
            "word_embeddings": "int8, symmetric, one scale per row",
        }
    plain = out / "model-fp32.onnx"
    try:
        _write_graph(source, config, plain, int8_word_embeddings=quantize)
        if quantize:
            _quantize(plain, out / "model.onnx", per_channel=per_channel, reduce_range=reduce_range)
            plain.unlink()
        else:
            plain.replace(out / "model.onnx")
    finally:
        plain.unlink(missing_ok=True)
    (out / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    max_len = int(bert_config.get("max_seq_length") or config["max_position_embeddings"])
    embedder = {
        "dim": int(config["hidden_size"]),
        "max_seq_length": min(max_len, int(config["max_position_embeddings"])),
        "pad_id": int(config.get("pad_token_id", 0) or 0),
        "prompts": dict(st_config.get("prompts") or {}),
        "pooling": "mean",
        "normalize": True,
    }
    (out / CONFIG).write_text(json.dumps(embedder, ensure_ascii=False, indent=2) + "\n",
                              encoding="utf-8")
    return options


_QUANTIZED_OPS = ("MatMul", "Attention")


def _read_optional_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _write_graph(source: Path, config: dict[str, Any], path: Path, *, int8_word_embeddings: bool) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    state = load_file(str(source / "model.safetensors"))
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    if hidden % heads:
        raise ModelError(f"{source}: hidden size {hidden} is not a multiple of {heads} heads")

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    def weight(name: str) -> np.ndarray:
        return np.asarray(state[name], dtype=np.float32)

    ms = "com.microsoft"
    emb = "embeddings."
    words = weight(emb + "word_embeddings.weight")
    if int8_word_embeddings:
        # One symmetric scale per row keeps every token's vector within 0.4 % of its range.
        scale = np.abs(words).max(axis=1, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        q = np.clip(np.rint(words / scale), -127, 127).astype(np.int8)
        rows = node("Gather", [init("word_embeddings.int8", q), "input_ids"], "word_rows")
        rows = node("Cast", [rows], "word_rows_f", to=TensorProto.FLOAT)
        scales = node("Gather", [init("word_embeddings.scale", scale.astype(np.float32)), "input_ids"],
                      "word_scales")
        word = node("Mul", [rows, scales], "word")
    else:
        word = node("Gather", [init("word_embeddings", words), "input_ids"], "word")
    # BertModel without token_type_ids uses type 0 everywhere; fold it into the positions.
    positions = weight(emb + "position_embeddings.weight")
    positions = positions + weight(emb + "token_type_embeddings.weight")[0]
    length = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    zero = init("zero", np.array([0], dtype=np.int64))
    pos = node("Slice", [init("position_embeddings", positions), zero, length, zero], "pos")
    x = node("Add", [word, pos], "embed_sum")
    x = node("LayerNormalization", [x, init("emb_ln.w", weight(emb + "LayerNorm.weight")),
                                    init("emb_ln.b", weight(emb + "LayerNorm.bias"))],
             "embed_out", axis=-1, epsilon=eps)
    # Right padding: the attention mask reduces to each row's length.
    lengths = node("ReduceSum", ["attention_mask", init("axis1", np.array([1], dtype=np.int64))],
                   "mask_sum", keepdims=0)
    mask_index = node("Cast", [lengths], "mask_index", to=TensorProto.INT32)

    for i in range(layers):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate([weight(p + f"attention.self.{n}.weight").T
                                for n in ("query", "key", "value")], axis=1)
        qkv_b = np.concatenate([weight(p + f"attention.self.{n}.bias")
                                for n in ("query", "key", "value")])
        a = node("Attention", [x, init(f"l{i}.qkv.w", qkv_w), init(f"l{i}.qkv.b", qkv_b), mask_index],
                 f"l{i}.attn", domain=ms, num_heads=heads)
        a = node("MatMul", [a, init(f"l{i}.ao.w", weight(p + "attention.output.dense.weight").T)],
                 f"l{i}.attn_proj")
        a = node("Add", [a, init(f"l{i}.ao.b", weight(p + "attention.output.dense.bias"))],
                 f"l{i}.attn_proj_b")
        x = node("LayerNormalization",
                 [node("Add", [a, x], f"l{i}.attn_res"),
                  init(f"l{i}.aln.w", weight(p + "attention.output.LayerNorm.weight")),
                  init(f"l{i}.aln.b", weight(p + "attention.output.LayerNorm.bias"))],
                 f"l{i}.attn_out", axis=-1, epsilon=eps)
        f = node("MatMul", [x, init(f"l{i}.fi.w", weight(p + "intermediate.dense.weight").T)],
                 f"l{i}.ffn_in")
        f = node("Add", [f, init(f"l{i}.fi.b", weight(p + "intermediate.dense.bias"))],
                 f"l{i}.ffn_in_b")
        f = node("Gelu", [f], f"l{i}.gelu")
        f = node("MatMul", [f, init(f"l{i}.fo.w", weight(p + "output.dense.weight").T)],
                 f"l{i}.ffn_out")
        f = node("Add", [f, init(f"l{i}.fo.b", weight(p + "output.dense.bias"))],
                 f"l{i}.ffn_out_b")
        x = node("LayerNormalization",
                 [node("Add", [f, x], f"l{i}.ffn_res"),
                  init(f"l{i}.oln.w", weight(p + "output.LayerNorm.weight")),
                  init(f"l{i}.oln.b", weight(p + "output.LayerNorm.bias"))],
                 f"l{i}.out", axis=-1, epsilon=eps)

    # Mean pooling over the real tokens (the prompt included, as in the model's Pooling).
    m = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    m3 = node("Unsqueeze", [m, init("axis_last", np.array([-1], dtype=np.int64))], "mask_f3")
    summed = node("ReduceSum", [node("Mul", [x, m3], "masked"), "axis1"], "token_sum", keepdims=0)
    count = node("ReduceSum", [m, "axis1"], "token_count", keepdims=1)
    count = node("Max", [count, init("min_count", np.array(1e-9, dtype=np.float32))], "token_count_min")
    node("Div", [summed, count], OUTPUT)

    graph = helper.make_graph(
        nodes, "bert-mean-pooling",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", hidden])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, producer_name="rag",
        opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid(ms, 1)],
    )
    model.ir_version = 9
    onnx.save(model, str(path))


def _quantize(src: Path, dst: Path, *, per_channel: bool, reduce_range: bool) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs a pre-processing advice on WARNING to the root logger; the graph
    # is already in the fused form that advice is about.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            src, dst, op_types_to_quantize=list(_QUANTIZED_OPS), per_channel=per_channel,
            reduce_range=reduce_range, weight_type=QuantType.QInt8,
            # ONNX shape inference cannot type the outputs of the fused operators.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
