"""The archive in Milvus: passages, vectors, article metadata and BM25, no local file.

Chosen with `--store` / `RAG_STORE`:

- `milvus:./archive.db`: Milvus Lite, one local file (tests and small installs; one
  process at a time, or run `milvus-lite server` and use its address);
- `http://host:19530` (or `https://`, `tcp://`): a Milvus server or cluster, which any
  number of `rag serve` replicas can answer from at once. `MILVUS_TOKEN` is sent as
  the token (`user:password` or an API key) when set.

Four collections, named `<prefix>_…` (`RAG_MILVUS_PREFIX`, default `rag`):

    passages  one row a passage: its text and offsets, its article's title, date and
              source (what an answer shows), the float32 vector (dense index), and the
              passage's jieba tokens, from which Milvus's own BM25 function makes the
              sparse vector it searches (full-text index)
    articles  one row an article (or per 16,000 characters of a long one): its text and
              metadata, and its mean passage vector (what briefs group stories by)
    meta      the archive's manifest: embedding model, dimension, checksum, chunking
    replies   model replies for summaries and briefs (see replies.py), shared by replicas

The lexical index is Milvus's BM25 over our own tokens (the same `tokenize` the folder
store indexes and `tokenize_query` searches with), written so that Milvus's standard
analyzer keeps each token whole: every server with BM25 full-text search (Milvus 2.5+,
Milvus Lite) then ranks by the same words the folder does. An archive created with
`RAG_MILVUS_LEXICAL=jieba` instead gives Milvus the passage's text and lets its own jieba
analyzer cut it (README, "Past one machine", compares the two). Fusion stays reciprocal-rank
(`search.Retriever`); date and source filters are Milvus filter expressions.

Milvus has no transactions. A passage row is keyed by its passage id and written before
its article's row, and an article counts as stored once its row exists, so an interrupted
ingest leaves at most passages that the next ingest of the file writes over (upsert).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from rag import __version__
from rag.archive.base import Filters, Ranked, Stored, new_manifest
from rag.archive.writer import indexed_text, timestamp
from rag.errors import StoreError
from rag.results import ArticleInfo
from rag.text.words import tokenize
from rag.types import Article, Hit, Passage

FORMAT = "rag-news-milvus"
FORMAT_VERSION = 1
TEXT_PART = 16_000  # characters of article text a row holds (at most 64,000 UTF-8 bytes)
VARCHAR_MAX = 65_535  # bytes: Milvus's largest VARCHAR
BATCH = 500  # ids per `in [...]` expression, rows per insert
HNSW = {"M": 16, "efConstruction": 200}
EF_SEARCH = 256  # HNSW candidates per query (recall, as `nprobe` for the folder's lists)
_ESCAPED = re.compile(r"X([0-9A-F]+)X")
log = logging.getLogger(__name__)


def milvus_uri(uri: str) -> str:
    """What pymilvus connects to: the file of `milvus:FILE.db`, else the address."""
    if uri.startswith("milvus:"):
        path = uri[len("milvus:"):]
        if not path.endswith(".db"):
            raise StoreError(f"store {uri!r}: a Milvus Lite file must end in .db (milvus:./archive.db)")
        return os.path.abspath(os.path.expanduser(path))
    return uri.replace("tcp://", "http://", 1)


def passage_key(passage_id: str) -> int:
    """A passage's int64 primary key: the top 63 bits of its (hex) id."""
    return int(passage_id[:16], 16) >> 1


def lexical_text(tokens: Sequence[str]) -> str:
    """Tokens as one string that Milvus's standard analyzer splits back into exactly these
    tokens: any character that is not a letter or digit (as in 85% or 3.5) is spelled as
    capital letters and hex digits (tokens are lower case, so this reads back unambiguously),
    no analyzer cuts a token, and tokens are separated by spaces."""
    out = []
    for token in tokens:
        if token.isalnum():
            out.append(token)
        elif token.strip():
            out.append("".join(c if c.isalnum() else f"X{ord(c):X}X" for c in token))
    return " ".join(out)


def _quote(value: str) -> str:
    """A Milvus string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fit(text: str, limit: int = VARCHAR_MAX) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, between characters."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def _like_literal(value: str) -> str:
    """`value` inside a Milvus `like` pattern, its % and _ characters, not wildcards."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_expression(filters: Filters) -> str:
    """Date and source filters as a Milvus boolean expression ("" for none).

    Dates compare as ISO strings; `until` takes in the whole day (a time after the date
    sorts before "~"). A source matches a part of the file path, or the publication name.
    """
    parts = []
    if filters.since:
        parts.append(f"published >= {_quote(filters.since)}")
    if filters.until:
        parts.append(f'published < {_quote(filters.until + "~")} and published != ""')
    if filters.sources:
        names = []
        for s in filters.sources:
            names.append(f"source like {_quote('%' + _like_literal(s) + '%')} or source_name == {_quote(s)}")
        parts.append("(" + " or ".join(names) + ")")
    return " and ".join(parts)


class MilvusStore:
    """An archive kept in Milvus (see the module's text)."""

    kind = "milvus"

    def __init__(self, uri: str, client: Any, prefix: str, manifest: dict[str, Any]) -> None:
        self.location = uri
        # "tokens": BM25 over our tokens; "jieba": over the text, cut by Milvus's analyzer
        self.lexical = str(manifest.get("lexical", "tokens"))
        self.client = client
        self.prefix = prefix
        self.manifest = manifest
        self.passages = f"{prefix}_passages"
        self.articles = f"{prefix}_articles"
        self.meta = f"{prefix}_meta"
        self.replies = MilvusReplies(client, f"{prefix}_replies")
        self._write_lock = threading.Lock()

    # ----------------------------------------------------------------- open/create
    @staticmethod
    def connect(uri: str) -> Any:
        # gRPC's core logs a line at each fork (Ray's workers) while its channel is open.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        try:
            from pymilvus import MilvusClient
        except ImportError:  # pragma: no cover - a dependency of the project
            raise StoreError("the Milvus store needs pymilvus: pip install 'pymilvus[milvus-lite]'") from None
        # pymilvus logs each failed call with its traceback and warns of client-side
        # timestamps in iterators; failures reach the user as StoreError instead.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        # Milvus Lite's in-process gRPC server logs each call it does not implement (an
        # iterator's timestamp request, which pymilvus then makes itself) as an error.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)  # its failure is ours to tell
        token = os.environ.get("MILVUS_TOKEN", "")
        try:
            return MilvusClient(uri=milvus_uri(uri), token=token)
        except StoreError:
            raise
        except Exception as exc:  # pymilvus raises its own and gRPC errors
            if uri.startswith("milvus:") and _locked(milvus_uri(uri)):
                raise StoreError(
                    f"another process has the Milvus Lite file {uri} open, and Milvus Lite serves "
                    "one process at a time. To share it, serve it with `milvus-lite server "
                    f"--data-dir {milvus_uri(uri)} --port 19530` and use --store http://127.0.0.1:19530"
                ) from None
            raise StoreError(f"cannot connect to the Milvus store {uri} ({_reason(exc)})") from None

    @classmethod
    def exists(cls, uri: str, prefix: str = "rag") -> bool:
        if uri.startswith("milvus:") and not os.path.exists(milvus_uri(uri)):
            return False
        client = cls.connect(uri)
        try:
            return bool(client.has_collection(f"{prefix}_meta"))
        finally:
            client.close()

    @classmethod
    def open(cls, uri: str, embedding_model: str | None = None, prefix: str = "rag") -> MilvusStore:
        if uri.startswith("milvus:") and not os.path.exists(milvus_uri(uri)):
            raise StoreError(f"no archive at {uri}: build one with `rag ingest --store {uri} PATH...`")
        client = cls.connect(uri)
        manifest = _read_manifest(client, f"{prefix}_meta")
        if manifest is None:
            client.close()
            raise StoreError(f"no archive at {uri}: build one with `rag ingest --store {uri} PATH...`")
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            client.close()
            raise StoreError(
                f"{uri} holds an archive of format {manifest.get('format')!r} version "
                f"{manifest.get('format_version')!r}; this program reads {FORMAT!r} version {FORMAT_VERSION}"
            )
        built_with = manifest["embedding"]["model"]
        if embedding_model is not None and embedding_model != built_with:
            client.close()
            raise StoreError(
                f"archive {uri} was built with embedding model {built_with!r} (dimension "
                f"{manifest['embedding']['dim']}), but the settings ask for {embedding_model!r}. "
                f"Use RAG_EMBEDDING_MODEL={built_with} or another --store."
            )
        store = cls(uri, client, prefix, manifest)
        store._load()
        return store

    @classmethod
    def open_or_create(
        cls, uri: str, embedding_model: str, dim: int, model_checksum: str | None,
        chunking: dict[str, int], runtime: str | None = None, prefix: str = "rag",
        lexical: str = "tokens",
    ) -> MilvusStore:
        if cls.exists(uri, prefix):
            return cls.open(uri, embedding_model, prefix)
        if uri.startswith("milvus:"):
            os.makedirs(os.path.dirname(milvus_uri(uri)) or ".", exist_ok=True)
        client = cls.connect(uri)
        manifest = new_manifest(FORMAT, FORMAT_VERSION, embedding_model, dim, model_checksum, runtime,
                                chunking, vector_index="HNSW", lexical=lexical)
        store = cls(uri, client, prefix, manifest)
        try:
            store._create(dim)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot create the archive's collections in {uri} ({_reason(exc)})") from None
        return store

    def _create(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        text = {"datatype": DataType.VARCHAR, "max_length": VARCHAR_MAX}

        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("rowid", DataType.INT64, is_primary=True)
        for name in ("passage_id", "article_id", "text_hash"):
            schema.add_field(name, DataType.VARCHAR, max_length=64)
        for name in ("ordinal", "start", "end"):
            schema.add_field(name, DataType.INT64)
        for name in ("text", "title", "source", "source_name"):
            schema.add_field(name, **text)
        schema.add_field("published", DataType.VARCHAR, max_length=64)
        analyzer = "standard" if self.lexical == "tokens" else "jieba"
        schema.add_field("tokens", enable_analyzer=True, analyzer_params={"tokenizer": analyzer}, **text)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["tokens"], output_field_names=["sparse"]))
        index = c.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        _create_collection(c, self.passages, schema, index, lite=self.location.startswith("milvus:"))

        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=128)
        schema.add_field("article_id", DataType.VARCHAR, max_length=64)
        for name in ("part", "passages", "length", "seq"):
            schema.add_field(name, DataType.INT64)
        for name in ("key", "title", "text", "source", "source_name", "reporters", "captions",
                     "section", "subtitle"):
            schema.add_field(name, **text)
        for name in ("published", "added_at"):
            schema.add_field(name, DataType.VARCHAR, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = c.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
        _create_collection(c, self.articles, schema, index, lite=self.location.startswith("milvus:"))

        lite = self.location.startswith("milvus:")
        self.replies.create(lite)
        _create_keyed(c, self.meta, lite=lite)
        self._save_manifest()  # last: an archive exists once its manifest does

    def _load(self) -> None:
        for name in (self.passages, self.articles, self.replies.collection):
            self.client.load_collection(name)

    def _save_manifest(self) -> None:
        self.client.upsert(self.meta, [{"key": "manifest", "value": json.dumps(self.manifest, ensure_ascii=False),
                                        "v": [1.0, 0.0]}])

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a client that lost its server
            self.client.close()

    def record_embedding(self, checksum: str | None, runtime: str | None) -> None:
        self.manifest = {**self.manifest, "embedding": {
            **self.manifest["embedding"], "checksum": checksum, "runtime": runtime}}
        self._save_manifest()

    def older_format(self) -> bool:
        return False

    def warm(self) -> None:
        self._load()

    def size_bytes(self) -> int | None:
        """Bytes on disk of a Milvus Lite file; None for a server (its own business)."""
        if not self.location.startswith("milvus:"):
            return None
        root = milvus_uri(self.location)
        total = 0
        for folder, _dirs, files in os.walk(root):
            for name in files:
                with contextlib.suppress(OSError):  # a file compacted away meanwhile
                    total += os.path.getsize(os.path.join(folder, name))
        return total

    # --------------------------------------------------------------------- reading
    @property
    def dim(self) -> int:
        return int(self.manifest["embedding"]["dim"])

    def _query(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `expr`, in batches (a server caps one query's rows)."""
        rows: list[dict[str, Any]] = []
        iterator = self.client.query_iterator(collection, batch_size=1000, filter=expr,
                                              output_fields=fields)
        try:
            while True:
                batch = iterator.next()
                if not batch:
                    return rows
                rows.extend(batch)
        finally:
            iterator.close()

    def counts(self) -> dict[str, int]:
        a = self.client.query(self.articles, filter="part == 0", output_fields=["count(*)"])
        p = self.client.query(self.passages, filter="", output_fields=["count(*)"])
        return {"articles": int(a[0]["count(*)"]), "passages": int(p[0]["count(*)"])}

    def list_articles(self) -> list[ArticleInfo]:
        rows = self._query(self.articles, "part == 0",
                           ["article_id", "title", "published", "source", "source_name",
                            "passages", "length", "seq"])
        rows.sort(key=lambda r: r["seq"])  # insertion order, as the folder's row ids
        rows.sort(key=lambda r: r["published"] or "", reverse=True)
        rows.sort(key=lambda r: not r["published"])
        return [ArticleInfo(r["article_id"], r["title"], r["published"] or None, r["source"],
                            r["source_name"] or None, int(r["passages"]), int(r["length"]))
                for r in rows]

    def article(self, article_id: str) -> Article | None:
        rows = self.client.query(
            self.articles, filter=f"article_id == {_quote(article_id)}",
            output_fields=["part", "key", "title", "text", "source", "published", "source_name",
                           "reporters", "captions", "section", "subtitle"])
        if not rows:
            return None
        rows.sort(key=lambda r: r["part"])
        r = rows[0]
        return Article(
            id=article_id, key=r["key"], title=r["title"], text="".join(x["text"] for x in rows),
            source=r["source"], published=r["published"] or None,
            source_name=r["source_name"] or None, reporters=tuple(json.loads(r["reporters"])),
            captions=tuple(json.loads(r["captions"])), section=r["section"] or None,
            subtitle=r["subtitle"] or None,
        )

    def latest_published(self) -> str | None:
        rows = self._query(self.articles, 'part == 0 and published != ""', ["published"])
        return max((r["published"] for r in rows), default=None)

    def article_keys(self) -> dict[str, str]:
        return {r["article_id"]: r["key"] for r in self._query(self.articles, "part == 0", ["article_id", "key"])}

    def find_articles(self, prefix: str) -> list[str]:
        rows = self.client.query(self.articles, filter=f"part == 0 and article_id like {_quote(_like_literal(prefix) + '%')}",
                                 output_fields=["article_id"], limit=100)
        return sorted(r["article_id"] for r in rows)

    def passages_of(self, article_id: str) -> list[Passage]:
        rows = self._query(self.passages, f"article_id == {_quote(article_id)}",
                           ["passage_id", "ordinal", "start", "end", "text"])
        rows.sort(key=lambda r: r["ordinal"])
        return [Passage(r["passage_id"], article_id, int(r["ordinal"]), int(r["start"]), int(r["end"]),
                        r["text"]) for r in rows]

    def article_vectors(self, article_ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(article_ids), BATCH):
            part = list(article_ids[i : i + BATCH])
            rows = self.client.query(
                self.articles, filter=f"part == 0 and article_id in {json.dumps(part)}",
                output_fields=["article_id", "vector"])
            for r in rows:
                out[r["article_id"]] = np.asarray(r["vector"], dtype=np.float32)
        return {a: out[a] for a in article_ids if a in out}

    def candidates(
        self, query_vector: np.ndarray | None, query_tokens: list[str] | None, n: int,
        filters: Filters, nprobe: int,
    ) -> tuple[Ranked, Ranked]:
        expr = filter_expression(filters)
        dense: Ranked = []
        lexical: Ranked = []
        if query_vector is not None:
            found = self.client.search(
                self.passages, data=[np.asarray(query_vector, dtype=np.float32).tolist()],
                anns_field="vector", limit=n, filter=expr,
                search_params={"metric_type": "IP", "params": {"ef": max(EF_SEARCH, n)}})
            dense = [(int(h.id), float(h.distance)) for h in found[0]]
        if query_tokens:
            text = lexical_text(query_tokens) if self.lexical == "tokens" else " ".join(query_tokens)
            if text:
                found = self.client.search(
                    self.passages, data=[text], anns_field="sparse", limit=n, filter=expr,
                    search_params={"metric_type": "BM25"})
                # Milvus Lite reports BM25 negated (smaller is nearer); the order is the same.
                lexical = [(int(h.id), abs(float(h.distance))) for h in found[0]]
        return dense, lexical

    def passages_by_rowid(self, rowids: Sequence[int]) -> dict[int, Hit]:
        out: dict[int, Hit] = {}
        for i in range(0, len(rowids), BATCH):
            part = [int(r) for r in rowids[i : i + BATCH]]
            rows = self.client.get(self.passages, ids=part, output_fields=[
                "passage_id", "article_id", "ordinal", "start", "end", "text", "title", "published",
                "source"])
            for r in rows:
                out[int(r["rowid"])] = Hit(
                    0, Passage(r["passage_id"], r["article_id"], int(r["ordinal"]), int(r["start"]),
                               int(r["end"]), r["text"]),
                    r["title"], r["published"] or None, r["source"], 0.0)
        return out

    def export(self) -> Iterator[Stored]:
        """Every article with its passages, tokens and vectors (as `Store.export`)."""
        for info in self.list_articles():
            article = self.article(info.id)
            if article is None:
                continue
            rows = self._query(self.passages, f"article_id == {_quote(info.id)}",
                               ["passage_id", "ordinal", "start", "end", "text", "text_hash", "vector",
                                "tokens"])
            rows.sort(key=lambda r: r["ordinal"])
            yield Stored(
                article,
                [Passage(r["passage_id"], info.id, int(r["ordinal"]), int(r["start"]), int(r["end"]),
                         r["text"]) for r in rows],
                [_tokens_back(r["tokens"]) if self.lexical == "tokens" else tokenize(r["tokens"])
                 for r in rows],
                [r["text_hash"] for r in rows],
                np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, self.dim),
            )

    # --------------------------------------------------------------------- writing
    @contextmanager
    def writer(self) -> Iterator[MilvusWriter]:
        """The writer of this archive. Writes by this process are serialized; Milvus
        itself takes writes from several processes (Milvus Lite: one process per file)."""
        if not self._write_lock.acquire(blocking=False):
            raise StoreError(f"another ingest is writing to {self.location}; wait for it to finish")
        writer = MilvusWriter(self)
        try:
            yield writer
        finally:
            try:
                if writer.changed:
                    self.client.flush(self.passages)
                    self.client.flush(self.articles)
                    self.manifest = {**self.manifest, "updated_at": timestamp(),
                                     "rag_version": __version__}
                    self._save_manifest()
                self.replies.forget(writer.deleted)
            finally:
                self._write_lock.release()


class MilvusWriter:
    """Changes to a Milvus archive (the `ArchiveWriter` of `base.py`)."""

    def __init__(self, store: MilvusStore) -> None:
        self.store = store
        self.client = store.client
        self.dim = store.dim
        self.changed = False
        self.deleted: list[str] = []

    def articles_from_source(self, source: str) -> dict[str, str]:
        rows = self.store._query(self.store.articles, f"part == 0 and source == {_quote(source)}",
                                 ["article_id", "key"])
        return {r["article_id"]: r["key"] for r in rows}

    def source_of(self, article_id: str) -> str | None:
        rows = self.client.query(self.store.articles, filter=f"part == 0 and article_id == {_quote(article_id)}",
                                 output_fields=["source"], limit=1)
        return rows[0]["source"] if rows else None

    def vectors_for(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(text_hashes))
        for i in range(0, len(unique), BATCH):
            part = unique[i : i + BATCH]
            rows = self.client.query(self.store.passages, filter=f"text_hash in {json.dumps(part)}",
                                     output_fields=["text_hash", "vector"], limit=16_384)
            for r in rows:
                found.setdefault(r["text_hash"], np.asarray(r["vector"], dtype=np.float32))
        return found

    def put(
        self, article: Article, passages: Sequence[Passage], tokens: Sequence[list[str]],
        text_hashes: Sequence[str], vectors: np.ndarray,
    ) -> None:
        # float16 precision, as the folder stores them: a copied archive and one ingested
        # afresh hold the same vectors, and both stores score a passage alike.
        vectors = np.asarray(vectors, dtype=np.float16).astype(np.float32).reshape(-1, self.dim)
        lexical = self.store.lexical
        meta = {"title": _fit(article.title), "published": article.published or "",
                "source": _fit(article.source), "source_name": _fit(article.source_name or "")}
        rows = [
            {"rowid": passage_key(p.id), "passage_id": p.id, "article_id": article.id,
             "ordinal": p.ordinal, "start": p.start, "end": p.end, "text": _fit(p.text),
             "text_hash": h, "vector": v.tolist(), **meta,
             "tokens": _fit(lexical_text(t) if lexical == "tokens" else indexed_text(article.title, p.text))}
            for p, t, h, v in zip(passages, tokens, text_hashes, vectors, strict=True)
        ]
        for i in range(0, len(rows), BATCH):
            self.client.upsert(self.store.passages, rows[i : i + BATCH])
        mean = vectors.mean(axis=0) if len(vectors) else np.zeros(self.dim, dtype=np.float32)
        norm = float(np.linalg.norm(mean))
        mean = mean / norm if norm else mean
        if not norm:
            mean[0] = 1.0  # an article with no passages still needs a valid vector
        seq = time.time_ns()  # orders articles as they were added (one writer at a time)
        text = article.text
        parts = [text[i : i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]
        captions = list(article.captions)
        while len(json.dumps(captions, ensure_ascii=False).encode("utf-8")) > VARCHAR_MAX:
            captions.pop()
        self.client.upsert(self.store.articles, [
            {"pk": f"{article.id}#{n}", "article_id": article.id, "part": n, "passages": len(passages),
             "length": len(text), "key": _fit(article.key), "title": meta["title"], "text": part,
             "source": meta["source"], "source_name": meta["source_name"],
             "reporters": _fit(json.dumps(list(article.reporters), ensure_ascii=False)),
             "captions": json.dumps(captions, ensure_ascii=False),
             "section": _fit(article.section or ""), "subtitle": _fit(article.subtitle or ""),
             "published": article.published or "", "added_at": timestamp(), "seq": seq,
             "vector": mean.tolist()}
            for n, part in enumerate(parts)
        ])
        self.changed = True

    def delete(self, article_id: str) -> bool:
        if self.source_of(article_id) is None:
            return False
        expr = f"article_id == {_quote(article_id)}"
        self.client.delete(self.store.articles, filter=expr)  # first: the article is gone
        self.client.delete(self.store.passages, filter=expr)
        self.deleted.append(article_id)
        self.changed = True
        return True

    def commit(self) -> None:
        """Milvus applies each write as it is made; nothing is pending here."""


class MilvusReplies:
    """Model replies kept in a Milvus collection (the interface of `replies.Replies`): a
    cache shared by every reader of the archive; if Milvus fails, the model is asked."""

    def __init__(self, client: Any, collection: str) -> None:
        self.client = client
        self.collection = collection

    def create(self, lite: bool) -> None:
        _create_keyed(self.client, self.collection, extra=("articles",), lite=lite)

    def get(self, key: str) -> str | None:
        try:
            rows = self.client.query(self.collection, filter=f"key == {_quote(key)}",
                                     output_fields=["value"], limit=1)
        except Exception as exc:
            log.debug("reply cache %s unreadable: %s", self.collection, exc)
            return None
        return rows[0]["value"] if rows else None

    def put(self, key: str, reply: str, article_ids: Sequence[str]) -> None:
        try:
            self.client.upsert(self.collection, [{
                "key": key, "value": _fit(reply), "articles": _fit(" ".join(article_ids)),
                "v": [1.0, 0.0]}])
        except Exception as exc:
            log.debug("reply cache %s not written: %s", self.collection, exc)

    def forget(self, article_ids: Sequence[str]) -> int:
        n = 0
        for a in article_ids:
            try:
                result = self.client.delete(self.collection, filter=f"articles like {_quote('%' + a + '%')}")
                n += int(result.get("delete_count", 0)) if isinstance(result, dict) else 0
            except Exception as exc:
                log.debug("reply cache %s not pruned: %s", self.collection, exc)
        return n

    def __len__(self) -> int:
        try:
            return int(self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])
        except Exception:
            return 0


def _create_collection(client: Any, name: str, schema: Any, index: Any, *, lite: bool) -> None:
    """Create and load a collection with its indexes. pymilvus polls every half second
    until an index is built; Milvus Lite builds an empty collection's index at once, so
    there it is not waited for (2.5 s of every new archive)."""
    if not lite:
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        return
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def _create_keyed(client: Any, name: str, extra: tuple[str, ...] = (), *, lite: bool) -> None:
    """A collection of string values by string key (Milvus asks for a vector field; it
    holds a constant)."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=128)
    schema.add_field("value", DataType.VARCHAR, max_length=VARCHAR_MAX)
    for name_ in extra:
        schema.add_field(name_, DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="IP")
    _create_collection(client, name, schema, index, lite=lite)


def _read_manifest(client: Any, collection: str) -> dict[str, Any] | None:
    try:
        if not client.has_collection(collection):
            return None
        client.load_collection(collection)
        rows = client.query(collection, filter='key == "manifest"', output_fields=["value"], limit=1)
    except Exception as exc:
        raise StoreError(f"cannot read the archive's manifest from Milvus ({_reason(exc)})") from None
    return json.loads(rows[0]["value"]) if rows else None


def _tokens_back(text: str) -> list[str]:
    """The tokens `lexical_text` wrote (its escapes undone)."""
    return [_ESCAPED.sub(lambda m: chr(int(m[1], 16)), t) for t in text.split(" ") if t]


def _locked(path: str) -> bool:
    """Whether another process holds Milvus Lite's lock on the data folder at `path`."""
    import fcntl

    try:
        fd = os.open(os.path.join(path, "LOCK"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.splitlines()[0][:300]
