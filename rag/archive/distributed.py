"""Ingest on a Ray cluster: files are read and passages embedded in Ray workers, while
this process reconciles what was read with the index and writes it.

The result is the index and report `update.ingest` makes from the same files: the
reconcile step is the same function (`update.plan`), and passages whose text is
already stored are not embedded again. Ray is imported only when `ingest_ray` runs.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.archive.base import ArchiveStore, ArchiveWriter, Progress, other_weights, write_in_steps
from rag.archive.update import Pending, group_pending, plan
from rag.config import Settings
from rag.errors import ModelError, RagError
from rag.ingest import iter_files, load_articles
from rag.types import Article, IngestReport, Skipped


class IngestError(RagError):
    """Ray could not be started or reached (nothing was written), or lost a group of
    passages (the others were written and committed, so a new run embeds only the rest)."""


# Attempts at a file whose reading kills the worker process, before it is reported as
# skipped (an exception raised while reading is reported at once).
READ_ATTEMPTS = 2
LOST = "cannot read file (the Ray worker reading it failed)"


def ingest_ray(
    store: ArchiveStore,
    paths: Iterable[str | Path],
    *,
    settings: Settings,
    address: str | None,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the index up to date with `paths`, reading and embedding on Ray.

    `address` names a running Ray cluster (as `ray.init(address=...)` takes it); None
    starts Ray on this machine with `settings.threads` CPUs. When Ray is already
    initialized in this process it is used as it is. A Ray started or connected here
    is shut down (or disconnected) at the end.

    Files are listed here and each is read in a worker; a file that cannot be read,
    even one that crashes its worker, is reported in `skipped` by name and the other
    files are still ingested. Passages are embedded and tokenized by a pool of actors,
    one per CPU of the cluster (fewer when there are fewer groups of passages), each
    loading the embedding model once; articles are written here as their passages come
    back, committed every `settings.commit_every` passages. `progress(done, total)` is
    called as passages are written.
    """
    import ray

    started = time.perf_counter()
    report = IngestReport()
    connected = _connect(address, settings.threads)
    try:
        with _quiet_console():
            items = _read(Path(os.path.abspath(p)) for p in paths)
            with store.writer() as writer:
                pending = plan(writer, items, report, settings.chunk_size, settings.chunk_overlap)
                report.passages_embedded = _embed_and_store(
                    writer, pending, settings, store.manifest["embedding"], progress)
    finally:
        if connected:
            ray.shutdown()
    report.seconds = time.perf_counter() - started
    return report


def _connect(address: str | None, cpus: int) -> bool:
    """Initialize Ray unless it is; returns whether it was initialized here."""
    import ray

    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                             "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(address="local", num_cpus=cpus, **quiet)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        reason = (str(exc) or type(exc).__name__).splitlines()[0][:300]
        raise IngestError(f"cannot start or reach {where} ({reason}); nothing was ingested") from None
    return True


@contextmanager
def _quiet_console() -> Iterator[None]:
    """Ray Data's notices (each run's start and end, settings) off the console while
    ingesting; its errors still show, and everything still goes to Ray's session log."""
    import ray.data  # noqa: F401  (sets up the handlers)

    handlers = [h for h in logging.getLogger("ray.data").handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(max(h.level, logging.ERROR))
    try:
        yield
    finally:
        for h, level in zip(handlers, levels, strict=True):
            h.setLevel(level)


def _quiet(ds: Any, *, keep_going: bool = False) -> Any:
    """`ds` with no progress bars or execution banners; with `keep_going`, a task that
    fails for good drops its block instead of ending the run."""
    ctx = ds.context  # the dataset's own copy, made when it was created
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    if keep_going:
        ctx.max_errored_blocks = -1
    return ds


# ------------------------------------------------------------------------ reading
def _read(paths: Iterable[Path]) -> list[Article | Skipped]:
    """What `load_articles(paths)` yields, in its order, each file read by a Ray task."""
    import ray

    listed = list(iter_files(paths))
    files = [str(p) for p in listed if not isinstance(p, Skipped)]
    read: dict[int, list[tuple[int, bytes]]] = {}
    if files:
        ds = _quiet(ray.data.from_items(
            [{"file": n, "path": p} for n, p in enumerate(files)], override_num_blocks=len(files),
        ), keep_going=True)
        with warnings.catch_warnings():
            # Ray Data names no other way to bound the attempts at a task whose worker
            # dies (it retries forever by default): `max_retries` as a remote argument.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            ds = ds.flat_map(_read_file, num_cpus=1, max_retries=READ_ATTEMPTS - 1)
        for row in ds.iter_rows():
            read.setdefault(int(row["file"]), []).append((int(row["seq"]), bytes(row["item"])))
    items: list[Article | Skipped] = []
    n = 0
    for entry in listed:
        if isinstance(entry, Skipped):
            items.append(entry)
            continue
        rows = read.get(n)
        if rows is None:
            items.append(Skipped(files[n], LOST))
        else:
            items.extend(pickle.loads(item) for _, item in sorted(rows, key=lambda r: r[0]))
        n += 1
    return items


def _read_file(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs in a Ray worker: the articles of one file, or why it was skipped, pickled."""
    path = str(row["path"])
    try:
        items: list[Article | Skipped] = list(load_articles([path]))
    except Exception as exc:  # a reader's bug must not lose the file or stop the run
        items = [Skipped(path, f"cannot read file ({type(exc).__name__}: {exc})")]
    return [{"file": row["file"], "seq": n, "item": pickle.dumps(item)} for n, item in enumerate(items)]


# ---------------------------------------------------------------------- embedding
class _Embed:
    """A Ray actor: for each group of passages, the BM25 tokens of all of them and the
    vectors of those to embed, in one call to the model (as a local ingest embeds it).

    The embedding model is loaded on the first group with passages to embed, once per
    actor, and checked against the index's embedding (dimension, and the weights'
    checksum when both are known) so that vectors of another model or runtime never
    reach the index.
    """

    def __init__(self, model: str, runtime: str, batch_size: int, built: dict[str, Any]) -> None:
        from rag.models.embedder import make_embedder

        self._embedder = make_embedder(model, threads=1, batch_size=batch_size, runtime=runtime)
        self._built = built  # the index's embedding, as its manifest says
        self._dim = int(built["dim"])
        self._checked = False

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from rag.text.words import tokenize

        vectors, tokens = [], []
        for texts_blob, todo_blob in zip(batch["texts"], batch["todo"], strict=True):
            texts: list[str] = pickle.loads(texts_blob)
            todo: list[int] = pickle.loads(todo_blob)
            embedded = np.zeros((0, self._dim), dtype="<f4")
            if todo:
                self._check()
                embedded = np.asarray(self._embedder.embed_passages([texts[i] for i in todo]), dtype="<f4")
            vectors.append(embedded.tobytes())
            tokens.append(pickle.dumps([tokenize(t) for t in texts]))
        return {"group": batch["group"], "vectors": _objects(vectors), "tokens": _objects(tokens)}

    def _check(self) -> None:
        if self._checked:
            return
        embedder = self._embedder
        mine = getattr(embedder, "checksum", None)
        if embedder.dim != self._dim:
            raise ModelError(f"the Ray worker's embedding model makes {embedder.dim}-dimension "
                             f"vectors and the index holds {self._dim}")
        if other_weights(self._built, mine):
            raise ModelError(
                f"the Ray worker embeds with {getattr(embedder, 'runtime', 'another runtime')} "
                f"({(mine or '')[:12]}) and the index was embedded with other weights "
                f"({self._built['checksum'][:12]}); their vectors do not mix (set embedding_runtime)")
        self._checked = True


def _objects(values: list[bytes]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass
class _Group:
    """Articles embedded in one call to the model, and what writing them waits for."""

    articles: list[Pending]
    hashes: list[str]  # of every passage of the articles, in order
    todo: list[int]  # the passages to embed: text not stored, nor in an earlier group
    after: set[int]  # earlier groups that embed texts this one reuses
    vectors: np.ndarray | None = None  # the embedded ones, once back (until no longer needed)
    tokens: list[list[str]] | None = None
    needed_by: int = 0  # later groups reusing its vectors, not written yet


def _embed_and_store(
    writer: ArchiveWriter, pending: list[Pending], settings: Settings, embedding: dict[str, Any],
    progress: Progress | None,
) -> int:
    """Embed on Ray the passages whose text is not stored yet, tokenize all of them, and
    write each group of articles once it is back; returns the number of passages embedded.

    Articles are grouped and passages counted as embedded exactly as a local ingest does
    (`group_pending`, `_vectors`): a text is reused when it is stored or was embedded
    by an earlier group, so the vectors and the report are the same.
    """
    stored = writer.vectors_for([h for p in pending for h in p.hashes])
    groups: list[_Group] = []
    first: dict[str, tuple[int, int]] = {}  # text hash -> (group, place in its todo) embedding it
    for g, articles in enumerate(group_pending(pending, settings.embed_group)):
        hashes = [h for p in articles for h in p.hashes]
        todo: list[int] = []
        after: set[int] = set()
        for i, h in enumerate(hashes):
            if h in stored:
                continue
            if h in first and first[h][0] < g:
                after.add(first[h][0])
                continue
            first.setdefault(h, (g, len(todo)))
            todo.append(i)
        groups.append(_Group(articles, hashes, todo, after))
        for e in after:
            groups[e].needed_by += 1

    back: set[int] = set()  # groups whose results are in
    waiting: set[int] = set()  # of those, the ones not written yet

    def vector(h: str) -> np.ndarray:
        if h in stored:
            return stored[h]
        g, k = first[h]
        embedded = groups[g].vectors
        assert embedded is not None
        return embedded[k]

    def release(g: int) -> None:
        group = groups[g]
        if group.needed_by == 0 and g not in waiting:
            group.vectors = group.tokens = None

    def write(g: int) -> int:
        """Write the articles of group `g`; returns how many passages they have."""
        group = groups[g]
        assert group.vectors is not None and group.tokens is not None
        vectors = np.empty((len(group.hashes), writer.dim), dtype=np.float32)
        vectors[group.todo] = group.vectors
        embedded_here = set(group.todo)
        for i, h in enumerate(group.hashes):
            if i not in embedded_here:
                vectors[i] = vector(h)
        offset = 0
        for p in group.articles:
            n = len(p.passages)
            writer.put(p.article, p.passages, group.tokens[offset : offset + n], p.hashes,
                       vectors[offset : offset + n])
            offset += n
        waiting.discard(g)
        release(g)
        for e in group.after:
            groups[e].needed_by -= 1
            release(e)
        return offset

    def steps() -> Iterator[int]:
        for result in _embedded(groups, settings, embedding):
            for g, blob, tokens in zip(result["group"], result["vectors"], result["tokens"], strict=True):
                group = groups[int(g)]
                group.vectors = np.frombuffer(blob, dtype="<f4").reshape(len(group.todo), writer.dim)
                group.tokens = pickle.loads(tokens)
                back.add(int(g))
                waiting.add(int(g))
            for g in sorted(waiting):
                if groups[g].after <= back:
                    yield write(g)

    total = sum(len(p.passages) for p in pending)
    write_in_steps(writer, steps(), total, settings.commit_every, progress)
    if len(back) < len(groups) or waiting:  # what was written is committed: a new run embeds the rest
        raise IngestError(f"Ray returned no vectors for {len(groups) - len(back)} group(s) of "
                           "passages; the others were written")
    return sum(len(g.todo) for g in groups)


def _embedded(
    groups: list[_Group], settings: Settings, embedding: dict[str, Any],
) -> Iterator[dict[str, np.ndarray]]:
    """The actors' results, group by group, as they finish (in no particular order)."""
    import ray

    if not groups:
        return
    actors = max(1, min(int(ray.cluster_resources().get("CPU", 1)), len(groups)))
    rows = [
        {"group": g, "texts": pickle.dumps([t for p in group.articles for t in p.texts]),
         "todo": pickle.dumps(group.todo)}
        for g, group in enumerate(groups)
    ]
    ds = _quiet(ray.data.from_items(rows, override_num_blocks=len(rows)))
    del rows
    ds = ds.map_batches(
        _Embed,
        fn_constructor_kwargs={
            "model": settings.embedding_model, "runtime": settings.embedding_runtime,
            "batch_size": settings.embed_batch_size,
            "built": {"dim": embedding["dim"], "checksum": embedding.get("checksum")},
        },
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
    )
    yield from ds.iter_batches(batch_size=None, batch_format="numpy")
