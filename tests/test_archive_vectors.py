"""The vector index follows the archive's size: exact up to a threshold, an inverted file
above it, whose answers match the exact scan's and whose filters stay exact."""

from __future__ import annotations

import numpy as np

from rag.archive.vectors import FaissIndex, decode_vectors, encode_vectors, list_count


def _clustered(n: int, dim: int = 32, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Vectors around a few topics, like passages of news about a few stories."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _recall_at_10(approx: FaissIndex, exact: FaissIndex, queries: np.ndarray, allowed=None,
                  nprobe: int = 16) -> float:
    found = 0
    for q in queries:
        want = {i for i, _ in exact.search(q, 10, allowed)}
        found += len(want & {i for i, _ in approx.search(q, 10, allowed, nprobe=nprobe)})
    return found / (10 * len(queries))


def test_small_archives_are_searched_exactly_and_large_ones_by_lists() -> None:
    x = _clustered(3000)
    ids = np.arange(100, 3100)
    assert FaissIndex.build(32, ids, x).kind == "exact"
    ivf = FaissIndex.build(32, ids, x, exact_max=1000)
    assert ivf.kind == f"ivf{list_count(3000)}" and len(ivf) == 3000


def test_the_inverted_file_finds_what_the_exact_scan_finds() -> None:
    x = _clustered(6000)
    ids = np.arange(6000) * 3 + 7  # passage row ids need not be dense
    exact = FaissIndex.build(32, ids, x)
    ivf = FaissIndex.build(32, ids, x, exact_max=1000)
    queries = _clustered(50, seed=1)
    assert ivf.lists > 100  # 32 of them scanned: an approximate search
    assert _recall_at_10(ivf, exact, queries, nprobe=32) >= 0.95
    top_ids = [i for i, _ in ivf.search(queries[0], 5)]
    assert set(top_ids) <= set(ids.tolist())


def test_a_narrow_filter_scans_every_list_so_nothing_allowed_is_missed() -> None:
    x = _clustered(6000)
    ids = np.arange(6000)
    exact = FaissIndex.build(32, ids, x)
    ivf = FaissIndex.build(32, ids, x, exact_max=1000)
    allowed = np.sort(np.random.default_rng(2).choice(ids, 40, replace=False))
    queries = _clustered(20, seed=3)
    assert _recall_at_10(ivf, exact, queries, allowed, nprobe=2) == 1.0
    assert all(i in set(allowed.tolist()) for i, _ in ivf.search(queries[0], 10, allowed, nprobe=2))


def test_lists_are_kept_until_the_archive_grows_fourfold(tmp_path) -> None:
    x = _clustered(12000)
    first = FaissIndex.build(32, np.arange(2000), x[:2000], exact_max=1000)
    first.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss")
    grown = FaissIndex.build(32, np.arange(5000), x[:5000], previous=loaded, exact_max=1000)
    assert grown.lists == first.lists and len(grown) == 5000
    retrained = FaissIndex.build(32, np.arange(12000), x, previous=grown, exact_max=1000)
    assert retrained.lists == list_count(12000) > first.lists


def test_vectors_are_stored_as_float16_without_losing_what_search_needs() -> None:
    x = _clustered(100, dim=384)
    blobs = encode_vectors(x)
    assert all(len(b) == 2 * 384 for b in blobs)
    back = decode_vectors(blobs, 384)
    assert back.dtype == np.float32 and np.abs(back - x).max() < 1e-3
    assert np.min(np.sum(back * x, axis=1)) > 0.9999


def test_a_store_half_converted_from_the_first_format_still_decodes() -> None:
    x = _clustered(4, dim=384)
    blobs = encode_vectors(x[:2]) + [row.astype("<f4").tobytes() for row in x[2:]]
    back = decode_vectors(blobs, 384)
    assert back.shape == (4, 384) and np.abs(back - x).max() < 1e-3
