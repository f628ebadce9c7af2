"""BM25 over jieba tokens, persisted with bm25s.

The index is derived data: it is rebuilt from the tokens stored in SQLite whenever the
passages change, so it can never disagree with the database for long.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _bm25s():  # type: ignore[no-untyped-def]
    import bm25s

    # bm25s sets its own logger to DEBUG, which floods any configured root handler.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


class BM25Index:
    """A BM25 index over passages identified by integer ids."""

    def __init__(self, retriever: object | None, ids: np.ndarray) -> None:
        self._bm25 = retriever
        self.ids = ids  # int64, bm25 document position -> passage id

    @classmethod
    def build(cls, ids: Sequence[int] | np.ndarray, token_lists: Sequence[list[str]]) -> BM25Index:
        bm25s = _bm25s()
        id_array = np.asarray(ids, dtype=np.int64)
        if len(id_array) == 0:
            return cls(None, id_array)
        retriever = bm25s.BM25()
        # bm25s accepts lists of string tokens and builds its own vocabulary.
        retriever.index([list(t) for t in token_lists], show_progress=False)
        return cls(retriever, id_array)

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self, tokens: list[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Up to `k` (passage id, score) pairs, best first; zero scores are not matches.

        `allowed` is a sorted array of passage ids to restrict the search to.
        """
        if self._bm25 is None or not tokens or k <= 0:
            return []
        bm25 = self._bm25
        vocab = bm25.vocab_dict  # type: ignore[attr-defined]
        known = [t for t in tokens if t in vocab]
        if not known:
            return []
        scores = bm25.get_scores(known)  # type: ignore[attr-defined]
        if allowed is not None:
            scores = np.where(np.isin(self.ids, allowed), scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def save(self, directory: Path) -> None:
        """Write atomically: into a temporary folder, then swap it in."""
        directory = Path(directory)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
        try:
            np.save(tmp / "ids.npy", self.ids)
            if self._bm25 is not None:
                self._bm25.save(tmp, show_progress=False)  # type: ignore[attr-defined]
            old = directory.with_name(directory.name + ".old")
            if directory.exists():
                directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        bm25s = _bm25s()
        directory = Path(directory)
        ids = np.load(directory / "ids.npy")
        if len(ids) == 0:
            return cls(None, ids)
        retriever = bm25s.BM25.load(directory, show_progress=False, verbosity=0)
        return cls(retriever, ids)
