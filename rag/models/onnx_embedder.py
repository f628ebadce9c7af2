"""The default embedding model on ONNX Runtime: int8 weights, no torch at query time.

`OnnxEmbedder` runs a folder built by `rag.models.embedding.resolve_onnx_model` (or
`rag.models.onnx_build.write_onnx_folder` for any folder it can export). Only onnxruntime, tokenizers
and numpy are imported when it loads and encodes.

The graph is written straight from the float32 BertModel weights, with ONNX Runtime's
fused self-attention operator so that dynamic quantization turns every projection into
an int8 kernel (QAttention, integer MatMul):

    input_ids, attention_mask (int64, batch x tokens, right padded)
      -> word + position + token-type-0 embeddings -> LayerNorm
      -> N x [Attention -> MatMul -> Add, Add, LayerNorm -> MatMul -> Add, Gelu -> MatMul
              -> Add, Add, LayerNorm]
      -> mean over the attention mask = sentence_embedding (batch x hidden, unnormalized)

Vectors are L2-normalized here, like sentence-transformers' Normalize module. Texts are
tokenized as sentence-transformers does for this model: the prompt is prepended, then
`<s> … </s>` is truncated to `max_seq_length` tokens (the end of the text is dropped).

Layout of a built folder::

    model.onnx       the graph, quantized
    tokenizer.json   copied from the float32 folder
    embedder.json    dim, max_seq_length, pad id, prompts
    rag-build.json   format, source, quantization options, sha256 of every file above
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import DEFAULT_EMBEDDING_MODEL, default_threads
from rag.errors import ModelError
from rag.models.embedding import check_sizes
from rag.models.onnx_build import CONFIG, OUTPUT

if TYPE_CHECKING:
    import onnxruntime as ort
    from tokenizers import Encoding, Tokenizer

log = logging.getLogger(__name__)

# At most this many tokens (texts x longest text) go through the model at once.
BATCH_TOKENS = 1024


class OnnxEmbedder:
    """An exported e5-style model on ONNX Runtime (CPU), loaded on first use.

    `spec` names the model (the bundled default is the only one with a built ONNX folder);
    `folder` runs an already built folder instead of resolving `spec`. Construction is
    cheap; the session loads on the first `embed_*` call or on `warm_up()`. Each batch
    is cut from the texts sorted by token length, so little of it is padding, and holds
    at most `batch_size` texts and about `BATCH_TOKENS` tokens; the result is in the
    order given.
    """

    runtime = "onnx"

    def __init__(
        self,
        spec: str = DEFAULT_EMBEDDING_MODEL,
        threads: int | None = None,
        batch_size: int = 32,
        folder: str | Path | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        check_sizes(threads, batch_size, max_seq_length)
        self.model_id = spec
        self.threads = threads or default_threads()
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.batch_tokens = BATCH_TOKENS
        self._folder = Path(folder) if folder is not None else None
        self._config: dict[str, Any] | None = None
        self._session: ort.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        """The built folder (resolving, and building the bundled model, if needed)."""
        if self._folder is None:
            from rag.models.embedding import resolve_onnx_model

            self._folder = Path(resolve_onnx_model(self.model_id))
        return self._folder

    @property
    def dim(self) -> int:
        """Embedding dimension, read from the folder (no session is created)."""
        return int(self._read_config()["dim"])

    @property
    def checksum(self) -> str | None:
        """sha256 of the quantized graph (differs from the float32 weights' checksum)."""
        from rag.models.embedding import onnx_model_checksum

        return onnx_model_checksum(self.folder)

    def warm_up(self) -> None:
        """Resolve (building the folder if needed) and load the session now."""
        self._load()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "passage")

    # ------------------------------------------------------------------ encoding
    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single string")
        session, tokenizer = self._load()
        config = self._read_config()
        dim = int(config["dim"])
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        prompt = str(config["prompts"].get(role, ""))
        encodings = tokenizer.encode_batch([prompt + text for text in texts])
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        # Longest first: a batch holds texts of similar length, and the first batch
        # shows at once whether the longest fit in memory.
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), dim), dtype=np.float32)
        pad = int(config["pad_id"])
        start = 0
        while start < len(order):
            # The first row is the longest. Past about a thousand tokens per run the
            # throughput drops (the attention scores outgrow the caches).
            width = int(lengths[order[start]])
            n = max(1, min(self.batch_size, self.batch_tokens // width))
            rows = order[start:start + n]
            ids, mask = _pad([encodings[i] for i in rows], width, pad)
            (vectors,) = session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})
            out[rows] = vectors
            start += n
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, 1e-12)
        return out

    def _read_config(self) -> dict[str, Any]:
        if self._config is None:
            path = self.folder / CONFIG
            try:
                self._config = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelError(f"embedding model {self.model_id!r}: cannot read {path}: {exc}") from None
        return self._config

    def _load(self) -> tuple[ort.InferenceSession, Tokenizer]:
        if self._session is None or self._tokenizer is None:
            with self._lock:
                if self._session is None or self._tokenizer is None:
                    self._session, self._tokenizer = self._load_session()
        return self._session, self._tokenizer

    def _load_session(self) -> tuple[ort.InferenceSession, Tokenizer]:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = self.folder
        config = self._read_config()
        limit = int(config["max_seq_length"])
        if self.max_seq_length is not None:
            limit = min(limit, self.max_seq_length)
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=limit)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle workers sleep instead of spinning: on a small machine shared with other
        # work (ingest, the generator) spinning threads steal the cores they wait for.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                str(folder / "model.onnx"), sess_options=options,
                providers=["CPUExecutionProvider"],
                # The fused residual + LayerNorm kernel is several times slower on CPU than
                # the two it replaces (a third of the whole run at 100-200 tokens).
                disabled_optimizers=["SkipLayerNormFusion"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(
                f"embedding model {self.model_id!r}: cannot load {folder / 'model.onnx'}: {exc}"
            ) from None
        log.info("loaded embedding model %s (onnxruntime) from %s", self.model_id, folder)
        return session, tokenizer


def _pad(encodings: Sequence[Encoding], width: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
    return ids, mask


# ------------------------------------------------------------------------ export
