"""Dense vector index: FAISS inner product over normalized vectors, keyed by passage id.

The kind of index follows the archive's size (measured on 2 cores, 384 dimensions, see
bench/vector_scale.py):

- up to `EXACT_MAX` passages, an exact scan (`IndexFlatIP`): 11 ms at 100,000;
- above it, an inverted file (`IndexIVFScalarQuantizer`, float16 codes) of about
  2·√n lists, of which `NPROBE` are scanned (more when a filter leaves fewer passages):
  over news2023's 274,000 passages (667 lists), 11 ms against 28-32 ms for an exact
  scan, recall@10 0.989. News vectors are crowded (a query's ten nearest passages lie
  within 0.015 of cosine), so far more lists must be scanned than on textbook data.

Vectors are stored as float16 in SQLite, the truth the index is rebuilt from, so float16
codes lose nothing the archive still has. The lists' centroids are kept from one build to
the next and trained again only when the archive has grown fourfold.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

EXACT_MAX = 100_000  # passages searched exactly; above, an inverted file
NPROBE = 256  # lists scanned per query by the inverted file (`Settings.nprobe`)
TRAIN_PER_LIST = 40  # training vectors per list (FAISS asks for at least 39)
VECTOR_DTYPE = np.float16  # how SQLite stores a passage vector


def encode_vectors(vectors: np.ndarray) -> list[bytes]:
    """One SQLite blob per row: float16, little-endian."""
    return [row.tobytes() for row in np.asarray(vectors, dtype="<f2")]


def decode_vectors(blobs: list[bytes], dim: int) -> np.ndarray:
    """float32 rows from blobs of `encode_vectors`, or of the first format (float32), which
    an index holds beside float16 ones while `rag reindex` converts it."""
    if not blobs:
        return np.empty((0, dim), dtype=np.float32)
    if all(len(b) == 2 * dim for b in blobs):
        return np.frombuffer(b"".join(blobs), dtype="<f2").reshape(-1, dim).astype(np.float32)
    return np.stack([np.frombuffer(b, dtype="<f2" if len(b) == 2 * dim else "<f4") for b in blobs]
                    ).astype(np.float32)


class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]: ...


def list_count(n: int) -> int:
    """Lists of an inverted file over `n` vectors."""
    return max(1, int(2 * math.sqrt(n)))


class FaissIndex:
    """Inner-product search (cosine, since vectors are normalized); ids are passage row ids."""

    def __init__(self, dim: int, index: object | None = None) -> None:
        import faiss

        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def kind(self) -> str:
        """"exact" or "ivf<lists>"."""
        lists = self.lists
        return f"ivf{lists}" if lists else "exact"

    @property
    def lists(self) -> int:
        return int(getattr(self._index, "nlist", 0))

    @classmethod
    def build(
        cls, dim: int, ids: np.ndarray, vectors: np.ndarray, previous: FaissIndex | None = None,
        exact_max: int = EXACT_MAX,
    ) -> FaissIndex:
        """An index over `vectors`, of the kind their number calls for; the lists of
        `previous` are reused while they still suit the size."""
        import faiss

        n = len(ids)
        if n <= exact_max:
            index = cls(dim)
            index.add(ids, vectors)
            return index
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        lists = previous.lists if previous is not None else 0
        if lists and lists * 2 > list_count(n) and previous is not None:
            ivf = faiss.clone_index(previous._index)  # type: ignore[arg-type]
            ivf.reset()
        else:
            lists = list_count(n)
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            ivf.cp.niter = 10
            sample = np.random.default_rng(0).choice(n, min(n, lists * TRAIN_PER_LIST), replace=False)
            ivf.train(vectors[np.sort(sample)])
        ivf.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        return cls(dim, ivf)

    def __len__(self) -> int:
        return int(self._index.ntotal)  # type: ignore[attr-defined]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vector dimension {vectors.shape[1]} != index dimension {self.dim}")
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))  # type: ignore[attr-defined]

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, nprobe: int = NPROBE,
    ) -> list[tuple[int, float]]:
        """Up to `k` (passage id, cosine) pairs, best first, optionally within `allowed` ids.

        An inverted file scans `nprobe` lists, and more when `allowed` holds a small share
        of the passages, so that about as many allowed passages are compared: with a
        filter that leaves few passages, every list is scanned and the search is exact.
        """
        import faiss

        if len(self) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        selector = None
        if allowed is not None:
            if len(allowed) == 0:
                return []
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        lists = self.lists
        params: Any = None
        if lists:
            share = 1.0 if allowed is None else min(1.0, len(allowed) / len(self))
            probes = min(lists, math.ceil(nprobe / share))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=probes)  # type: ignore[call-arg]
        elif selector is not None:
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, ids = self._index.search(q, min(k, len(self)), params=params)  # type: ignore[attr-defined]
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, path: Path) -> None:
        import faiss

        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self._index, str(tmp))  # type: ignore[call-overload]
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        import faiss

        index = faiss.read_index(str(path))
        return cls(index.d, index)
